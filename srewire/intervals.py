"""Confidence intervals for a difference of two means over a handful of seeds (Welch's t),
and the equivalence test built on them (two one-sided tests).

The book compares strategies over 2-3 seeds per cell. A rule of "two standard errors" is a
normal approximation that needs many seeds: with two seeds per group the 97.5 % quantile of
the t distribution is about 4.3, not 2, so that rule calls noise a difference far more often
than 5 % of the time. :func:`welch` gives the interval that is valid for small samples of
normally distributed values with unequal variances (Welch 1947; Satterthwaite degrees of
freedom). ``scipy.stats`` supplies the quantile where it is installed (it comes with Foolbox);
otherwise a table of the two-sided 95 % quantiles is used, rounding the degrees of freedom
down, which can only widen the interval.

"No difference detected" is not "no difference": a claim that two strategies give the same
accuracy needs an equivalence test. :func:`equivalence` is the two one-sided tests (TOST;
Schuirmann 1987) read off the interval: equivalence within ``± margin`` is shown when the
whole ``level`` interval lies inside ``(-margin, margin)``. With the 95 % interval each
one-sided test runs at 2.5 %, a stricter reading than TOST's usual 90 % interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Interval", "welch", "t_quantile", "Equivalence", "equivalence"]

# 97.5 % quantiles of Student's t for 1..30 degrees of freedom (standard tables).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: float, level: float = 0.95, *, use_scipy: bool = True) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom.

    With ``use_scipy=False`` (or without SciPy) only ``level=0.95`` is available, from a table
    with ``df`` rounded down (above 30 degrees of freedom: 2.042, the value at 30)."""
    if not df > 0:
        raise ValueError(f"df must be positive; got {df!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    if use_scipy:
        try:
            from scipy.stats import t
        except ImportError:
            pass
        else:
            return float(t.ppf(0.5 + level / 2, df))
    if level != 0.95:
        raise ValueError(f"level must be 0.95 without SciPy; got {level!r}")
    return _T975[min(max(int(math.floor(df)), 1), len(_T975)) - 1]


@dataclass(frozen=True)
class Interval:
    """Difference ``a - b`` of two means with its confidence interval ``diff ± half_width``."""

    diff: float
    half_width: float
    df: float
    level: float

    @property
    def low(self) -> float:
        return self.diff - self.half_width

    @property
    def high(self) -> float:
        return self.diff + self.half_width

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def text(self, digits: int = 2) -> str:
        """'+d, 95 % CI [low, high]' with ``digits`` decimals."""
        f = f"+.{digits}f"
        return (f"{self.diff:{f}}, {100 * self.level:g} % CI [{self.low:{f}}, "
                f"{self.high:{f}}]")

    def __str__(self) -> str:
        return self.text()


def welch(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int,
          level: float = 0.95) -> Interval | None:
    """Welch's ``level`` confidence interval for ``mean_a - mean_b`` from two groups' means,
    sample standard deviations and sizes; None when a group has fewer than two values (its
    noise cannot be estimated)."""
    if n_a < 2 or n_b < 2 or math.isnan(std_a) or math.isnan(std_b):
        return None
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    se = math.sqrt(va + vb)
    denominator = va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1)
    df = (va + vb) ** 2 / denominator if denominator > 0 else float(n_a + n_b - 2)
    return Interval(mean_a - mean_b, t_quantile(df, level) * se, df, level)


@dataclass(frozen=True)
class Equivalence:
    """The reading of one interval against an equivalence margin.

    ``verdict``: "equivalent" (the interval lies within ± margin), "differs" (it excludes zero
    and reaches beyond the margin), or "not decided" (neither). ``smallest_margin``: the
    smallest margin the data could have confirmed, max(abs(low), abs(high)); None for a degenerate
    interval."""

    interval: Interval
    margin: float
    verdict: str
    smallest_margin: float | None

    def text(self, digits: int = 2) -> str:
        """The interval and its reading in words (a zero-width interval gets words only)."""
        ci = self.interval
        if ci.half_width == 0:
            return (f"{ci.diff:+.{digits}f} in every seed, no seed-to-seed variation: no "
                    f"interval can be computed, so nothing is decided")
        reading = {"equivalent": f"equivalent within ±{self.margin:g}",
                   "differs": "differs",
                   "not decided": f"not decided at the ±{self.margin:g} margin"}[self.verdict]
        return (f"{ci.text(digits)}: {reading} (the smallest margin these seeds could confirm "
                f"is ±{self.smallest_margin:.{digits}f})")


def equivalence(interval: Interval, margin: float) -> Equivalence:
    """Two one-sided tests of ``|difference| < margin`` read off ``interval``.

    Equivalent when low > -margin and high < margin; else "differs" when the interval excludes
    zero; else "not decided". A zero-width interval (every seed gave the same value in both
    groups) is "not decided": it carries no estimate of the noise."""
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number; got {margin!r}")
    if interval.half_width == 0 or not math.isfinite(interval.half_width):
        return Equivalence(interval, margin, "not decided", None)
    smallest = max(abs(interval.low), abs(interval.high))
    if -margin < interval.low and interval.high < margin:
        verdict = "equivalent"
    elif interval.excludes_zero:
        verdict = "differs"
    else:
        verdict = "not decided"
    return Equivalence(interval, margin, verdict, smallest)
