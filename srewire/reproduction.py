"""The tables, lines and numbers of the chapter "Reproduction: what ran, where, and for how
long", by the names its prose glues.

* :func:`profile_table` — what differs between the profiles (``paper`` is the thesis's setup,
  Thesis §4);
* :func:`grid_time_values` and :func:`provenance_text` — the wall time of a seed's grid and
  the code versions, devices and data the runs record;
* :func:`gpu_check_tables`, :func:`gpu_values`, :func:`gpu_speed_table` and
  :func:`gpu_speed_values` — the report of ``benchmarks/gpu_check.py``: whether the GPU
  computes what the CPU does, how often the host waits, and what a step costs.

Each ``*_values`` function returns ``{name: text}`` for :func:`srewire.report.glue_all`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from .config import PROFILES, make_config
from .report import by_profile, thesis_scale

__all__ = ["PROFILE_KEYS", "profile_table", "grid_time_values", "provenance_text",
           "gpu_check_tables", "gpu_values", "gpu_speed_table", "gpu_speed_values"]

#: The settings that differ between the profiles, as :class:`srewire.config.Config` names them.
PROFILE_KEYS = ("width", "n_train", "n_test", "epochs", "batch_size", "train_attack_steps",
                "pgd_steps", "pgd_restarts", "n_robust")


def profile_table() -> pd.DataFrame:
    """One row per profile (smoke, quick, long, paper; ``paper`` is the thesis's setup,
    Thesis §4): the :data:`PROFILE_KEYS` of its natural configuration ("all" where a size is
    all of the data) and, in the last column, its TRADES runs' training images and epochs."""
    rows = []
    for p in PROFILES:
        natural, trades = make_config(p, "natural"), make_config(p, "trades")
        row = {k: "all" if v is None else v for k, v in natural.to_dict().items()
               if k in PROFILE_KEYS}
        row["TRADES training images / epochs"] = f"{trades.n_train or 'all'} / {trades.epochs}"
        rows.append(row)
    return pd.DataFrame(rows, index=list(PROFILES))


def grid_time_values(per_seed: pd.DataFrame) -> dict[str, str]:
    """The shortest and the longest wall time of one seed's grid, in whole minutes
    (``grid_min_minutes``, ``grid_max_minutes``), and the seed of the shortest
    (``grid_fastest_seed``), from the per-seed table of :func:`srewire.report.timings`."""
    total = per_seed["total (min)"]
    return {"grid_min_minutes": f"{total.min():.0f}", "grid_max_minutes": f"{total.max():.0f}",
            "grid_fastest_seed": f"{total.idxmin()}"}


def provenance_text(results: list[dict]) -> str:
    """What the runs record of where they come from, in three lines: the code versions (git
    commits, 12 characters, "unknown" where a run recorded none), the devices and the data,
    each sorted and listed once."""
    prov = [r["provenance"] for r in results]
    commits = sorted({p["git_commit"] or "unknown" for p in prov})
    devices = sorted({p["device"] for p in prov})
    data = sorted({p["data"] for p in prov})
    return (f"code versions: {', '.join(c[:12] for c in commits)}\n"
            f"devices: {', '.join(devices)}\n"
            f"data: {', '.join(data)}")


#: The columns naming a run of the GPU check's CPU-against-GPU comparison.
SAME_RUN = ["objective", "rewiring", "tf32"]
#: Its columns saying whether the two devices' connectivities and losses agree.
SAME_AGREEMENT = ["masks_identical", "mask_agreement", "steps_with_same_revival_counts",
                  "max_train_loss_diff"]
#: Its columns giving each device's accuracies.
SAME_ACCURACY = ["clean_cpu", "clean_gpu", "robust_cpu", "robust_gpu"]


def gpu_check_tables(path: str | os.PathLike) -> dict[str, Any]:
    """The report of ``benchmarks/gpu_check.py`` as tables: the device and torch version
    (``device``, ``torch``), CPU against GPU results (``same``; its agreement columns as
    ``agreement`` with the caption ``agreement_caption``, its accuracies as ``accuracy``,
    each led by ``SAME_RUN``), the training loop's host
    synchronisations per step (``loop_syncs``, a dict) and those per part of the step
    (``syncs``), and the step times per sparsity and TF32 setting (``speed``), each with the
    time of the same setting's step without rewiring as a multiple (``x masked``)."""
    report = json.loads(Path(path).read_text())
    same = pd.DataFrame(report["same_results"])
    syncs = report["syncs_per_step"]
    loop = {k: v for row in syncs if "objective" not in row for k, v in row.items()}
    parts = pd.DataFrame([row for row in syncs if "objective" in row])
    speed = []
    for key, block in report.items():
        if key.startswith("speed_") and isinstance(block, dict):
            for row in block["rows"]:
                speed.append({**row, "tf32": key.endswith("_1"),
                              "fixed batch ms": block["fixed_batch_step_ms"]})
    speed_df = pd.DataFrame(speed)
    masked = speed_df[speed_df["rewiring"].str.startswith("none")].set_index(
        ["objective", "sparsity", "tf32"])["step_ms"]
    speed_df["x masked"] = [round(r.step_ms / masked[(r.objective, r.sparsity, r.tf32)], 2)
                            for r in speed_df.itertuples()]
    agreement_caption = ("CPU and GPU runs of the same smoke configuration: do they agree? "
                         f"({report['device']}, torch {report['torch']})")
    return {"device": report["device"], "torch": report["torch"], "same": same,
            "agreement": same[SAME_RUN + SAME_AGREEMENT], "agreement_caption": agreement_caption,
            "accuracy": same[SAME_RUN + SAME_ACCURACY],
            "loop_syncs": loop, "syncs": parts, "speed": speed_df}


def gpu_values(gpu: dict[str, Any], runs: list[dict]) -> dict[str, str]:
    """The "Same results" and "No waiting" paragraphs, from :func:`gpu_check_tables`: where
    the ``runs`` ran, by profile (``runs_devices``, a clause the deviations page quotes), the
    GPU (``gpu_device``), whether the natural random-rewiring runs with TF32 off ended with
    the same connectivity on both devices (``gpu_random_identical``), the least agreement of
    any pair of runs (``gpu_agreement_min``, %) and the training loop's host
    synchronisations per step without and with rewiring (``gpu_loop_syncs``,
    ``gpu_rewire_syncs``)."""
    ran_on = sorted({r["provenance"]["device"] for r in runs})
    same = gpu["same"]
    natural_random = same[(same.objective == "natural") & (same.rewiring == "random")
                          & ~same.tf32].iloc[0]
    loop = gpu["loop_syncs"]
    without = loop["training loop (train_epoch) without rewiring, syncs per step"]
    rewired = loop["training loop (train_epoch) with random rewiring, syncs per step"]
    return {
        "runs_devices": f"the {' and '.join(by_profile(runs))} runs in `results/` ran on "
                        f"{', '.join(ran_on)}; a GPU ({gpu['device']}) has so far run only "
                        "the short checks of `benchmarks/gpu_check.py` shown on the page "
                        "\"Reproduction: what ran, where, and for how long\"",
        "gpu_device": gpu["device"],
        "gpu_random_identical": ("identical" if bool(natural_random.masks_identical) else
                                 f"{100 * natural_random.mask_agreement:.2f} % identical"),
        "gpu_agreement_min": f"{100 * same.mask_agreement.min():.1f}",
        "gpu_loop_syncs": f"{without:g}", "gpu_rewire_syncs": f"{rewired:.0f}",
    }


def gpu_speed_table(speed: pd.DataFrame) -> pd.DataFrame:
    """The step times of :func:`gpu_check_tables` (``speed``) as a table: one row per
    objective, sparsity, rewiring and random-number source, the step in ms and its multiple
    of the step without rewiring (``x masked``) with TF32 off and on, two decimals."""
    table = speed.pivot_table(index=["objective", "sparsity", "rewiring", "rng"],
                              columns="tf32", values=["step_ms", "x masked"]).round(2)
    table.columns = pd.MultiIndex.from_tuples(
        [(value, "TF32 on" if tf32 else "TF32 off") for value, tf32 in table.columns])
    return table


def _span(values: pd.Series, digits: int) -> str:
    """``"min–max"`` of ``values`` with ``digits`` decimals."""
    return f"{values.min():.{digits}f}–{values.max():.{digits}f}"


def gpu_speed_values(speed: pd.DataFrame) -> dict[str, str]:
    """The "What a step costs" paragraph, from the step times of :func:`gpu_check_tables`
    (ranges over the sparsities and TF32 settings): a natural step with random rewiring and
    host random numbers as a multiple of the step without (``gpu_random_x_masked``), the
    natural step without rewiring in ms (``gpu_masked_ms``) and as a multiple of the same step
    on one fixed batch (``gpu_input_ratio``), a TRADES step with random rewiring as a
    multiple of the step without (``gpu_trades_x_masked``), and the minutes of a natural
    ``paper`` run at the fastest and the slowest rewired step (``gpu_paper_natural_min``;
    steps from :func:`srewire.report.thesis_scale`)."""
    natural = speed[speed.objective == "natural"]
    masked = natural[natural.rewiring.str.startswith("none")]
    rewired = natural[~natural.rewiring.str.startswith("none")]
    host_random = natural[(natural.rewiring == "random") & (natural.rng == "host")]
    trades = speed[(speed.objective == "trades") & (speed.rewiring == "random")]
    minutes = thesis_scale()[0] * rewired.step_ms / 60_000
    return {"gpu_random_x_masked": _span(host_random["x masked"], 1),
            "gpu_masked_ms": _span(masked.step_ms, 1),
            "gpu_input_ratio": _span(masked.step_ms / masked["fixed batch ms"], 2),
            "gpu_trades_x_masked": _span(trades["x masked"], 2),
            "gpu_paper_natural_min": _span(minutes, 0)}
