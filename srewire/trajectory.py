"""Structure over training: the zero-fibre percentage against rewiring steps (Thesis §4.1).

The thesis reports the percentage of all-zero lowest-dimensional vectors (here: zero fibres
along the output axis, :mod:`srewire.metrics`) once, after 100 epochs. A reduced run stops
much earlier, so the question the book has to answer is whether that percentage is still
growing when a run ends, and how fast. Runs with ``track_structure`` record it at about eight
log-spaced steps per decade (:func:`srewire.runs.tracked_steps`) and after every epoch; one
rewiring step follows every optimiser step, so steps and rewiring steps are the same count.

* :func:`curve` reads one run's record, :func:`final_point` the end point of any run;
* :func:`late_trend` fits the growth per decade of steps over the last decade of a cell's
  runs: with two or more seeds from the spread of the per-seed slopes (Student's t), with one
  seed from the scatter of its points around the line (which understates the uncertainty: the
  points of one run are not independent), and says which;
* :func:`after_last_drop` measures how much a run's structure still moved once its learning
  rate had dropped to 1 % (the last quarter of its steps), which a fit over a whole decade of
  steps cannot show;
* :func:`extrapolate` carries that trend to the thesis's step count, labelled as an
  extrapolation, with the trend's interval;
* :func:`figure` draws one grid cell: quick and long curves per strategy, seed bands, and the
  thesis's value at its step count; :func:`growth_values` draws every cell with its sentences,
  by the names the structure chapter glues.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .intervals import t_quantile
from .report import ROW_KEYS, ROW_LABELS, STRATEGY_LABELS, THESIS
from .runs import STRATEGY_ORDER
from .train import schedule_boundaries

__all__ = ["THESIS_STEPS", "curve", "final_point", "after_last_drop", "Trend", "late_trend",
           "extrapolate",
           "figure", "trend_sentence", "cell_trends", "cell_sentences", "growth_values"]

#: Steps of a thesis run: 100 epochs of int(50,000 / 128) = 390 batches (the predecessor's
#: training loop stops each epoch after 390 batches and drops the last 80 images).
THESIS_STEPS = 100 * (50_000 // 128)
COLOURS = dict(zip(STRATEGY_ORDER, ("tab:blue", "tab:orange", "tab:green")))


def curve(result: dict) -> tuple[np.ndarray, np.ndarray]:
    """(steps, zero-fibre %) of one run: the log-spaced record and the epoch ends, merged
    and sorted; empty arrays for a run that did not track its structure."""
    curves = result.get("curves") or {}
    points: dict[int, float] = {}
    by_step = curves.get("zero_fibres_out_by_step") or {}
    points.update(zip(by_step.get("step", []), by_step.get("out", [])))
    per_epoch = curves.get("zero_fibres_out") or []
    if per_epoch:
        steps_per_epoch = result["provenance"]["steps"] // result["config"]["epochs"]
        points.update({steps_per_epoch * (e + 1): v for e, v in enumerate(per_epoch)})
    steps = np.array(sorted(points), dtype=float)
    return steps, np.array([points[int(s)] for s in steps], dtype=float)


def final_point(result: dict) -> tuple[int, float]:
    """(steps trained, zero-fibre % of the final network) of any run."""
    return result["provenance"]["steps"], result["zero_fibres"]["global"]["out"]


def after_last_drop(result: dict) -> tuple[int, float] | None:
    """(first step, change in points) of the zero-fibre % from the last record made before the
    learning rate dropped to 1 % of its start (after 0-based step int(0.75 T): the piecewise
    constant schedule of Thesis §4, boundaries from the predecessor) to the run's end; None
    when the run has no record on both sides of that drop."""
    steps, values = curve(result)
    drop = schedule_boundaries(int(result["provenance"]["steps"]))[1] + 1  # steps done by then
    before = np.nonzero(steps <= drop)[0]
    if not len(before) or steps[-1] <= drop:
        return None
    i = int(before[-1])
    return int(steps[i]), float(values[-1] - values[i])


@dataclass(frozen=True)
class Trend:
    """Growth of the zero-fibre percentage per decade of steps over ``[start, end]`` steps.

    ``basis`` says where the interval comes from: "seeds" (t over per-seed slopes) or "one run"
    (the fit's residuals; the points of one run are correlated, so it is too narrow)."""

    slope: float          # percentage points per tenfold increase of the steps
    half_width: float     # of the 95 % interval of the slope (nan: not estimable)
    start: int
    end: int
    end_value: float      # mean zero-fibre % at ``end`` over the seeds
    n_seeds: int
    basis: str
    settle_start: int | None = None     # first step of :func:`after_last_drop` (of the seeds)
    settle_change: float | None = None  # its change in points, mean over the seeds

    @property
    def low(self) -> float:
        return self.slope - self.half_width

    @property
    def high(self) -> float:
        return self.slope + self.half_width

    @property
    def rising(self) -> bool | None:
        """True: the interval lies above zero; False: below zero; None: not resolved."""
        if math.isnan(self.half_width):
            return None
        return True if self.low > 0 else False if self.high < 0 else None


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """Least-squares slope of y on x, its standard error and the residual degrees of
    freedom."""
    n = len(x)
    xc = x - x.mean()
    sxx = float((xc ** 2).sum())
    slope = float((xc * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * xc
    df = n - 2
    se = math.sqrt(float((resid ** 2).sum()) / df / sxx) if df > 0 else float("nan")
    return slope, se, df


def late_trend(results: Iterable[dict], decades: float = 1.0) -> Trend | None:
    """The growth per decade over the last ``decades`` decades of steps of one cell's runs
    (same profile, objective, sparsity and strategy; one run per seed). None when no run has
    at least three tracked points in that window."""
    slopes, ends, window, settles = [], [], None, []
    pooled: tuple[float, float, int] | None = None
    for r in results:
        steps, values = curve(r)
        if not len(steps):
            continue
        end = int(steps[-1])
        keep = steps >= end / 10 ** decades
        if keep.sum() < 3:
            continue
        fit = _fit(np.log10(steps[keep]), values[keep])
        slopes.append(fit[0])
        ends.append(float(values[-1]))
        window = (int(steps[keep][0]), end)
        pooled = fit
        settles.append(after_last_drop(r))
    if not slopes or window is None:
        return None
    if len(slopes) >= 2:
        se = statistics.stdev(slopes) / math.sqrt(len(slopes))
        half = t_quantile(len(slopes) - 1) * se
        basis = "seeds"
    else:
        assert pooled is not None
        _, se, df = pooled
        half = t_quantile(df) * se if df > 0 and not math.isnan(se) else float("nan")
        basis = "one run"
    settled = [s for s in settles if s is not None]
    settle = (min(s[0] for s in settled), statistics.fmean(s[1] for s in settled)) \
        if settled and len(settled) == len(settles) else (None, None)
    return Trend(statistics.fmean(slopes), half, window[0], window[1], statistics.fmean(ends),
                 len(slopes), basis, *settle)


def extrapolate(trend: Trend, to: int = THESIS_STEPS) -> tuple[float, float, float]:
    """The trend carried on, linearly in log10(steps), from its last step to ``to`` steps:
    (value, low, high) with the slope's 95 % interval, each held within [0, 100] since a
    percentage of fibres can be neither negative nor above all of them. An extrapolation, not
    a measurement: the thesis's run also has its learning-rate drops at other steps."""
    decades = math.log10(to / trend.end)
    value = _percent(trend.end_value + trend.slope * decades)
    if math.isnan(trend.half_width):
        return value, float("nan"), float("nan")
    return (value, _percent(trend.end_value + trend.low * decades),
            _percent(trend.end_value + trend.high * decades))


def _percent(value: float) -> float:
    """``value`` held within [0, 100] (a float 0.0, never -0.0, at the lower bound)."""
    return min(100.0, max(0.0, value)) + 0.0


def trend_sentence(trend: Trend | None, label: str) -> str:
    """One sentence on a cell's late trend and its extrapolation, in words for every case."""
    if trend is None:
        return f"{label}: no tracked run yet."
    seeds = f"{trend.n_seeds} seeds" if trend.basis == "seeds" else \
        "one run (interval from the scatter of its points, too narrow)"
    growth = (f"{trend.slope:+.3f} points per tenfold steps between steps {trend.start:,} and "
              f"{trend.end:,}")
    if math.isnan(trend.half_width):
        return f"{label}: {growth} ({seeds}; no interval)."
    state = {True: "still rising", False: "falling",
             None: "not distinguishable from flat"}[trend.rising]
    value, low, high = extrapolate(trend)
    settle = "" if trend.settle_change is None else (
        f"; after the last learning-rate drop it moved by {trend.settle_change:+.3f} points "
        f"(from step {trend.settle_start:,} to {trend.end:,})")
    return (f"{label}: {trend.end_value:.3f} % at step {trend.end:,}, {state}, {growth} (95 % "
            f"interval [{trend.low:+.3f}, {trend.high:+.3f}], {seeds}){settle}; extrapolated "
            f"to {THESIS_STEPS:,} steps: {value:.2f} % [{low:.2f}, {high:.2f}] (an "
            f"extrapolation, not a measurement).")


def cell_trends(results: Iterable[dict], objective: str, sparsity: float
                ) -> tuple[str | None, dict[str, Trend | None]]:
    """The late trend of every strategy of one grid cell, from the largest profile whose runs
    tracked their structure (paper, else long, else quick): (that profile, {strategy:
    trend}); (None, all None) when no run of the cell tracked it."""
    runs = [r for r in results if r["config"]["objective"] == objective
            and math.isclose(r["config"]["sparsity"], sparsity) and len(curve(r)[0]) >= 3]
    for profile in ("paper", "long", "quick"):
        mine = [r for r in runs if r["config"].get("profile") == profile]
        if mine:
            return profile, {rw: late_trend([r for r in mine if r["config"]["rewiring"] == rw])
                             for rw in STRATEGY_ORDER}
    return None, dict.fromkeys(STRATEGY_ORDER)


def cell_sentences(results: Iterable[dict], objective: str, sparsity: float) -> str:
    """One sentence per strategy (:func:`trend_sentence`) on the cell's late trend."""
    profile, trends = cell_trends(list(results), objective, sparsity)
    if profile is None:
        return (f"No {ROW_LABELS.get((objective, sparsity), objective)} run has tracked its "
                f"structure over training yet.")
    return " ".join(trend_sentence(t, f"{STRATEGY_LABELS[rw]} ({profile})")
                    for rw, t in trends.items())


def _band(runs: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps common to all runs, and the mean, minimum and maximum over the runs there."""
    series = [curve(r) for r in runs]
    series = [s for s in series if len(s[0])]
    common = sorted(set.intersection(*(set(s[0].tolist()) for s in series))) if series else []
    if not common:
        return (np.array([]),) * 4
    stacked = np.array([[dict(zip(s[0].tolist(), s[1]))[c] for c in common] for s in series])
    return np.array(common), stacked.mean(0), stacked.min(0), stacked.max(0)


def figure(results: Iterable[dict], objective: str, sparsity: float) -> plt.Figure:
    """Zero-fibre % against rewiring steps (log axis) for one grid cell: per strategy and
    profile the mean over seeds (line) and the seeds' range (band) where runs tracked their
    structure, the final networks (markers) where they did not, and the thesis's value at
    :data:`THESIS_STEPS` (star)."""
    runs = [r for r in results if r["config"]["objective"] == objective
            and math.isclose(r["config"]["sparsity"], sparsity)]
    fig, ax = plt.subplots(figsize=(7.0, 5.6))
    styles = {"quick": ":", "long": "-", "paper": "--"}
    thesis = THESIS["zero_fibres"].get((objective, sparsity))
    for rw in STRATEGY_ORDER:
        colour = COLOURS[rw]
        for profile in styles:
            cell = [r for r in runs if r["config"]["rewiring"] == rw
                    and r["config"].get("profile") == profile]
            if not cell:
                continue
            label = f"{STRATEGY_LABELS[rw]}, {profile} ({len(cell)} seed" + \
                ("s)" if len(cell) > 1 else ")")
            steps, mean, low, high = _band(cell)
            if len(steps):
                ax.plot(steps, mean, styles[profile], color=colour, lw=1.8, label=label)
                if len(cell) > 1:
                    ax.fill_between(steps, low, high, color=colour, alpha=0.2, lw=0)
            else:
                pts = [final_point(r) for r in cell]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", mfc="none",
                        color=colour, ms=7, label=label)
        if thesis is not None:
            ax.plot([THESIS_STEPS], [thesis[STRATEGY_ORDER.index(rw)]], "*", color=colour,
                    ms=13, mec="black", mew=0.6,
                    label=f"{STRATEGY_LABELS[rw]}, thesis (100 epochs)")
    ax.set_xscale("log")
    ax.set_xlabel("rewiring steps (one per optimiser step)", fontsize=11)
    ax.set_ylabel("zero fibres, % (output axis)", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.set_title(ROW_LABELS.get((objective, sparsity), f"{objective} {sparsity:g}"),
                 fontsize=12)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
    fig.tight_layout()
    return fig


def growth_values(results: list[dict]) -> dict[str, Any]:
    """The structure over training of every grid cell (Thesis §4.1), by the names the
    structure chapter glues: for each row of :data:`srewire.report.ROW_KEYS` its
    :func:`figure` (``fig_growth_{key}``) and its :func:`cell_sentences`
    (``growth_{key}``)."""
    out: dict[str, Any] = {}
    for key, (objective, sparsity) in ROW_KEYS.items():
        out[f"fig_growth_{key}"] = figure(results, objective, sparsity)
        out[f"growth_{key}"] = cell_sentences(results, objective, sparsity)
    return out
