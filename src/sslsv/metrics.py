"""Speaker-verification metrics: EER, minDCF, DET points, bootstrap intervals.

Every metric is computed from the *operating points* of a trial list: one
sort of the scores, O(n log n), then cumulative counts.  A trial is
*accepted* at threshold ``t`` when ``score >= t``.  With ``n_target`` target
(label 1) and ``n_nontarget`` non-target (label 0) trials,

- the miss rate (false negative rate) is ``fnr(t) = #{target, score < t} / n_target``,
- the false-alarm rate (false positive rate) is ``fpr(t) = #{non-target, score >= t} / n_nontarget``.

Equal scores form one operating point (a threshold cannot separate them).
The curve runs from "accept everything" (``fpr = 1, fnr = 0``, threshold =
the lowest score) to "reject everything" (``fpr = 0, fnr = 1``, threshold =
``+inf``).

Conventions (the ones scikit-learn's ROC gives, checked in the tests):

- **EER**: the point where the straight segment between the two consecutive
  operating points at which ``fnr - fpr`` changes sign crosses the line
  ``fnr = fpr`` (linear interpolation on the ROC; the ROC convex-hull
  convention of Bosch/BOSARIS gives the same value whenever that segment is on
  the hull).  If an operating point has ``fnr == fpr`` exactly, that is the
  EER.  Returned as a fraction in ``[0, 1]``.
- **minDCF**: ``min_t c_miss * p_target * fnr(t) + c_fa * (1 - p_target) * fpr(t)``
  over all operating points including both end points, divided by
  ``min(c_miss * p_target, c_fa * (1 - p_target))`` (the cost of the best
  trivial system, NIST SRE style), so it lies in ``[0, 1]``.

>>> scores = [0.9, 0.8, 0.35, 0.6, 0.4, 0.1]
>>> labels = [1, 1, 1, 0, 0, 0]
>>> round(eer(scores, labels), 4)
0.3333
>>> round(min_dcf(scores, labels, p_target=0.5), 4)  # threshold 0.8: one miss of three
0.3333
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable, Sequence

import numpy as np

from .statistics import check_bootstrap, percentile_interval, trial_resamples

__all__ = [
    "error_rates",
    "eer",
    "min_dcf",
    "det_curve",
    "bootstrap_ci",
    "verification_metrics",
]


# ---------------------------------------------------------------------------
# Input validation and the sorted operating points
# ---------------------------------------------------------------------------


def _check_trials(scores, labels, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated ``(scores float64 (n,), labels int8 (n,), weights float64 (n,) | None)``."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 1 or labels.ndim != 1:
        raise ValueError(
            f"scores and labels must be 1-D arrays of shape (n_trials,), got shapes {scores.shape} and {labels.shape}"
        )
    if len(scores) != len(labels):
        raise ValueError(f"scores and labels differ in length: {len(scores)} scores, {len(labels)} labels")
    if len(scores) == 0:
        raise ValueError("no trials: scores and labels are empty")
    if not (np.issubdtype(scores.dtype, np.number) or scores.dtype == bool):
        raise ValueError(f"scores must be numbers, got dtype {scores.dtype}")
    scores = scores.astype(np.float64, copy=False)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(
            f"scores must be finite: {int(bad.sum())} of {len(scores)} are NaN or Inf "
            f"(first at index {int(np.argmax(bad))})"
        )
    try:
        valid = np.isin(labels, (0, 1))
    except TypeError:
        valid = np.zeros(len(labels), dtype=bool)
    if labels.dtype.kind not in "biuf" or not valid.all():
        found = np.unique(labels[~valid])[:5] if labels.dtype.kind in "biuf" else labels[:5]
        raise ValueError(f"labels must be 0 (non-target) or 1 (target); found other values such as {list(found)}")
    labels = labels.astype(np.int8)
    n_target = int(labels.sum())
    if n_target == 0 or n_target == len(labels):
        missing = "target (label 1)" if n_target == 0 else "non-target (label 0)"
        raise ValueError(f"both classes are needed: there is no {missing} trial among {len(labels)}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != scores.shape:
            raise ValueError(f"weights must have shape {scores.shape}, got {weights.shape}")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("weights must be finite and non-negative")
    return scores, labels, weights


class _SortedTrials:
    """Trials sorted once by score, with the start of each group of equal scores.

    ``scores`` (n,), ``labels`` (n,), ``order`` (n,) the permutation applied,
    ``starts`` (g,) the index of the first trial of each of the ``g`` distinct
    scores, ``thresholds`` (g + 1,) the distinct scores and ``+inf``.
    """

    def __init__(self, scores: np.ndarray, labels: np.ndarray):
        # the order among equal scores is irrelevant (ties form one group), so the
        # fastest (unstable) sort will do
        self.order = np.argsort(scores)
        self.scores = scores[self.order]
        self.labels = labels[self.order]
        new = np.empty(len(self.scores), dtype=bool)
        new[0] = True
        np.not_equal(self.scores[1:], self.scores[:-1], out=new[1:])
        self.starts = np.flatnonzero(new)
        self.thresholds = np.append(self.scores[self.starts], np.inf)

    def rates(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(fpr, fnr)``, each (g + 1,), at :attr:`thresholds`; ``weights`` in sorted order."""
        if weights is None:
            target = self.labels.astype(np.float64)
            nontarget = 1.0 - target
        else:
            target = weights * self.labels
            nontarget = weights - target
        # counts strictly below each threshold: cumulative sums shifted by one
        cum_t = np.concatenate(([0.0], np.cumsum(target)))
        cum_n = np.concatenate(([0.0], np.cumsum(nontarget)))
        idx = np.append(self.starts, len(self.scores))
        n_t, n_n = cum_t[-1], cum_n[-1]
        if n_t <= 0 or n_n <= 0:
            raise ValueError("both classes need a positive total weight")
        fnr = cum_t[idx] / n_t
        fpr = (n_n - cum_n[idx]) / n_n
        return fpr, fnr


def _eer_from_rates(fpr: np.ndarray, fnr: np.ndarray) -> float:
    """EER by linear interpolation where ``fnr - fpr`` changes sign.

    ``fpr`` is non-increasing from 1, ``fnr`` non-decreasing from 0, so
    ``d = fnr - fpr`` is non-decreasing from -1 to 1.
    """
    d = fnr - fpr
    k = int(np.searchsorted(d, 0.0, side="left"))  # first index with d >= 0 (k >= 1)
    if d[k] == 0.0:
        return float(fpr[k])
    alpha = -d[k - 1] / (d[k] - d[k - 1])
    return float(fpr[k - 1] + alpha * (fpr[k] - fpr[k - 1]))


def _min_dcf_from_rates(fpr: np.ndarray, fnr: np.ndarray, p_target: float, c_miss: float, c_fa: float) -> float:
    cost = c_miss * p_target * fnr + c_fa * (1.0 - p_target) * fpr
    return float(cost.min() / min(c_miss * p_target, c_fa * (1.0 - p_target)))


def _check_p_target(p_target: float) -> None:
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")


# ---------------------------------------------------------------------------
# Public metrics
# ---------------------------------------------------------------------------


def error_rates(scores, labels, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-alarm and miss rates at every distinct threshold.

    Args:
        scores: (n_trials,) trial scores, higher = more likely the same speaker.
        labels: (n_trials,) 1 for a target trial, 0 for a non-target trial.
        weights: optional (n_trials,) non-negative trial weights (e.g. the
            multiplicities of a bootstrap resample); default 1 each.

    Returns:
        ``(fpr, fnr, thresholds)``, each of shape (n_distinct_scores + 1,),
        ordered by increasing threshold: ``thresholds`` are the distinct
        scores followed by ``+inf``; a trial is accepted when
        ``score >= threshold``.  ``fpr`` falls from 1 to 0, ``fnr`` rises
        from 0 to 1.

    >>> fpr, fnr, thr = error_rates([0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1])
    >>> thr.tolist()
    [0.1, 0.5, 0.9, inf]
    >>> fpr.tolist(), fnr.tolist()
    ([1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 1.0])
    """
    scores, labels, weights = _check_trials(scores, labels, weights)
    st = _SortedTrials(scores, labels)
    fpr, fnr = st.rates(None if weights is None else weights[st.order])
    return fpr, fnr, st.thresholds


def eer(scores, labels, weights=None) -> float:
    """Equal error rate, a fraction in ``[0, 1]`` (multiply by 100 for %).

    Linear interpolation between the two operating points where
    ``fnr - fpr`` changes sign (see the module docstring).

    Args:
        scores: (n_trials,) trial scores.
        labels: (n_trials,) 1 target / 0 non-target.
        weights: optional (n_trials,) trial weights.

    >>> eer([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])  # perfect separation
    0.0
    >>> eer([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])  # no information
    0.5
    """
    fpr, fnr, _ = error_rates(scores, labels, weights)
    return _eer_from_rates(fpr, fnr)


def min_dcf(scores, labels, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0,
            weights=None) -> float:
    """Minimum normalised detection cost over all thresholds (NIST SRE style).

    ``min_t [c_miss p_target fnr(t) + c_fa (1 - p_target) fpr(t)] /
    min(c_miss p_target, c_fa (1 - p_target))``, in ``[0, 1]``.

    Args:
        scores: (n_trials,) trial scores.
        labels: (n_trials,) 1 target / 0 non-target.
        p_target: prior probability of a target trial, in (0, 1).
        c_miss, c_fa: costs of a miss and of a false alarm.
        weights: optional (n_trials,) trial weights.

    >>> min_dcf([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], p_target=0.01)
    0.0
    >>> min_dcf([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], p_target=0.05)
    1.0
    """
    _check_p_target(p_target)
    fpr, fnr, _ = error_rates(scores, labels, weights)
    return _min_dcf_from_rates(fpr, fnr, p_target, c_miss, c_fa)


def det_curve(scores, labels, eps: float | None = None):
    """Points of the DET curve, with probit-transformed axes for plotting.

    Args:
        scores: (n_trials,) trial scores.
        labels: (n_trials,) 1 target / 0 non-target.
        eps: rates are clipped to ``[eps, 1 - eps]`` before the probit
            (``scipy.stats.norm.ppf``) so the end points stay finite; default
            ``0.5 / max(n_target, n_nontarget)``, half the smallest step.

    Returns:
        A ``pandas.DataFrame`` with one row per operating point
        (n_distinct_scores + 1 rows) and columns ``threshold``, ``fpr``,
        ``fnr``, ``fpr_probit``, ``fnr_probit``.  Plot ``fnr_probit`` against
        ``fpr_probit`` and label the ticks with ``norm.ppf`` of round rates.

    >>> det = det_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> det[["fpr", "fnr"]].values.tolist()
    [[1.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5], [0.0, 1.0]]
    >>> bool(np.isfinite(det["fpr_probit"]).all())
    True
    """
    import pandas as pd
    from scipy.stats import norm

    scores_, labels_, _ = _check_trials(scores, labels)
    fpr, fnr, thresholds = error_rates(scores_, labels_)
    if eps is None:
        n_target = int(labels_.sum())
        eps = 0.5 / max(n_target, len(labels_) - n_target)
    return pd.DataFrame({
        "threshold": thresholds,
        "fpr": fpr,
        "fnr": fnr,
        "fpr_probit": norm.ppf(np.clip(fpr, eps, 1 - eps)),
        "fnr_probit": norm.ppf(np.clip(fnr, eps, 1 - eps)),
    })


# ---------------------------------------------------------------------------
# Bootstrap confidence intervals over trials
# ---------------------------------------------------------------------------


def _accepts_weights(statistic: Callable) -> bool:
    func = statistic
    while isinstance(func, functools.partial):
        func = func.func
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return "weights" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def bootstrap_ci(scores, labels, statistic: Callable, n_resamples: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over trials.

    Each resample draws ``n_trials`` trials with replacement
    (``numpy.random.default_rng(seed)``); the interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled
    statistic.  A resample that lacks one class is skipped (its statistic is
    undefined); with realistic trial lists this never happens.

    If ``statistic`` accepts a ``weights`` keyword (:func:`eer`,
    :func:`min_dcf`, or a ``functools.partial`` of them), each resample is
    passed as trial multiplicities over the original trials, which avoids
    copying the trial list; otherwise as ``statistic(scores[idx],
    labels[idx])``.  Both give the same numbers for the same seed.

    Args:
        scores: (n_trials,) trial scores.
        labels: (n_trials,) 1 target / 0 non-target.
        statistic: ``statistic(scores, labels) -> float``.
        n_resamples: number of bootstrap resamples.
        level: coverage of the interval, e.g. 0.95.
        seed: seed of the resampling.

    Returns:
        ``(low, high)``.

    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([1, 0], 500)
    >>> scores = rng.normal(size=1000) + 2 * labels
    >>> low, high = bootstrap_ci(scores, labels, eer, n_resamples=200)
    >>> bool(low <= eer(scores, labels) <= high)
    True
    """
    scores, labels, _ = _check_trials(scores, labels)
    check_bootstrap(n_resamples, level)
    use_weights = _accepts_weights(statistic)
    # sort once: the statistic's own sort of already sorted scores is then cheap
    order = np.argsort(scores)
    sorted_scores, sorted_labels = scores[order], labels[order]
    values = []
    for counts in trial_resamples(labels, n_resamples, seed):
        counts = counts[order]
        if use_weights:
            values.append(statistic(sorted_scores, sorted_labels, weights=counts))
        else:
            idx = np.repeat(np.arange(len(scores)), counts.astype(np.int64))
            values.append(statistic(sorted_scores[idx], sorted_labels[idx]))
    return percentile_interval(np.array(values), level)


def verification_metrics(scores, labels, p_targets: Sequence[float] = (0.01, 0.05), bootstrap: int = 1000,
                         level: float = 0.95, seed: int = 0, c_miss: float = 1.0,
                         c_fa: float = 1.0) -> dict[str, float | int]:
    """EER and minDCF at each ``p_target``, with bootstrap confidence intervals.

    The scores are sorted once; every bootstrap resample reuses that order
    (resamples are trial multiplicities), so the whole thing is
    O(n log n + bootstrap * n).

    Args:
        scores: (n_trials,) trial scores.
        labels: (n_trials,) 1 target / 0 non-target.
        p_targets: target priors of the minDCF operating points.
        bootstrap: number of bootstrap resamples (0 = no intervals).
        level: coverage of the intervals.
        seed: seed of the resampling.

    Returns:
        A flat dict: ``eer_percent``, ``eer_ci_low``, ``eer_ci_high`` (in %),
        ``min_dcf_<p>``, ``min_dcf_<p>_ci_low``, ``min_dcf_<p>_ci_high`` for
        each ``p`` (e.g. ``min_dcf_0.01``), ``n_target``, ``n_nontarget``,
        ``bootstrap`` and ``ci_level``.

    >>> m = verification_metrics([0.9, 0.8, 0.35, 0.6, 0.4, 0.1], [1, 1, 1, 0, 0, 0], bootstrap=0)
    >>> round(m["eer_percent"], 2), round(m["min_dcf_0.01"], 4), m["n_target"]
    (33.33, 0.3333, 3)
    """
    scores, labels, _ = _check_trials(scores, labels)
    for p in p_targets:
        _check_p_target(p)
    st = _SortedTrials(scores, labels)
    fpr, fnr = st.rates()
    n_target = int(labels.sum())
    out: dict[str, float | int] = {"eer_percent": 100.0 * _eer_from_rates(fpr, fnr)}
    for p in p_targets:
        out[f"min_dcf_{p:g}"] = _min_dcf_from_rates(fpr, fnr, p, c_miss, c_fa)
    if bootstrap:
        check_bootstrap(bootstrap, level)
        samples: list[list[float]] = []
        for counts in trial_resamples(labels, bootstrap, seed):
            b_fpr, b_fnr = st.rates(counts[st.order])
            row = [100.0 * _eer_from_rates(b_fpr, b_fnr)]
            row += [_min_dcf_from_rates(b_fpr, b_fnr, p, c_miss, c_fa) for p in p_targets]
            samples.append(row)
        table = np.array(samples).reshape(-1, 1 + len(p_targets))
        names = ["eer"] + [f"min_dcf_{p:g}" for p in p_targets]
        for j, name in enumerate(names):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = percentile_interval(table[:, j], level)
    out["n_target"] = n_target
    out["n_nontarget"] = len(labels) - n_target
    out["bootstrap"] = int(bootstrap)
    out["ci_level"] = float(level)
    return out
