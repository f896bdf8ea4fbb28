"""Shared statistics: bootstrap intervals, Welch's test, the one rule for a clear difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sslsv.statistics import (bootstrap_difference_ci, bootstrap_mean_ci, compare, intervals_overlap,
                              percentile_interval, trial_resamples, welch)


def test_mean_interval_is_the_resampling_of_the_hand_written_loop():
    """scipy's resampling and quantiles are those of the loop it replaced: same seed, same numbers."""
    v = np.random.default_rng(3).random(17)
    rng = np.random.default_rng(0)
    means = v[rng.integers(0, len(v), size=(500, len(v)))].mean(axis=1)
    expected = np.quantile(means, [0.025, 0.975])
    m, lo, hi = bootstrap_mean_ci(v, n_resamples=500, seed=0)
    assert m == pytest.approx(v.mean()) and (lo, hi) == pytest.approx(tuple(expected), abs=1e-12)


def test_difference_interval_resamples_each_sample_in_turn():
    r = np.random.default_rng(4)
    a, b = r.random(9) + 0.3, r.random(12)
    rng = np.random.default_rng(7)
    da = a[rng.integers(0, len(a), size=(300, len(a)))].mean(axis=1)
    db = b[rng.integers(0, len(b), size=(300, len(b)))].mean(axis=1)
    d, lo, hi = bootstrap_difference_ci(a, b, n_resamples=300, seed=7)
    assert d == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx(tuple(np.quantile(da - db, [0.025, 0.975])), abs=1e-12)


def test_bootstrap_edge_cases():
    assert all(np.isnan(bootstrap_mean_ci([np.nan, np.inf])))
    assert bootstrap_mean_ci([2.0, np.nan]) == (2.0, 2.0, 2.0)
    assert bootstrap_difference_ci([3.0], [1.0]) == (2.0, 2.0, 2.0)
    assert all(np.isnan(bootstrap_difference_ci([], [1.0, 2.0])))
    d, lo, hi = bootstrap_difference_ci([3.0], [1.0, 2.0, 0.0], n_resamples=200)
    assert d == 2.0 and 1.0 <= lo <= hi <= 3.0
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean_ci([1.0, 2.0], level=1.5)
    assert percentile_interval([np.nan], 0.9) != percentile_interval([np.nan], 0.9)  # (nan, nan)


def test_trial_resamples_skip_resamples_without_both_classes():
    labels = np.array([1, 0, 0, 0, 0])
    resamples = list(trial_resamples(labels, 200, seed=1))
    assert 0 < len(resamples) < 200
    for counts in resamples:
        assert counts.sum() == len(labels) and 0 < counts @ labels < len(labels)


def test_welch_is_scipys_unequal_variance_test():
    a, b = [10.0, 11.0, 12.5], [13.0, 15.0, 14.0, 16.5]
    w = welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert w.p == pytest.approx(ref.pvalue) and w.t == pytest.approx(ref.statistic)
    assert w.se == pytest.approx(np.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 4))
    assert w.delta / w.se == pytest.approx(w.t)
    with pytest.raises(ValueError, match="two or more"):
        welch([1.0], [2.0, 3.0])


def test_clear_difference_rule():
    # several values per side: the 95 % Welch interval excludes zero (se = sqrt(2 / 3) = 0.816, df = 4,
    # t(0.975, 4) = 2.776, so the half-width is 2.27): 2 se (1.63) would call -1.7 clear, the interval does not
    assert not compare([10.0, 11.0, 12.0], [11.7, 12.7, 13.7]).clear
    assert compare([10.0, 11.0, 12.0], [12.3, 13.3, 14.3]).clear
    for a, b in (([10.0, 11.0, 12.0], [11.7, 12.7, 13.7]), ([10.0, 11.5], [13.0, 14.0, 16.5]), ([3.0, 3.2], [2.0, 5.0])):
        d = compare(a, b)
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)  # scipy's own Welch interval
        assert d.half_width == pytest.approx((ci.high - ci.low) / 2)
        assert d.clear == (ci.low > 0 or ci.high < 0) == (d.p < 0.05)
    assert compare([1.0, 1.0], [2.0, 2.0]).clear and not compare([1.0, 1.0], [1.0, 1.0]).clear  # no spread
    d = compare([10.0, 11.0, 12.0], [20.0, 21.0, 22.0])
    assert d.rule == "welch" and d.delta == -10.0 and d.p < 0.01
    # one value on a side: the intervals decide, and the spread of the other side is not used
    assert compare([10.0], [15.0], (8.0, 12.0), (13.0, 17.0)).clear
    one = compare([10.0], [15.0, 16.0], (8.0, 13.5), (13.0, 17.0))
    assert not one.clear and one.rule == "intervals" and np.isnan(one.se)
    with pytest.raises(ValueError, match="intervals"):
        compare([10.0], [12.0])
    assert intervals_overlap((1.0, 2.0), (2.0, 3.0)) and not intervals_overlap((1.0, 2.0), (2.1, 3.0))


def test_compare_shows_the_interval_of_scipys_welch_test_or_the_span_of_the_runs_intervals():
    """The one interval function: delta and (low, high) are scipy's Welch interval to the last bit (the numbers
    the regime map printed before compare() carried them), the point with no spread, the span with one seed."""
    import numpy as np
    from scipy.stats import ttest_ind

    from sslsv.statistics import compare

    rng = np.random.default_rng(1)
    for _ in range(200):
        a, b = rng.normal(30, 3, rng.integers(2, 5)).round(2), rng.normal(31, 3, rng.integers(2, 5)).round(2)
        ci = ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=0.95)
        d = compare(a, b)
        assert (d.delta, d.low, d.high) == (float(a.mean() - b.mean()), float(ci.low), float(ci.high))
        assert d.clear == (not d.low <= 0 <= d.high) or abs(d.low) < 1e-9 or abs(d.high) < 1e-9
    d = compare([2.0, 2.0], [1.0, 1.0, 1.0])
    assert (d.delta, d.low, d.high, d.clear) == (1.0, 1.0, 1.0, True)
    d = compare([30.0], [25.0], (28.0, 32.0), (24.0, 27.5))
    assert (d.low, d.high, d.clear) == (0.5, 8.0, True)
