"""Welch's interval of srewire.intervals against SciPy's Welch t-test and the t table."""

import math

import pytest

from srewire.intervals import equivalence, t_quantile, welch

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


# -- the equivalence test (two one-sided tests), against hand-computed t intervals ----------

T975_DF2 = 4.302653  # 97.5 % quantile of Student's t with 2 degrees of freedom (tables)


def _three_against_constant(values, constant=2.0):
    """Welch for three values against a group of three equal values: the constant group has
    no variance, so df = 2 and the half-width is t(2) * sd / sqrt(3) (by hand)."""
    return welch(*_mean_std(values), 3, constant, 0.0, 3)


@pytest.mark.parametrize("values, margin, verdict, smallest", [
    # sd 1, half-width 4.302653 / sqrt(3) = 2.48414, diff 0: [-2.484, +2.484]
    ([1.0, 2.0, 3.0], 3.0, "equivalent", 2.48414),
    ([1.0, 2.0, 3.0], 2.0, "not decided", 2.48414),
    # diff 10, same half-width: [7.516, 12.484] excludes zero, far beyond the margin
    ([11.0, 12.0, 13.0], 1.0, "differs", 12.48414),
    # sd 0.1, half-width 0.248414, diff 0.5: [0.2516, 0.7484] excludes zero but lies within
    # +-1: a difference smaller than the margin is still equivalence
    ([2.4, 2.5, 2.6], 1.0, "equivalent", 0.748414),
])
def test_equivalence_reads_the_interval_against_the_margin(values, margin, verdict, smallest):
    ci = _three_against_constant(values)
    assert ci.df == pytest.approx(2.0)
    eq = equivalence(ci, margin)
    assert eq.verdict == verdict
    assert eq.smallest_margin == pytest.approx(smallest, abs=1e-5)
    assert f"±{smallest:.2f}" in eq.text()


def test_equivalence_is_t_based_not_two_standard_errors():
    ci = _three_against_constant([1.0, 2.0, 3.0])  # SE = 1/sqrt(3) = 0.577
    se = 1 / math.sqrt(3)
    assert ci.half_width == pytest.approx(T975_DF2 * se, rel=1e-6)
    # a margin of 3 SE would pass a two-standard-error rule, not the t interval (4.30 SE)
    assert equivalence(ci, 3 * se).verdict == "not decided"
    assert equivalence(ci, 4.5 * se).verdict == "equivalent"


def test_a_zero_width_interval_gets_words_and_no_decision():
    exact = welch(1.0, 0.0, 2, 0.0, 0.0, 3)
    eq = equivalence(exact, 1.0)
    assert eq.verdict == "not decided" and eq.smallest_margin is None
    assert "CI" not in eq.text() and "no seed-to-seed variation" in eq.text()


@pytest.mark.parametrize("margin", [0, -1.0, float("nan"), float("inf")])
def test_the_margin_must_be_positive(margin):
    with pytest.raises(ValueError, match="margin must be a positive number"):
        equivalence(welch(1.0, 0.1, 2, 0.0, 0.1, 2), margin)
