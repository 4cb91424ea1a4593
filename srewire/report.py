"""Tables and verdicts rendered from result files, beside the thesis's numbers (Thesis §4).

Every number the book shows about reproduced runs comes from ``result.json`` files through
this module; the thesis's numbers are constants here, each labelled as the thesis's.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from .config import DEFAULT_SEEDS, PROFILES, check_choice, check_seeds
from .runs import (GRID, STRATEGY_ORDER, RunError, ensure_grid, grid_row, load_results,
                   missing_runs)

__all__ = ["glue", "THESIS", "STRATEGY_LABELS", "load_grid", "runs_table", "summary", "table1",
           "table2", "table3", "claims", "Claim", "fmt", "robustness_checks", "timings",
           "gpu_check_tables"]

STRATEGY_LABELS = {"random": "Unstructured", "structured": "Structured",
                   "weight_based": "Structured weight-based"}


class _GridRows(dict):
    """Labels of the grid's rows; an off-grid (objective, sparsity) is a clear error."""

    def __missing__(self, key: tuple[str, float]) -> str:
        return self[grid_row(*key)]  # raises RunError naming the grid's rows


ROW_LABELS = _GridRows({("natural", 0.99): "99% natural", ("natural", 0.95): "95% natural",
                        ("trades", 0.95): "95% TRADES"})

# The thesis's numbers (Seidel 2022/23, §4), VGG11 on CIFAR-10, 100 epochs.
THESIS: dict[str, dict[tuple[str, float], tuple[float, float, float]]] = {
    # Table 1: percent of zero lowest-dimensional vectors (unstructured, structured, wb)
    "zero_fibres": {("natural", 0.99): (2.066, 7.45, 11.77),
                    ("natural", 0.95): (0.0, 0.94, 1.086),
                    ("trades", 0.95): (0.018, 0.57, 1.06)},
    "pruned_zero_fibres": {("natural", 0.99): (9.48, 19.145, 24.05),
                           ("trades", 0.95): (0.14, 1.125, 1.72)},
    # Table 2: clean test accuracy, and after single-fibre pruning
    "clean_accuracy": {("natural", 0.99): (84.89, 84.91, 84.44),
                       ("natural", 0.95): (87.7, 87.8, 87.6),
                       ("trades", 0.95): (71.21, 71.01, 70.21)},
    "pruned_accuracy": {("natural", 0.99): (76.12, 58.29, 73.11),
                        ("trades", 0.95): (58.85, 46.76, 64.11)},
    # Table 3: 95 % TRADES, clean / PGD-50 x 10 robust accuracy
    "table3_clean": {("trades", 0.95): (71.19, 71.06, 69.98)},
    "table3_robust": {("trades", 0.95): (40.74, 40.61, 39.46)},
}


def glue(name: str, value: str) -> None:
    """Make ``value`` available to the book's prose as ``{glue:text}`name```; does nothing
    where myst-nb is not installed (on Colab the notebooks run without the book's tools)."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=False)


def load_grid(profile: str = "quick", results_dir: str | os.PathLike = "results",
              seeds: Iterable[int] | None = None, *, data_root: str | None = None,
              compute: bool = False, force: bool = False) -> list[dict]:
    """Results of the thesis grid for ``profile`` and ``seeds`` (None: the profile's
    :data:`srewire.config.DEFAULT_SEEDS`), read from disk.

    Nothing is trained unless asked for (Issue 13.10): a missing run raises
    :class:`~srewire.runs.RunError` saying how to compute it; with ``compute`` missing runs
    are trained first (all of them with ``force``, which implies ``compute``). Bad
    arguments raise :class:`~srewire.config.ConfigError`, as on the command line.
    """
    check_choice("profile", profile, PROFILES)
    seeds = list(check_seeds(DEFAULT_SEEDS[profile] if seeds is None else seeds))
    if compute or force:
        ensure_grid(profile, seeds, results=results_dir, data_root=data_root, force=force)
    missing = missing_runs(results_dir, profile, seeds)
    if missing:
        raise RunError(f"{len(missing)} run(s) of the {profile} grid are missing in "
                       f"{results_dir}/{profile} (e.g. {missing[0]}); compute them with: "
                       f"python -m srewire grid --profile {profile} --seeds "
                       f"{' '.join(map(str, seeds))} --results {results_dir}, or "
                       f"load_grid(..., compute=True)")
    return load_results(results_dir, profile, seeds)


def runs_table(results: list[dict]) -> pd.DataFrame:
    """One row per run with the headline numbers."""
    out = []
    for r in results:
        c = r["config"]
        out.append({
            "objective": c["objective"], "sparsity": c["sparsity"], "rewiring": c["rewiring"],
            "seed": c["seed"], "clean": r["clean_accuracy"], "robust": r["robust_accuracy"],
            # clean accuracy on the attacked subset (Table 3), absent for natural runs
            "robust_clean": (r.get("robustness") or {}).get("clean_accuracy"),
            "pruned_clean": r["pruned"]["clean_accuracy"],
            "zero_fibres": r["zero_fibres"]["global"]["out"],
            "pruned_zero_fibres": r["pruned"]["zero_fibres"]["global"]["out"],
            "measured_sparsity": r["sparsity"]["global"],
            "train_s": r["provenance"]["wall_time_s"]["train"],
            "eval_s": r["provenance"]["wall_time_s"]["eval"],
        })
    return pd.DataFrame(out)


@dataclass
class Stat:
    """Mean, sample standard deviation and count over seeds."""

    mean: float
    std: float
    n: int

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n) if self.n > 1 else float("nan")


def _stat(values: list[float]) -> Stat:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return Stat(float("nan"), float("nan"), 0)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return Stat(statistics.fmean(values), std, len(values))


def summary(results: list[dict], column: str) -> dict[tuple[str, float, str], Stat]:
    """{(objective, sparsity, rewiring): Stat over seeds} for a column of :func:`runs_table`."""
    df = runs_table(results)
    out = {}
    for (obj, sp, rw), group in df.groupby(["objective", "sparsity", "rewiring"]):
        out[(obj, float(sp), rw)] = _stat(group[column].tolist())
    return out


def fmt(stat: Stat, digits: int = 2) -> str:
    """'mean ± std (n)' — or 'mean (n=1)' with one seed, '—' with none."""
    if stat.n == 0:
        return "—"
    if stat.n == 1:
        return f"{stat.mean:.{digits}f} (n=1)"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f} (n={stat.n})"


def _table(results: list[dict], column: str, thesis_key: str,
           rows: Iterable[tuple[str, float]] = GRID, digits: int = 2) -> pd.DataFrame:
    stats = summary(results, column)
    thesis = THESIS[thesis_key]
    records = []
    for obj, sp in rows:
        rec: dict[str, Any] = {"setting": ROW_LABELS[(obj, sp)]}
        for i, rw in enumerate(STRATEGY_ORDER):
            label = STRATEGY_LABELS[rw]
            rec[f"{label} (ours)"] = fmt(stats.get((obj, sp, rw), Stat(math.nan, math.nan, 0)),
                                         digits)
            t = thesis.get((obj, sp))
            rec[f"{label} (thesis)"] = "—" if t is None else f"{t[i]:g}"
        records.append(rec)
    return pd.DataFrame(records).set_index("setting")


def table1(results: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1: percent of zero fibres (output axis) before and after single-fibre pruning."""
    before = _table(results, "zero_fibres", "zero_fibres", digits=3)
    after = _table(results, "pruned_zero_fibres", "pruned_zero_fibres", digits=3)
    return before, after


def table2(results: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2: clean test accuracy before and after single-fibre pruning."""
    return (_table(results, "clean", "clean_accuracy"),
            _table(results, "pruned_clean", "pruned_accuracy"))


def table3(results: list[dict]) -> pd.DataFrame:
    """Table 3: 95 % TRADES, clean and robust accuracy, both on the attacked test images."""
    clean = _table(results, "robust_clean", "table3_clean", rows=[("trades", 0.95)])
    robust = _table(results, "robust", "table3_robust", rows=[("trades", 0.95)])
    clean.index = ["clean accuracy"]
    robust.index = ["robust accuracy (PGD)"]
    return pd.concat([clean, robust])


@dataclass
class Claim:
    """A verdict on one of the thesis's claims, with the evidence it rests on."""

    key: str
    claim: str
    verdict: str  # "holds", "partly", "does not hold", "undecided"
    evidence: list[str]

    def as_row(self) -> dict[str, str]:
        return {"claim": self.claim, "verdict": self.verdict, "evidence": "; ".join(self.evidence)}


def _diff(a: Stat, b: Stat) -> tuple[float, float]:
    """Difference of means and its standard error (nan with fewer than two seeds each)."""
    se = math.sqrt(a.se ** 2 + b.se ** 2) if a.n > 1 and b.n > 1 else float("nan")
    return a.mean - b.mean, se


def _within_noise(d: float, se: float, floor: float) -> bool:
    """|d| is within two standard errors of the difference (never below ``floor``)."""
    tol = max(2 * se, floor) if not math.isnan(se) else floor
    return abs(d) <= tol


def claims(results: list[dict], *, accuracy_floor: float = 1.0) -> list[Claim]:
    """The thesis's four claims, each tested on the runs (rules stated in each evidence line).

    (a) zero-fibre % is ordered unstructured < structured < weight-based at equal sparsity;
    (b) clean accuracy is unchanged by structure (differences to unstructured within two
        standard errors over seeds, at least ``accuracy_floor`` points);
    (c) after single-fibre pruning weight-based keeps clearly more accuracy than structured
        (difference above two standard errors and above ``accuracy_floor``);
    (d) robust accuracy is unchanged by structure (as in (b), for PGD accuracy).
    """
    z = summary(results, "zero_fibres")
    clean = summary(results, "clean")
    pruned = summary(results, "pruned_clean")
    robust = summary(results, "robust")
    present = sorted({(o, s) for o, s, _ in z}, key=lambda k: GRID.index(k) if k in GRID else 9)
    out = []

    ev, ok = [], []
    for o, s in present:
        r, st, wb = (z.get((o, s, k)) for k in STRATEGY_ORDER)
        if None in (r, st, wb):
            continue
        holds = r.mean < st.mean < wb.mean
        ok.append(holds)
        ev.append(f"{ROW_LABELS[(o, s)]}: {r.mean:.3f} < {st.mean:.3f} < {wb.mean:.3f} "
                  f"is {'true' if holds else 'false'}")
    out.append(Claim("a", "Zero-vector percentage: unstructured < structured < weight-based",
                     _verdict(ok), ev))

    for key, stats, name, rows in (("b", clean, "Clean accuracy is unchanged by structure",
                                    present),
                                   ("d", robust, "Robust accuracy is unchanged by structure",
                                    [k for k in present if k[0] == "trades"])):
        ev, ok = [], []
        for o, s in rows:
            base = stats.get((o, s, "random"))
            for rw in ("structured", "weight_based"):
                other = stats.get((o, s, rw))
                if base is None or other is None or math.isnan(other.mean):
                    continue
                d, se = _diff(other, base)
                inside = _within_noise(d, se, accuracy_floor)
                ok.append(inside)
                ev.append(f"{ROW_LABELS[(o, s)]}, {STRATEGY_LABELS[rw].lower()} - unstructured "
                          f"= {d:+.2f} (2 SE = {2 * se:.2f})" + ("" if inside else " outside"))
        out.append(Claim(key, name, _verdict(ok), ev))

    ev, ok = [], []
    for o, s in [k for k in present if k in (("natural", 0.99), ("trades", 0.95))]:
        st, wb = pruned.get((o, s, "structured")), pruned.get((o, s, "weight_based"))
        if st is None or wb is None:
            continue
        d, se = _diff(wb, st)
        clear = d > max(2 * se if not math.isnan(se) else 0.0, accuracy_floor)
        ok.append(clear)
        ev.append(f"{ROW_LABELS[(o, s)]}: weight-based - structured after pruning = {d:+.2f} "
                  f"(2 SE = {2 * se:.2f})")
    out.append(Claim("c", "After pruning, weight-based keeps much more accuracy than "
                          "structured", _verdict(ok), ev))
    return sorted(out, key=lambda c: c.key)


def _verdict(ok: list[bool]) -> str:
    if not ok:
        return "undecided"
    if all(ok):
        return "holds"
    return "partly" if any(ok) else "does not hold"


def robustness_checks(results: list[dict]) -> pd.DataFrame:
    """Per TRADES run: Foolbox PGD, native PGD and FGSM accuracy with the sanity checks."""
    rows = []
    for r in results:
        rob = r.get("robustness")
        if not rob:
            continue
        c, chk, att = r["config"], rob["checks"], rob["attack"]
        rows.append({
            "run": f"{STRATEGY_LABELS[c['rewiring']]}, seed {c['seed']}",
            "clean": rob["clean_accuracy"], "FGSM": rob["fgsm_accuracy"],
            "PGD (Foolbox)": rob["foolbox_pgd_accuracy"],
            "PGD (native)": rob["native_pgd_accuracy"],
            "eval mode": chk["eval_mode"],
            "PGD ≤ FGSM ≤ clean": chk["robust_le_fgsm_le_clean"],
            "acc. at ε=0.5": chk["large_eps_accuracy"],
            "attack": f"PGD-{att['steps']} x {att['restarts']}, {att['n_images']} images",
        })
    return pd.DataFrame(rows)


def timings(results: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wall time per run (minutes) and per seed for the whole grid, from the provenance."""
    rows = []
    for r in results:
        c, p = r["config"], r["provenance"]
        rows.append({"seed": c["seed"], "run": f"{ROW_LABELS.get((c['objective'], c['sparsity']))}"
                     f", {STRATEGY_LABELS[c['rewiring']].lower()}",
                     "train (min)": p["wall_time_s"]["train"] / 60,
                     "eval (min)": p["wall_time_s"]["eval"] / 60,
                     "total (min)": p["wall_time_s"]["total"] / 60,
                     "steps": p["steps"], "device": p["device"]})
    per_run = pd.DataFrame(rows)
    per_seed = (per_run.groupby("seed")[["train (min)", "eval (min)", "total (min)"]].sum()
                if rows else pd.DataFrame())
    return per_run.round(2), per_seed.round(1)


def gpu_check_tables(path: str | os.PathLike) -> dict[str, Any]:
    """The report of ``benchmarks/gpu_check.py`` as tables: CPU vs GPU results, host
    synchronisations per step, and step times per sparsity and TF32 setting."""
    import json
    from pathlib import Path

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
    return {"device": report["device"], "torch": report["torch"], "same": same,
            "loop_syncs": loop, "syncs": parts, "speed": speed_df}
