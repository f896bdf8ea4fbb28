"""The statistics every study shares: bootstrap intervals, the Welch test, what a clear difference is.

Bootstrap intervals
-------------------
Percentile intervals, seeded with ``numpy.random.default_rng(seed)``.

- A mean over items (trials of an attribution study) and a difference of
  two independent means: :func:`bootstrap_mean_ci` and
  :func:`bootstrap_difference_ci`, which call ``scipy.stats.bootstrap``.
- A trial-list metric (EER, minDCF): :func:`trial_resamples`, which yields
  each resample as trial multiplicities, so that the metric sorts the scores
  once for all resamples (see its docstring for why ``scipy.stats.bootstrap``
  does not fit there).

A clear difference
------------------
One rule, used by the factor studies (chapters 02-06) and the analysis
chapters (07, 08), in :func:`compare`:

- with at least two values on each side (several seeds), the difference of
  the means is *clear* when its 95 % Welch interval, ``delta ± t(0.975, df) se``,
  excludes zero (Welch's two-sided p < 0.05): the criterion of the regime map
  (chapter 01b), whose heatmap shows these intervals. With two or three seeds
  per side, ``t`` is 3-4, so twice the standard error would call noise clear;
- otherwise (one seed), when the two confidence intervals do not overlap.

>>> d = compare([10.0, 11.0, 12.0], [20.0, 21.0, 22.0])
>>> d.delta, d.clear, round(d.se, 3), round(d.half_width, 2)
(-10.0, True, 0.816, 2.27)
>>> compare([10.0], [12.0], (8.0, 12.5), (11.0, 13.0)).clear
False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

__all__ = ["check_bootstrap", "percentile_interval", "trial_resamples", "bootstrap_mean_ci",
           "bootstrap_difference_ci", "Welch", "welch", "intervals_overlap", "Difference", "compare"]


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


def check_bootstrap(n_resamples: int, level: float) -> None:
    """Refuse fewer than one resample or a coverage outside ``(0, 1)``."""
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def percentile_interval(values, level: float) -> tuple[float, float]:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the finite ``values`` (nan if none).

    >>> percentile_interval([0.0, 1.0, 2.0, 3.0, 4.0, np.nan], 0.5)
    (1.0, 3.0)
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def trial_resamples(labels, n_resamples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Bootstrap resamples of a trial list, each as multiplicities ``(n_trials,)`` of the original trials.

    Each resample draws ``n_trials`` trials with replacement
    (``numpy.random.default_rng(seed)``, one ``integers(0, n, n)`` call per
    resample); a resample without a target or without a non-target trial is
    skipped (its EER is undefined), so fewer than ``n_resamples`` may come out.

    Why not ``scipy.stats.bootstrap``: it hands the statistic copies of the
    resampled data, so an EER or minDCF would sort every resample again and
    could not skip the one-class resamples.  As multiplicities over the
    original trials, the scores are sorted once and every resample is a
    weighted cumulative count (``sslsv.metrics``), O(n) per resample.

    >>> [c.tolist() for c in trial_resamples([1, 0], 6, seed=0)]  # 4 of the 6 lack a class
    [[1.0, 1.0], [1.0, 1.0]]
    """
    labels = np.asarray(labels)
    n = len(labels)
    rng = np.random.default_rng(seed)
    for _ in range(int(n_resamples)):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        n_target = counts @ labels
        if n_target == 0 or n_target == counts.sum():
            continue
        yield counts


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def _scipy_interval(samples: tuple[np.ndarray, ...], statistic, n_resamples: int, level: float,
                    seed: int) -> tuple[float, float]:
    """Percentile interval of ``scipy.stats.bootstrap`` (independent resampling of each sample)."""
    from scipy.stats import bootstrap

    check_bootstrap(n_resamples, level)
    res = bootstrap(samples, statistic, n_resamples=int(n_resamples), confidence_level=level, method="percentile",
                    vectorized=True, axis=-1, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _difference_of_means(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)


def bootstrap_mean_ci(values, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval of the mean: ``(mean, low, high)``.

    Non-finite values are left out; no values give nans, one value the
    interval ``(value, value)``.

    >>> m, lo, hi = bootstrap_mean_ci(np.arange(100.0))
    >>> m, lo < m < hi
    (49.5, True)
    """
    v = _finite(values)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    if len(v) == 1:  # nothing to resample (scipy refuses one observation)
        return float(v[0]), float(v[0]), float(v[0])
    lo, hi = _scipy_interval((v,), np.mean, n_resamples, level, seed)
    return float(v.mean()), lo, hi


def bootstrap_difference_ci(a, b, n_resamples: int = 1000, level: float = 0.95,
                            seed: int = 0) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` of two independent samples, with a percentile bootstrap interval.

    >>> d, lo, hi = bootstrap_difference_ci(np.arange(20.0) + 5, np.arange(20.0))
    >>> d, lo < d < hi
    (5.0, True)
    """
    a, b = _finite(a), _finite(b)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan"), float("nan")
    delta = float(a.mean() - b.mean())
    if len(a) == 1 and len(b) == 1:
        return delta, delta, delta
    # scipy refuses a one-value sample; repeated, it still resamples to its one value
    a, b = (np.repeat(x, 2) if len(x) == 1 else x for x in (a, b))
    lo, hi = _scipy_interval((a, b), _difference_of_means, n_resamples, level, seed)
    return delta, lo, hi


# ---------------------------------------------------------------------------
# Welch's test and the one definition of a clear difference
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)``."""

    delta: float  # mean(a) - mean(b)
    se: float  # standard error of delta: sqrt(var_a / n_a + var_b / n_b), ddof=1
    t: float
    df: float
    p: float  # two-sided


def welch(a, b) -> Welch:
    """``scipy.stats.ttest_ind(a, b, equal_var=False)`` with the standard error it divides by.

    Needs at least two values on each side.

    >>> w = welch([1.0, 2.0, 3.0], [4.0, 6.0, 8.0])
    >>> w.delta, round(w.se, 4), round(w.t, 4), round(w.df, 2)
    (-4.0, 1.291, -3.0984, 2.94)
    """
    from scipy.stats import sem, ttest_ind

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs two or more values per side, got {len(a)} and {len(b)}")
    delta = float(a.mean() - b.mean())
    se = float(np.hypot(sem(a), sem(b)))
    if se == 0.0:  # no spread on either side: no test (scipy would warn and return nan)
        return Welch(delta=delta, se=0.0, t=float("nan"), df=float("nan"), p=float("nan"))
    res = ttest_ind(a, b, equal_var=False)
    return Welch(delta=delta, se=se, t=float(res.statistic), df=float(res.df), p=float(res.pvalue))


def intervals_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether the closed intervals ``a = (low, high)`` and ``b`` share a point.

    >>> intervals_overlap((1, 2), (2, 3)), intervals_overlap((1, 2), (2.5, 3))
    (True, False)
    """
    return not (a[1] < b[0] or b[1] < a[0])


LEVEL = 0.95  # of the Welch interval that decides a clear difference


@dataclass(frozen=True)
class Difference:
    """``a`` against ``b``: the difference of means and whether it is clear (see the module docstring)."""

    delta: float  # mean(a) - mean(b)
    se: float  # Welch standard error of delta; nan when a side has one value
    p: float  # Welch two-sided p-value; nan when a side has one value
    clear: bool
    rule: str  # "welch" (the 95 % Welch interval excludes zero) or "intervals" (non-overlapping intervals)
    half_width: float = float("nan")  # of the 95 % Welch interval, t(0.975, df) * se; nan with one value a side
    # the interval shown beside delta: the 95 % Welch interval (scipy's ttest_ind), or with one value a side
    # the conservative span of the two confidence intervals, (low_a - high_b, high_a - low_b)
    low: float = float("nan")
    high: float = float("nan")


def compare(a, b, interval_a: Sequence[float] | None = None,
            interval_b: Sequence[float] | None = None) -> Difference:
    """Compare the values ``a`` (one per seed, say) with ``b``.

    With two or more values on each side: clear when the 95 % Welch interval
    ``delta ± t(0.975, df) se`` excludes zero (with zero spread, when ``delta != 0``).  Otherwise clear when
    ``interval_a = (low, high)`` and ``interval_b`` (the confidence
    intervals, needed then) do not overlap. ``low``/``high`` is the interval a table shows: the
    Welch interval as :func:`scipy.stats.ttest_ind` computes it, or the span of the two intervals.

    >>> d = compare([10.0, 11.0, 12.0], [20.0, 21.0, 23.0])
    >>> d.delta, d.clear, round(d.low, 3), round(d.high, 3)
    (-10.333333333333332, True, -13.454, -7.212)
    >>> d = compare([10.0], [12.0], (9.0, 11.0), (11.5, 13.0))
    >>> d.clear, d.low, d.high
    (True, -4.0, -0.5)
    """
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    delta = float(a.mean() - b.mean())
    if len(a) > 1 and len(b) > 1:
        from scipy.stats import t as student

        from scipy.stats import ttest_ind

        w = welch(a, b)
        if w.se > 0:
            half = float(student.ppf(0.5 + LEVEL / 2, w.df) * w.se)
            clear = abs(delta) > half
        else:
            half, clear = 0.0, delta != 0
        if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread: the interval is the point
            low = high = delta
        else:
            ci = ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=LEVEL)
            low, high = float(ci.low), float(ci.high)
        return Difference(delta=delta, se=w.se, p=w.p, clear=bool(clear), rule="welch", half_width=half,
                          low=low, high=high)
    if interval_a is None or interval_b is None:
        raise ValueError("with a single value on a side, compare() needs both confidence intervals")
    return Difference(delta=delta, se=float("nan"), p=float("nan"),
                      clear=not intervals_overlap(interval_a, interval_b), rule="intervals",
                      low=float(interval_a[0] - interval_b[1]), high=float(interval_a[1] - interval_b[0]))
