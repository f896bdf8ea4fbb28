"""Tests of sslsv.metrics against scikit-learn's ROC and SpeechBrain's EER/minDCF."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from sslsv import metrics
from sslsv.metrics import bootstrap_ci, det_curve, eer, error_rates, min_dcf, verification_metrics

SEEDS = [0, 1, 2, 3, 4]


def random_trials(seed: int, n_target: int = 300, n_nontarget: int = 700, decimals: int | None = None,
                  separation: float = 1.5, dtype=np.float64):
    """Gaussian target/non-target scores; ``decimals`` rounds them to create ties."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(separation, 1.0, n_target), rng.normal(0.0, 1.0, n_nontarget)])
    if decimals is not None:
        scores = np.round(scores, decimals)
    labels = np.concatenate([np.ones(n_target, int), np.zeros(n_nontarget, int)])
    perm = rng.permutation(len(scores))
    return scores[perm].astype(dtype), labels[perm]


TRIAL_SETS = [
    pytest.param(dict(seed=s, decimals=d, n_target=nt, n_nontarget=nn), id=f"seed{s}-dec{d}-{nt}x{nn}")
    for s in SEEDS
    for d, nt, nn in [(None, 300, 700), (1, 300, 700), (0, 50, 950), (2, 1000, 37)]
]


# ---------------------------------------------------------------------------
# Independent references built on scikit-learn's ROC
# ---------------------------------------------------------------------------


def sklearn_rates(scores, labels):
    """(fpr, fnr) from sklearn's roc_curve, by decreasing threshold, all points kept."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return fpr, 1.0 - tpr


def sklearn_eer(scores, labels) -> float:
    """Linear interpolation between the ROC points where fnr - fpr changes sign (plain loop)."""
    fpr, fnr = sklearn_rates(scores, labels)
    # sklearn runs from (fpr=0, fnr=1) to (fpr=1, fnr=0): fnr - fpr decreases from 1 to -1
    for i in range(len(fpr)):
        if fnr[i] - fpr[i] == 0:
            return float(fpr[i])
        if fnr[i] - fpr[i] < 0:
            x0, y0, x1, y1 = fpr[i - 1], fnr[i - 1], fpr[i], fnr[i]
            # intersect the segment (x0, y0) -> (x1, y1) with the diagonal y = x
            t = (y0 - x0) / ((y0 - x0) - (y1 - x1))
            return float(x0 + t * (x1 - x0))
    raise AssertionError("no crossing")


def sklearn_min_dcf(scores, labels, p_target, c_miss=1.0, c_fa=1.0) -> float:
    fpr, fnr = sklearn_rates(scores, labels)
    costs = [c_miss * p_target * m + c_fa * (1 - p_target) * f for f, m in zip(fpr, fnr)]
    return min(costs) / min(c_miss * p_target, c_fa * (1 - p_target))


# ---------------------------------------------------------------------------
# Agreement with scikit-learn
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kw", TRIAL_SETS)
def test_error_rates_match_sklearn_roc(kw):
    scores, labels = random_trials(**kw)
    fpr, fnr, thresholds = error_rates(scores, labels)
    ref_fpr, ref_fnr = sklearn_rates(scores, labels)
    # ours runs by increasing threshold, sklearn's by decreasing threshold
    np.testing.assert_allclose(fpr[::-1], ref_fpr, atol=1e-12)
    np.testing.assert_allclose(fnr[::-1], ref_fnr, atol=1e-12)
    assert len(thresholds) == len(np.unique(scores)) + 1
    assert thresholds[-1] == np.inf
    assert (fpr[0], fnr[0], fpr[-1], fnr[-1]) == (1.0, 0.0, 0.0, 1.0)
    assert np.all(np.diff(fpr) <= 0) and np.all(np.diff(fnr) >= 0)


@pytest.mark.parametrize("kw", TRIAL_SETS)
def test_eer_matches_sklearn(kw):
    scores, labels = random_trials(**kw)
    assert eer(scores, labels) == pytest.approx(sklearn_eer(scores, labels), abs=1e-6)


@pytest.mark.parametrize("kw", TRIAL_SETS)
@pytest.mark.parametrize("p_target", [0.01, 0.05, 0.5])
def test_min_dcf_matches_sklearn(kw, p_target):
    scores, labels = random_trials(**kw)
    assert min_dcf(scores, labels, p_target) == pytest.approx(sklearn_min_dcf(scores, labels, p_target), abs=1e-6)


def test_min_dcf_costs_match_sklearn():
    scores, labels = random_trials(7, decimals=1)
    ours = min_dcf(scores, labels, p_target=0.05, c_miss=10, c_fa=1)
    assert ours == pytest.approx(sklearn_min_dcf(scores, labels, 0.05, c_miss=10, c_fa=1), abs=1e-6)


# ---------------------------------------------------------------------------
# Known small cases
# ---------------------------------------------------------------------------


def test_perfect_separation_is_zero():
    scores = [3.0, 2.0, 2.5, -1.0, 0.0, 1.0]
    labels = [1, 1, 1, 0, 0, 0]
    assert eer(scores, labels) == 0.0
    assert min_dcf(scores, labels, 0.01) == 0.0


def test_reversed_scores_are_one():
    scores = [-3.0, -2.0, 1.0, 2.0]
    labels = [1, 1, 0, 0]
    assert eer(scores, labels) == 1.0
    assert min_dcf(scores, labels, 0.01) == 1.0  # the trivial "reject all" system


def test_identical_scores_give_half():
    scores = np.zeros(10)
    labels = np.array([1, 0] * 5)
    fpr, fnr, thr = error_rates(scores, labels)
    assert fpr.tolist() == [1.0, 0.0] and fnr.tolist() == [0.0, 1.0]
    assert eer(scores, labels) == 0.5
    assert min_dcf(scores, labels, 0.01) == 1.0


def test_hand_computed_eer():
    # thresholds 0.1 .. 0.9: at 0.4 fpr=2/3, fnr=0; at 0.6 (accept 0.6, 0.8, 0.9) fpr=1/3, fnr=1/3
    scores = [0.9, 0.8, 0.35, 0.6, 0.4, 0.1]
    labels = [1, 1, 1, 0, 0, 0]
    assert eer(scores, labels) == pytest.approx(1 / 3)
    # one miss of 2 targets, one false alarm of 2 non-targets, in between: crossing of a tie
    assert eer([1.0, 0.5, 0.5, 0.0], [1, 1, 0, 0]) == pytest.approx(0.25)


def test_labels_may_be_bool_and_lists():
    assert eer([0.2, 0.1], [True, False]) == 0.0


def test_score_permutation_invariance():
    scores, labels = random_trials(3, decimals=1)
    perm = np.random.default_rng(0).permutation(len(scores))
    assert eer(scores[perm], labels[perm]) == eer(scores, labels)
    assert min_dcf(scores[perm], labels[perm]) == min_dcf(scores, labels)


def test_weights_equal_repetition():
    scores, labels = random_trials(5, n_target=40, n_nontarget=60, decimals=1)
    counts = np.random.default_rng(1).integers(0, 4, size=len(scores))
    counts[np.flatnonzero(labels == 1)[0]] = 1  # both classes present
    counts[np.flatnonzero(labels == 0)[0]] = 1
    idx = np.repeat(np.arange(len(scores)), counts)
    assert eer(scores, labels, weights=counts) == pytest.approx(eer(scores[idx], labels[idx]), abs=1e-12)
    assert min_dcf(scores, labels, 0.05, weights=counts) == pytest.approx(
        min_dcf(scores[idx], labels[idx], 0.05), abs=1e-12)


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        ([0.1, 0.2], [1], "differ in length"),
        ([], [], "no trials"),
        ([0.1, np.nan, 0.3], [1, 0, 1], "finite"),
        ([0.1, np.inf], [1, 0], "finite"),
        ([0.1, 0.2], [1, 2], "labels must be 0"),
        ([0.1, 0.2], [1, -1], "labels must be 0"),
        ([0.1, 0.2], ["1", "0"], "labels must be 0"),
        ([0.1, 0.2], [1, 1], "no non-target"),
        ([0.1, 0.2], [0, 0], "no target"),
        ([[0.1, 0.2]], [[1, 0]], "1-D"),
    ],
)
def test_invalid_input_is_named(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        eer(scores, labels)
    with pytest.raises(ValueError, match=match):
        verification_metrics(scores, labels, bootstrap=0)


def test_invalid_p_target():
    with pytest.raises(ValueError, match="p_target"):
        min_dcf([0.1, 0.2], [0, 1], p_target=1.0)


# ---------------------------------------------------------------------------
# DET curve
# ---------------------------------------------------------------------------


def test_det_curve_points():
    from scipy.stats import norm

    scores, labels = random_trials(0, decimals=1)
    det = det_curve(scores, labels)
    fpr, fnr, thr = error_rates(scores, labels)
    assert list(det.columns) == ["threshold", "fpr", "fnr", "fpr_probit", "fnr_probit"]
    np.testing.assert_array_equal(det["fpr"], fpr)
    np.testing.assert_array_equal(det["fnr"], fnr)
    assert np.isfinite(det[["fpr_probit", "fnr_probit"]].values).all()
    inner = (fpr > 0.01) & (fpr < 0.99)
    np.testing.assert_allclose(det["fpr_probit"][inner], norm.ppf(fpr[inner]))
    assert np.all(np.diff(det["fnr_probit"]) >= 0)


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_bootstrap_ci_contains_point_estimate(seed):
    scores, labels = random_trials(seed)
    for stat in (eer, functools.partial(min_dcf, p_target=0.05)):
        low, high = bootstrap_ci(scores, labels, stat, n_resamples=200, seed=seed)
        assert low <= stat(scores, labels) <= high
        assert low < high


def test_bootstrap_ci_weights_and_index_paths_agree():
    scores, labels = random_trials(2, n_target=60, n_nontarget=140, decimals=1)
    fast = bootstrap_ci(scores, labels, eer, n_resamples=50, seed=3)
    slow = bootstrap_ci(scores, labels, lambda s, l: eer(s, l), n_resamples=50, seed=3)
    assert fast == pytest.approx(slow, abs=1e-12)


def test_bootstrap_ci_is_seeded_and_narrows_with_level():
    scores, labels = random_trials(1)
    a = bootstrap_ci(scores, labels, eer, n_resamples=100, seed=5)
    b = bootstrap_ci(scores, labels, eer, n_resamples=100, seed=5)
    narrow = bootstrap_ci(scores, labels, eer, n_resamples=100, seed=5, level=0.5)
    assert a == b
    assert a[0] <= narrow[0] <= narrow[1] <= a[1]


def test_verification_metrics_keys_and_values():
    scores, labels = random_trials(4, decimals=2)
    m = verification_metrics(scores, labels, p_targets=(0.01, 0.05), bootstrap=100, seed=2)
    expected = {
        "eer_percent", "eer_ci_low", "eer_ci_high",
        "min_dcf_0.01", "min_dcf_0.01_ci_low", "min_dcf_0.01_ci_high",
        "min_dcf_0.05", "min_dcf_0.05_ci_low", "min_dcf_0.05_ci_high",
        "n_target", "n_nontarget", "bootstrap", "ci_level",
    }
    assert set(m) == expected
    assert m["eer_percent"] == pytest.approx(100 * eer(scores, labels))
    assert m["min_dcf_0.01"] == pytest.approx(min_dcf(scores, labels, 0.01))
    assert m["min_dcf_0.05"] == pytest.approx(min_dcf(scores, labels, 0.05))
    assert (m["n_target"], m["n_nontarget"]) == (300, 700)
    for name in ("eer", "min_dcf_0.01", "min_dcf_0.05"):
        point = m["eer_percent"] if name == "eer" else m[name]
        assert m[f"{name}_ci_low"] <= point <= m[f"{name}_ci_high"]
    # the same draws as bootstrap_ci with the same seed
    low, high = bootstrap_ci(scores, labels, eer, n_resamples=100, seed=2)
    assert m["eer_ci_low"] == pytest.approx(100 * low) and m["eer_ci_high"] == pytest.approx(100 * high)
    low, high = bootstrap_ci(scores, labels, functools.partial(min_dcf, p_target=0.05), n_resamples=100, seed=2)
    assert m["min_dcf_0.05_ci_low"] == pytest.approx(low) and m["min_dcf_0.05_ci_high"] == pytest.approx(high)


def test_verification_metrics_without_bootstrap():
    scores, labels = random_trials(0)
    m = verification_metrics(scores, labels, bootstrap=0)
    assert "eer_ci_low" not in m and m["bootstrap"] == 0


def test_one_sort_scales():
    """1e6 trials in well under a few seconds (one sort, no threshold x trial matrix)."""
    import time

    scores, labels = random_trials(0, n_target=500_000, n_nontarget=500_000)
    t0 = time.perf_counter()
    eer(scores, labels)
    assert time.perf_counter() - t0 < 5.0


# ---------------------------------------------------------------------------
# SpeechBrain
# ---------------------------------------------------------------------------


def _speechbrain():
    torch = pytest.importorskip("torch")
    metric_stats = pytest.importorskip("speechbrain.utils.metric_stats")
    return torch, metric_stats


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_eer_agrees_with_speechbrain(seed):
    """SpeechBrain picks the single operating point where |fpr - fnr| is smallest
    and returns (fpr + fnr) / 2 there; ours interpolates between the two points
    around the crossing.  Without ties the two differ by at most half a step,
    0.5 / min(n_target, n_nontarget)."""
    torch, ms = _speechbrain()
    scores, labels = random_trials(seed, n_target=150, n_nontarget=250, dtype=np.float32)
    pos = torch.from_numpy(scores[labels == 1])
    neg = torch.from_numpy(scores[labels == 0])
    sb_eer, _ = ms.EER(pos, neg)
    tol = 0.5 / min(len(pos), len(neg)) + 1e-6
    assert abs(eer(scores, labels) - sb_eer) <= tol


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("p_target", [0.01, 0.05])
def test_min_dcf_agrees_with_speechbrain(seed, decimals, p_target):
    """SpeechBrain's minDCF is not normalised (and omits the "accept all" point,
    never the minimum for p_target < 0.5): ours * min(p, 1 - p) equals it."""
    torch, ms = _speechbrain()
    scores, labels = random_trials(seed, n_target=150, n_nontarget=250, decimals=decimals, dtype=np.float32)
    pos = torch.from_numpy(scores[labels == 1])
    neg = torch.from_numpy(scores[labels == 0])
    sb_dcf, _ = ms.minDCF(pos, neg, p_target=p_target)
    ours = min_dcf(scores, labels, p_target) * min(p_target, 1 - p_target)
    assert ours == pytest.approx(sb_dcf, abs=1e-6)


def test_module_exports():
    assert set(metrics.__all__) >= {"eer", "min_dcf", "error_rates", "det_curve", "bootstrap_ci",
                                    "verification_metrics"}
