"""Structure over training: the log-spaced record of a run, the late trend and its
extrapolation (srewire.trajectory), against simple oracles."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from srewire import trajectory
from srewire.config import make_config
from srewire.runs import run, tracked_steps


def fake(profile: str, rewiring: str, seed: int, steps: list[int], values: list[float],
         epochs: int = 2, total: int | None = None, objective: str = "natural",
         sparsity: float = 0.99) -> dict:
    """A result as runs.run writes it, with a structure record of ``steps``/``values``."""
    total = total or steps[-1]
    return {"config": {"profile": profile, "objective": objective, "sparsity": sparsity,
                       "rewiring": rewiring, "seed": seed, "epochs": epochs},
            "provenance": {"steps": total},
            "zero_fibres": {"global": {"out": values[-1]}},
            "curves": {"zero_fibres_out_by_step": {"step": steps, "out": values}}}


def test_tracked_steps_are_log_spaced_and_end_at_the_last_step():
    steps = tracked_steps(6_630)
    assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == 6_630
    per_decade = [sum(10 ** d <= s < 10 ** (d + 1) for s in steps) for d in range(3)]
    assert per_decade[1:] == [8, 8]  # eight per decade once the rounding allows it
    assert tracked_steps(1) == [1]


def test_curve_merges_the_log_record_and_the_epoch_ends():
    r = fake("long", "random", 0, [1, 10, 100], [1.0, 2.0, 3.0], epochs=2, total=100)
    r["curves"]["zero_fibres_out"] = [2.5, 3.0]  # after epochs 1 and 2: steps 50 and 100
    steps, values = trajectory.curve(r)
    assert steps.tolist() == [1, 10, 50, 100] and values.tolist() == [1.0, 2.0, 2.5, 3.0]
    assert [len(a) for a in trajectory.curve({"curves": {}})] == [0, 0]


def _line(slope: float, end: int = 10_000, start_value: float = 1.0):
    steps = tracked_steps(end)
    return steps, [start_value + slope * math.log10(s) for s in steps]


def test_late_trend_over_seeds_uses_the_spread_of_the_slopes():
    runs = [fake("long", "structured", seed, *_line(slope))
            for seed, slope in enumerate((0.9, 1.0, 1.1))]
    trend = trajectory.late_trend(runs)
    assert trend.basis == "seeds" and trend.n_seeds == 3
    assert trend.slope == pytest.approx(1.0)
    # oracle: t(2) quantile 4.303 times the standard error of (0.9, 1.0, 1.1), i.e. 0.1/sqrt(3)
    assert trend.half_width == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-3)
    assert (trend.start, trend.end) == (1_000, 10_000) and trend.rising is True
    assert trend.end_value == pytest.approx(1.0 + 4.0)


def test_one_run_gets_the_scatter_interval_and_flat_is_not_rising():
    steps, values = _line(0.0)
    noise = np.resize([0.05, -0.05], len(values))
    trend = trajectory.late_trend([fake("long", "random", 0, steps, list(values + noise))])
    assert trend.basis == "one run" and trend.n_seeds == 1
    assert abs(trend.slope) < 0.05 and trend.rising is None
    falling = trajectory.late_trend([fake("long", "random", 0, *_line(-0.5))
                                     for _ in range(2)] + [fake("long", "random", 2,
                                                                *_line(-0.6))])
    assert falling.rising is False
    assert trajectory.late_trend([fake("quick", "random", 0, [320], [0.1])]) is None


def test_extrapolation_is_linear_in_log_steps_with_the_slope_interval():
    runs = [fake("long", "weight_based", s, *_line(k)) for s, k in enumerate((1.5, 2.0, 2.5))]
    trend = trajectory.late_trend(runs)
    value, low, high = trajectory.extrapolate(trend, to=100_000)
    assert value == pytest.approx(trend.end_value + 2.0)  # one decade beyond 10,000
    assert low == pytest.approx(trend.end_value + trend.low)
    assert high == pytest.approx(trend.end_value + trend.high)
    text = trajectory.trend_sentence(trend, "99 % natural, weight-based")
    assert "still rising" in text and "extrapolation" in text and "39,000" in text
    assert "no tracked run" in trajectory.trend_sentence(None, "x")


def test_extrapolation_stays_a_percentage():
    """A flat curve at 0 % with scatter, and a steeply falling one, extrapolate to no
    negative percentage (the text once read "-0.00 % [-0.00, -0.00]"); a steep rise stops
    at 100 %."""
    flat = trajectory.late_trend([fake("long", "structured", s, *_line(0.0, start_value=0.0))
                                  for s in range(3)])
    flat = dataclasses.replace(flat, slope=-1e-4, half_width=1e-4)
    assert trajectory.extrapolate(flat) == (0.0, 0.0, 0.0)
    assert all(math.copysign(1.0, v) == 1.0 for v in trajectory.extrapolate(flat))
    assert "0.00 % [0.00, 0.00]" in trajectory.trend_sentence(flat, "95 %")
    falling = dataclasses.replace(flat, end_value=1.0, slope=-50.0, half_width=1.0)
    assert trajectory.extrapolate(falling, to=100 * falling.end) == (0.0, 0.0, 0.0)
    rising = dataclasses.replace(flat, end_value=1.0, slope=500.0, half_width=1.0)
    assert trajectory.extrapolate(rising, to=100 * rising.end) == (100.0, 100.0, 100.0)


def test_figure_draws_every_profile_and_the_thesis_value():
    runs = [fake("long", rw, s, *_line(0.5)) for rw in ("random", "structured") for s in (0, 1)]
    runs.append({**fake("quick", "random", 0, [320], [0.4]), "curves": {}})
    fig = trajectory.figure(runs, "natural", 0.99)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "Unstructured, long (2 seeds)" in labels and "Unstructured, quick (1 seed)" in labels
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == 3 and all(line.get_xdata()[0] == trajectory.THESIS_STEPS
                                   for line in stars)
    assert ax.get_xscale() == "log" and len(ax.collections) == 2  # one seed band per strategy


def test_a_tracked_run_records_the_final_network_at_its_last_step(tmp_path, synthetic_root):
    cfg = make_config("smoke", "natural", 0.9, "structured", 0, epochs=2, n_train=256,
                      track_structure=True)
    result = run(cfg, tmp_path / "r", data_root=synthetic_root, quiet=True)
    record = result["curves"]["zero_fibres_out_by_step"]
    assert record["step"] == tracked_steps(result["provenance"]["steps"])
    # the last record is the final network, measured by the same function as the result
    assert record["out"][-1] == result["zero_fibres"]["global"]["out"]
    assert len(result["curves"]["zero_fibres_out"]) == 2
    stored = json.loads((tmp_path / "r" / "result.json").read_text())
    assert stored["curves"]["zero_fibres_out_by_step"] == record


def test_cell_sentences_use_the_largest_tracked_profile_and_say_when_none():
    runs = [fake("long", rw, s, *_line(0.5)) for rw in ("random", "structured") for s in (0, 1)]
    runs.append(fake("quick", "weight_based", 0, *_line(3.0, end=320)))
    profile, trends = trajectory.cell_trends(runs, "natural", 0.99)
    assert profile == "long" and trends["weight_based"] is None
    assert trends["random"].slope == pytest.approx(0.5)
    text = trajectory.cell_sentences(runs, "natural", 0.99)
    assert text.count("(long)") == 3 and "no tracked run yet" in text
    assert "No 95% TRADES run" in trajectory.cell_sentences(runs, "trades", 0.95)


def test_after_last_drop_measures_from_the_last_record_before_the_lr_falls_to_one_percent():
    # 100 steps: the learning rate is at 1 % after 0-based step int(0.75 * 100) = 75, i.e.
    # from the 77th step on; a record at 76 steps done is the last one made before that.
    steps, values = [1, 10, 50, 70, 76, 80, 100], [1.0, 2.0, 3.0, 3.5, 3.75, 3.9, 4.25]
    assert trajectory.after_last_drop(fake("long", "random", 0, steps, values)) == \
        (76, pytest.approx(0.5))
    assert trajectory.after_last_drop(fake("long", "random", 0, steps[:5], values[:5],
                                           total=100)) is None  # nothing recorded after it
    runs = [fake("long", "random", s, steps, [v + k * (i >= 5) for i, v in enumerate(values)])
            for s, k in enumerate((0.0, 1.0))]  # the second run moves 1 point more
    trend = trajectory.late_trend(runs)
    assert (trend.settle_start, trend.settle_change) == (76, pytest.approx(1.0))
    assert "moved by +1.000 points (from step 76 to 100)" in \
        trajectory.trend_sentence(trend, "x")
