"""Welch's interval of srewire.intervals against SciPy's Welch t-test and the t table."""

import math

import pytest

from srewire.intervals import t_quantile, welch

stats = pytest.importorskip("scipy.stats")  # installed with Foolbox; the table is tested below


def _mean_std(values):
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


@pytest.mark.parametrize("a, b", [([60.1, 59.7], [61.0, 60.2]),
                                  ([71.2, 70.4, 70.9], [69.8, 71.5]),
                                  ([1.0, 1.5, 0.7, 1.1], [2.0, 2.9, 2.2])])
def test_welch_matches_scipys_welch_t_test(a, b):
    ci = welch(*_mean_std(a), len(a), *_mean_std(b), len(b))
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert ci.low == pytest.approx(ref.low, rel=1e-9)
    assert ci.high == pytest.approx(ref.high, rel=1e-9)
    assert ci.excludes_zero == (ref.low > 0 or ref.high < 0)


def test_welch_needs_two_values_per_group_and_handles_zero_spread():
    assert welch(1.0, float("nan"), 1, 0.0, 0.1, 2) is None
    assert welch(1.0, 0.1, 2, 0.0, 0.1, 1) is None
    exact = welch(1.0, 0.0, 2, 0.0, 0.0, 3)  # no spread at all: the difference is exact
    assert exact.half_width == 0 and exact.df == 3 and exact.excludes_zero


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 30])
def test_the_fallback_table_is_the_t_quantile(df):
    assert t_quantile(df, use_scipy=False) == pytest.approx(stats.t.ppf(0.975, df), abs=6e-4)


@pytest.mark.parametrize("df", [1.3, 2.7, 4.5, 29.9, 45.0])
def test_the_fallback_table_never_narrows_the_interval(df):
    assert t_quantile(df, use_scipy=False) >= stats.t.ppf(0.975, df) - 6e-4
    assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df))


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="df must be positive"):
        t_quantile(0)
    with pytest.raises(ValueError, match="level must be in"):
        t_quantile(3, 1.5)
    with pytest.raises(ValueError, match="level must be 0.95 without SciPy"):
        t_quantile(3, 0.9, use_scipy=False)
