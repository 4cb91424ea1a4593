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

from .config import DEFAULT_SEEDS
from .intervals import Interval, welch
from .runs import GRID, STRATEGY_ORDER, ensure_grid, load_results

__all__ = ["glue", "THESIS", "STRATEGY_LABELS", "load_grid", "runs_table", "summary", "table1",
           "table2", "table3", "claims", "Claim", "fmt", "robustness_checks", "timings",
           "gpu_check_tables"]

STRATEGY_LABELS = {"random": "Unstructured", "structured": "Structured",
                   "weight_based": "Structured weight-based"}
ROW_LABELS = {("natural", 0.99): "99% natural", ("natural", 0.95): "95% natural",
              ("trades", 0.95): "95% TRADES"}

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
              compute: bool = True, force: bool = False) -> list[dict]:
    """Results of the thesis grid for ``profile`` and ``seeds`` (None: the profile's
    :data:`srewire.config.DEFAULT_SEEDS`): finished runs are read from disk; missing ones are
    trained first when ``compute`` (all of them with ``force``)."""
    seeds = list(DEFAULT_SEEDS[profile] if seeds is None else seeds)
    if compute:
        ensure_grid(profile, seeds, results=results_dir, data_root=data_root, force=force)
    return [r for r in load_results(results_dir, profile) if r["config"]["seed"] in seeds]


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
    """A verdict on one of the thesis's claims, with the evidence it rests on.

    ``detectable`` (claims (b) and (d)): the largest 95 % CI half-width over the comparisons,
    i.e. the smallest difference the data would have flagged in every setting; None where no
    interval could be computed."""

    key: str
    claim: str
    verdict: str  # "holds", "partly", "does not hold", "undecided"
    evidence: list[str]
    detectable: float | None = None

    def as_row(self) -> dict[str, str]:
        return {"claim": self.claim, "verdict": self.verdict, "evidence": "; ".join(self.evidence)}


def _interval(a: Stat | None, b: Stat | None) -> Interval | None:
    """Welch's 95 % interval of mean(a) - mean(b) over seeds (None below two seeds each)."""
    if a is None or b is None or math.isnan(a.mean) or math.isnan(b.mean):
        return None
    return welch(a.mean, a.std, a.n, b.mean, b.std, b.n)


def _direction(ci: Interval | None, floor: float = 0.0) -> bool | None:
    """True: the interval lies above zero and the difference exceeds ``floor``; False: it lies
    below zero; None: not resolved from the seed noise (or no interval)."""
    if ci is None:
        return None
    if ci.low > 0 and ci.diff > floor:
        return True
    return False if ci.high < 0 else None


def _order_claim(z: dict, present: list[tuple[str, float]]) -> Claim:
    """(a): per setting, structured - unstructured and weight-based - structured must both
    have 95 % intervals above zero."""
    ev, ok = [], []
    for o, s in present:
        r, st, wb = (z.get((o, s, k)) for k in STRATEGY_ORDER)
        if None in (r, st, wb):
            continue
        steps = [_interval(st, r), _interval(wb, st)]
        signs = [_direction(ci) for ci in steps]
        holds = True if signs == [True, True] else False if False in signs else None
        ok.append(holds)
        means = f"means {r.mean:.3f}, {st.mean:.3f}, {wb.mean:.3f}"
        if None in steps:
            ev.append(f"{ROW_LABELS[(o, s)]}: {means}; one seed, the seed noise is unknown")
            continue
        word = {True: "shown", False: "reversed", None: "not resolved from the seed noise"}
        ev.append(f"{ROW_LABELS[(o, s)]}: {means}; structured - unstructured "
                  f"{steps[0].text(3)}, weight-based - structured {steps[1].text(3)}: "
                  f"{word[holds]}")
    return Claim("a", "Zero-vector percentage: unstructured < structured < weight-based",
                 _verdict(ok), ev)


def _unchanged_claim(key: str, name: str, stats: dict, rows: list[tuple[str, float]],
                     floor: float) -> Claim:
    """(b), (d): every structured strategy against unstructured; a difference counts when its
    95 % interval excludes zero and it exceeds ``floor`` points."""
    ev, ok, widths = [], [], []
    for o, s in rows:
        base = stats.get((o, s, "random"))
        for rw in ("structured", "weight_based"):
            other = stats.get((o, s, rw))
            if base is None or other is None or math.isnan(other.mean):
                continue
            label = f"{ROW_LABELS[(o, s)]}, {STRATEGY_LABELS[rw].lower()} - unstructured"
            ci = _interval(other, base)
            if ci is None:
                ok.append(None)
                ev.append(f"{label} = {other.mean - base.mean:+.2f}; one seed, the seed noise "
                          f"is unknown")
                continue
            widths.append(ci.half_width)
            detected = ci.excludes_zero and abs(ci.diff) > floor
            ok.append(not detected)
            verdict = ("detected" if detected else
                       f"within the {floor:g}-point floor" if ci.excludes_zero else
                       f"not detectable, could have detected ≥ {ci.half_width:.2f}")
            ev.append(f"{label} = {ci}: {verdict}")
    detectable = max(widths) if widths else None
    verdict = _verdict(ok)
    if verdict == "holds" and detectable is not None:
        ev.append(f"no difference detected; the smallest difference the data could have "
                  f"detected in every setting is {detectable:.2f} points")
    return Claim(key, name, verdict, ev, detectable)


def _pruning_claim(pruned: dict, present: list[tuple[str, float]], floor: float) -> Claim:
    """(c): weight-based - structured after pruning has a 95 % interval above zero and a
    difference above ``floor`` points, at 99 % natural and 95 % TRADES."""
    ev, ok = [], []
    for o, s in [k for k in present if k in (("natural", 0.99), ("trades", 0.95))]:
        st, wb = pruned.get((o, s, "structured")), pruned.get((o, s, "weight_based"))
        if st is None or wb is None:
            continue
        ci = _interval(wb, st)
        clear = _direction(ci, floor)
        ok.append(clear)
        label = f"{ROW_LABELS[(o, s)]}: weight-based - structured after pruning"
        if ci is None:
            ev.append(f"{label} = {wb.mean - st.mean:+.2f}; one seed, the seed noise is unknown")
        else:
            ev.append(f"{label} = {ci}: " + {True: "clearly positive", False: "negative",
                                             None: "not clear beyond the seed noise and "
                                                   f"the {floor:g}-point floor"}[clear])
    return Claim("c", "After pruning, weight-based keeps much more accuracy than structured",
                 _verdict(ok), ev)


def claims(results: list[dict], *, accuracy_floor: float = 1.0) -> list[Claim]:
    """The thesis's four claims, each tested on the runs with Welch's 95 % confidence
    intervals over seeds (:func:`srewire.intervals.welch`; valid for 2-3 seeds, unlike a
    two-standard-error rule). With one seed per cell the noise is unknown and the verdict is
    "undecided".

    (a) zero-fibre % is ordered unstructured < structured < weight-based at equal sparsity:
        both steps of the ordering have intervals above zero, in every setting;
    (b) clean accuracy is unchanged by structure: no structured strategy differs from
        unstructured (a difference is an interval excluding zero and a difference above
        ``accuracy_floor`` points); a "holds" says which difference the data could detect;
    (c) after single-fibre pruning weight-based keeps clearly more accuracy than structured:
        the interval lies above zero and the difference above ``accuracy_floor``;
    (d) robust accuracy is unchanged by structure (as (b), for PGD accuracy).
    """
    z = summary(results, "zero_fibres")
    present = sorted({(o, s) for o, s, _ in z}, key=lambda k: GRID.index(k) if k in GRID else 9)
    out = [
        _order_claim(z, present),
        _unchanged_claim("b", "Clean accuracy is unchanged by structure",
                         summary(results, "clean"), present, accuracy_floor),
        _pruning_claim(summary(results, "pruned_clean"), present, accuracy_floor),
        _unchanged_claim("d", "Robust accuracy is unchanged by structure",
                         summary(results, "robust"), [k for k in present if k[0] == "trades"],
                         accuracy_floor),
    ]
    return sorted(out, key=lambda c: c.key)


def _verdict(ok: list[bool | None]) -> str:
    """holds: every setting shows it; partly: some do; does not hold: none does and some
    contradict it; undecided: nothing to judge, or nothing resolved from the noise."""
    if ok and all(v is True for v in ok):
        return "holds"
    if True in ok:
        return "partly"
    return "does not hold" if False in ok else "undecided"


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
