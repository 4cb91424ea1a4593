"""Tables and verdicts rendered from result files, beside the thesis's numbers (Thesis §4).

Every number the book shows about reproduced runs comes from ``result.json`` files through
this module; the thesis's numbers are constants here, each labelled as the thesis's.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import pandas as pd

from .attacks import pgd_step_size
from .config import DEFAULT_SEEDS, PROFILES, check_choice, check_seeds
from .intervals import Interval, equivalence, welch
from .models import layer_shapes
from .runs import (GRID, STRATEGY_ORDER, RunError, ensure_grid, grid_row, load_results,
                   missing_runs)

__all__ = ["glue", "glue_all", "THESIS", "STRATEGY_LABELS", "load_grid", "runs_table", "summary", "table1",
           "table2", "table3", "claims", "Claim", "fmt", "robustness_checks", "timings",
           "by_profile", "profile_of", "grid_status", "scale_note",
           "verdict_table", "thesis_scale", "accuracy_gap", "EQUIVALENCE_MARGIN", "MIN_SEEDS",
           "autoattack_drop", "autoattack_note", "redie_rates", "redie_text", "structure_values", "layer_values", "READING",
           "claim_values", "claims_by_profile", "ROW_KEYS", "objective_runs", "n_test_text",
           "accuracy_values", "attack_text", "robust_values", "cross_check_text",
           "cross_check_values"]

#: Margin of the equivalence claims (b) and (d), in percentage points, fixed before the data
#: are read: "unchanged by structure" is taken to mean "within one point". One point is the
#: size of the thesis's own differences between strategies (Table 2, 95 % TRADES: 71.21 / 71.01
#: / 70.21; Table 3 robust: 40.74 / 40.61 / 39.46), so a margin any wider could not tell the
#: thesis's strategies apart, and one any narrower would ask for more than the thesis measured.
EQUIVALENCE_MARGIN = 1.0
#: Seeds per cell below which a verdict says that it rests on fewer than three seeds.
MIN_SEEDS = 3

STRATEGY_LABELS = {"random": "Unstructured", "structured": "Structured",
                   "weight_based": "Structured weight-based"}


class _GridRows(dict):
    """Labels of the grid's rows; an off-grid (objective, sparsity) is a clear error."""

    def __missing__(self, key: tuple[str, float]) -> str:
        return self[grid_row(*key)]  # raises RunError naming the grid's rows


ROW_LABELS = _GridRows({("natural", 0.99): "99% natural", ("natural", 0.95): "95% natural",
                        ("trades", 0.95): "95% TRADES"})
#: Short names of the grid's rows, as the names a page glues carry them (``fig_growth_95t``).
ROW_KEYS = {"99": ("natural", 0.99), "95": ("natural", 0.95), "95t": ("trades", 0.95)}

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
    "table3_autoattack": {},  # the thesis reports no AutoAttack numbers
    # Figures 12-14: percent of zero vectors in "layer 8" of the 99 % natural networks
    "layer8_zero_fibres": {("natural", 0.99): (6.25, 15.87, 22.56)},
}


def glue(name: str, value: Any) -> None:
    """Make ``value`` available to the book's prose: a string as ``{glue:text}`name```, a
    matplotlib figure for a ``{glue:figure}`` directive (the figure is then closed, so that
    it is shown only where the prose places it). Where myst-nb is not installed (Colab) a
    string is dropped and a figure stays open, so the notebook shows it in place."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=False)
    if hasattr(value, "savefig"):
        import matplotlib.pyplot as plt

        plt.close(value)


def glue_all(values: Mapping[str, Any]) -> None:
    """:func:`glue` every ``{name: value}`` of ``values``: how a page hands the numbers that
    a function of this package worked out for its prose to the book in one call."""
    for name, value in values.items():
        glue(name, value)


def load_grid(profile: str = "quick", results_dir: str | os.PathLike = "results",
              seeds: Iterable[int] | None = None, *, data_root: str | None = None,
              compute: bool = False, force: bool = False, partial: bool = False,
              allow_synthetic: bool = False) -> list[dict]:
    """Results of the thesis grid for ``profile`` and ``seeds`` (None: the profile's
    :data:`srewire.config.DEFAULT_SEEDS`), read from disk.

    Nothing is trained unless asked for: a missing run raises
    :class:`~srewire.runs.RunError` saying how to compute it; with ``compute`` missing runs
    are trained first (all of them with ``force``, which implies ``compute``). With
    ``partial`` the runs that exist are returned, possibly none, and nothing is trained: how
    the book shows a paper grid that GPU windows fill piece by piece.
    ``allow_synthetic`` lets a test render fabricated quick/paper results, which the book
    otherwise refuses. Bad
    arguments raise :class:`~srewire.config.ConfigError`, as on the command line.
    """
    check_choice("profile", profile, PROFILES)
    seeds = list(check_seeds(DEFAULT_SEEDS[profile] if seeds is None else seeds))
    if (compute or force) and not partial:
        ensure_grid(profile, seeds, results=results_dir, data_root=data_root, force=force)
    missing = [] if partial else missing_runs(results_dir, profile, seeds)
    if missing:
        raise RunError(f"{len(missing)} run(s) of the {profile} grid are missing in "
                       f"{results_dir}/{profile} (e.g. {missing[0]}); compute them with: "
                       f"python -m srewire grid --profile {profile} --seeds "
                       f"{' '.join(map(str, seeds))} --results {results_dir}, or "
                       f"load_grid(..., compute=True)")
    return load_results(results_dir, profile, seeds, allow_synthetic=allow_synthetic)


def redie_rates(results: list[dict]) -> dict[tuple[str, float, str], float]:
    """Share of revived connections that die again in the step after their revival, per
    (objective, sparsity, rewiring), mean over the seeds in ``results`` (Thesis §2.2.2: a
    coordinate revived at 1e-12 survives only if its gradient pulls it up)."""
    rates: dict[tuple[str, float, str], list[float]] = {}
    for r in results:
        c = r["config"]
        rates.setdefault((c["objective"], c["sparsity"], c["rewiring"]), []).append(
            r["rewiring_stats"]["revived_then_died_rate"])
    return {key: statistics.fmean(values) for key, values in sorted(rates.items())}


def redie_text(rates: dict[tuple[str, float, str], float]) -> str:
    """:func:`redie_rates` in words, a line per (objective, sparsity, rewiring)."""
    return "\n".join(f"{o:8s} sparsity {s:.2f} {rw:13s}: {100 * rate:5.1f} % of revived "
                     f"connections die again in the next step"
                     for (o, s, rw), rate in sorted(rates.items()))


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
            # AutoAttack from the saved weights (python -m srewire evaluate), where it was run
            "autoattack": (r.get("autoattack") or {}).get("robust_accuracy"),
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


def fmt(stat: Stat, digits: int = 2, n: int | None = None) -> str:
    """'mean ± std' over seeds ('mean' with one seed, '—' with none). The number of seeds
    belongs in the table's caption; a cell whose count differs from the caption's ``n``
    says its own, e.g. '61.20 (n=1)'."""
    if stat.n == 0:
        return "—"
    text = f"{stat.mean:.{digits}f}" if stat.n == 1 else \
        f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"
    return text if n is None or stat.n == n else f"{text} (n={stat.n})"


PROFILE_ORDER = ("smoke", "quick", "long", "paper")


def profile_of(result: dict) -> str:
    """The profile a result was trained with ('ours' for results that do not say)."""
    return result["config"].get("profile", "ours")


def by_profile(results: list[dict]) -> dict[str, list[dict]]:
    """The results split by profile, in the order smoke, quick, long, paper (others after)."""
    out: dict[str, list[dict]] = {}
    for r in results:
        out.setdefault(profile_of(r), []).append(r)
    rank = {p: i for i, p in enumerate(PROFILE_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def figure_runs(results: list[dict], larger: list[dict]) -> list[dict]:
    """The runs the performance chapter's learning curves draw: the ``paper`` runs among
    ``larger`` where any exist, since they are at the thesis's scale, else ``results``."""
    return by_profile(larger).get("paper") or results


def objective_runs(results: list[dict], objective: str) -> list[dict]:
    """The runs of ``results`` trained with ``objective`` ("natural" or "trades"), in order."""
    return [r for r in results if r["config"]["objective"] == objective]


def _seeds_phrase(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _table(results: list[dict], column: str, thesis_key: str,
           rows: Iterable[tuple[str, float]] = GRID, digits: int = 2,
           quantity: str = "", counts: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per (setting, strategy); one column per profile present in ``results`` and
    one for the thesis, all in percent. The caption (``attrs["caption"]``) names the quantity
    and the number of seeds behind each profile's column (``counts``: the seeds per profile
    a caption shared with another table states; ``attrs["counts"]`` holds them)."""
    groups = {p: summary(runs, column) for p, runs in by_profile(results).items()}
    thesis = THESIS[thesis_key]
    rows = list(rows)
    keys = [(o, s, rw) for o, s in rows for rw in STRATEGY_ORDER]
    shared, counts = counts, {}
    for p, stats in groups.items():
        ns = [stats[k].n for k in keys if k in stats and stats[k].n]
        counts[p] = (shared or {}).get(p, statistics.mode(ns) if ns else 0)
    records, index = [], []
    for o, s, rw in keys:
        index.append((ROW_LABELS[(o, s)], STRATEGY_LABELS[rw]))
        rec: dict[str, str] = {}
        for p, stats in groups.items():
            rec[f"{p} (%)"] = fmt(stats.get((o, s, rw), Stat(math.nan, math.nan, 0)), digits,
                                  counts[p])
        t = thesis.get((o, s))
        rec["thesis (%)"] = "—" if t is None else f"{t[STRATEGY_ORDER.index(rw)]:g}"
        records.append(rec)
    frame = pd.DataFrame(records, index=pd.MultiIndex.from_tuples(index,
                                                                  names=["setting", "rewiring"]))
    spread = [f"{p}: mean ± standard deviation over {_seeds_phrase(n)}" if n > 1 else
              f"{p}: one seed" for p, n in counts.items() if n]
    frame.attrs["caption"] = "; ".join(([quantity] if quantity else []) + spread +
                                       ["thesis: one network per cell, 100 epochs"]) + "."
    frame.attrs["counts"] = counts
    return frame


def table1(results: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1: percent of zero fibres (output axis) before and after single-fibre pruning,
    one column per profile present in ``results``."""
    before = _table(results, "zero_fibres", "zero_fibres", digits=3,
                    quantity="Zero vectors, % of all fibres (output axis)")
    after = _table(results, "pruned_zero_fibres", "pruned_zero_fibres", digits=3,
                   quantity="Zero vectors after single-fibre pruning, % of all fibres")
    return before, after


def table2(results: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2: clean test accuracy before and after single-fibre pruning."""
    return (_table(results, "clean", "clean_accuracy", quantity="Clean test accuracy, %"),
            _table(results, "pruned_clean", "pruned_accuracy",
                   quantity="Clean test accuracy after single-fibre pruning, %"))


def table3(results: list[dict]) -> pd.DataFrame:
    """Table 3: 95 % TRADES, clean accuracy and robust accuracy under PGD and under AutoAttack,
    all on the attacked test images; a cell without AutoAttack numbers reads "—"."""
    rows = [("trades", 0.95)]
    clean = _table(results, "robust_clean", "table3_clean", rows=rows)
    robust = _table(results, "robust", "table3_robust", rows=rows,
                    quantity="95 % TRADES, accuracy on the attacked test images, %")
    clean.index = pd.MultiIndex.from_tuples([("clean", rw) for _, rw in clean.index],
                                            names=["accuracy", "rewiring"])
    robust.index = pd.MultiIndex.from_tuples([("robust (PGD)", rw) for _, rw in robust.index],
                                             names=["accuracy", "rewiring"])
    aa = _table(results, "autoattack", "table3_autoattack", rows=rows,
                counts=robust.attrs["counts"])
    aa.index = pd.MultiIndex.from_tuples([("robust (AutoAttack)", rw) for _, rw in aa.index],
                                         names=["accuracy", "rewiring"])
    out = pd.concat([clean, robust, aa])
    out.attrs["caption"] = (robust.attrs["caption"] + " AutoAttack: standard budgets, on the "
                            "same test images, evaluated from the saved weights where a run "
                            "kept them; — marks a network not evaluated with it (and the "
                            "thesis, which reports none).")
    return out


def companions(profile: str, results_dir: str | os.PathLike = "results") -> list[dict]:
    """The runs of the profiles larger than ``profile`` (long and paper for quick, paper for
    long), read as they stand and never trained: what the book shows beside the chosen
    profile's columns. None for smoke, whose numbers mean nothing."""
    check_choice("profile", profile, PROFILES)
    if profile == "smoke":
        return []
    larger = PROFILE_ORDER[PROFILE_ORDER.index(profile) + 1:]
    return [r for p in larger for r in load_grid(p, results_dir, partial=True)]


def long_sizing_note(sizing: dict) -> str:
    """How the long profile's epochs were sized (:data:`srewire.config.LONG_SIZING`), in
    words, with the epochs and images read from its configurations."""
    from .config import make_config

    nat, tr = make_config("long", "natural"), make_config("long", "trades")
    steps = nat.epochs * (CIFAR10_TRAIN_IMAGES // nat.batch_size)
    return (f"on a {sizing['machine']}, a natural step took {sizing['natural_step_s']:.2f} s "
            f"and a TRADES-10 step {sizing['trades_step_s']:.2f} s, so {nat.epochs} natural "
            f"epochs ({steps:,} steps) keep a natural run near {sizing['natural_budget_min']} "
            f"minutes and {tr.epochs} TRADES epochs of {tr.n_train:,} images, with PGD on "
            f"{tr.n_robust:,} test images, keep a TRADES run near "
            f"{sizing['trades_budget_min']} minutes, with nothing else running.")


def status_note(results: list[dict]) -> str:
    """How much of the long and paper grids exists (:func:`grid_status` of each)."""
    return " ".join(grid_status(results, p) for p in ("long", "paper"))


def grid_status(results: list[dict], profile: str) -> str:
    """'n of the N <profile> runs exist': the grid's runs (its default seeds) that have a
    result among ``results``."""
    seeds = DEFAULT_SEEDS.get(profile, (0,))
    wanted = {(o, s, rw, seed) for o, s in GRID for rw in STRATEGY_ORDER for seed in seeds}
    have = {(r["config"]["objective"], r["config"]["sparsity"], r["config"]["rewiring"],
             r["config"]["seed"]) for r in results if profile_of(r) == profile}
    return f"{len(wanted & have)} of the {len(wanted)} {profile} runs exist."


@dataclass
class Claim:
    """A verdict on one of the thesis's claims, with the evidence it rests on.

    ``smallest_margin`` (claims (b) and (d)): the smallest equivalence margin the data could
    have confirmed in every comparison (the largest max(abs(low), abs(high)) of the 95 % intervals);
    None where no interval could be computed. ``seeds``: the fewest seeds behind a compared
    cell (0: nothing compared)."""

    key: str
    claim: str
    verdict: str  # "holds", "partly", "does not hold", "undecided"
    evidence: list[str]
    smallest_margin: float | None = None
    seeds: int = 0

    @property
    def verdict_text(self) -> str:
        """The verdict, saying so when it rests on fewer than :data:`MIN_SEEDS` seeds."""
        if 0 < self.seeds < MIN_SEEDS:
            return (f"{self.verdict} (on {_seeds_phrase(self.seeds)} per cell, fewer than "
                    f"{MIN_SEEDS})")
        return self.verdict

    def as_row(self) -> dict[str, str]:
        return {"claim": self.claim, "verdict": self.verdict_text,
                "evidence": "; ".join(self.evidence)}


def _interval(a: Stat | None, b: Stat | None) -> Interval | None:
    """Welch's 95 % interval of mean(a) - mean(b) over seeds (None below two seeds each)."""
    if a is None or b is None or math.isnan(a.mean) or math.isnan(b.mean):
        return None
    return welch(a.mean, a.std, a.n, b.mean, b.std, b.n)


def _ci_text(ci: Interval, digits: int = 2) -> str:
    """The interval, or words where it has zero width (no seed-to-seed variation at all)."""
    if ci.half_width == 0:
        return (f"{ci.diff:+.{digits}f} in every seed (no seed-to-seed variation, so no "
                f"interval)")
    return ci.text(digits)


def _direction(ci: Interval | None, floor: float = 0.0) -> bool | None:
    """True: the interval lies above zero and the difference exceeds ``floor``; False: it lies
    below zero; None: not resolved from the seed noise (or no interval, or a zero-width one,
    which carries no estimate of the noise)."""
    if ci is None or ci.half_width == 0:
        return None
    if ci.low > 0 and ci.diff > floor:
        return True
    return False if ci.high < 0 else None


def _order_claim(z: dict, present: list[tuple[str, float]]) -> Claim:
    """(a): per setting, structured - unstructured and weight-based - structured must both
    have 95 % intervals above zero."""
    ev, ok, seeds = [], [], []
    for o, s in present:
        r, st, wb = (z.get((o, s, k)) for k in STRATEGY_ORDER)
        if None in (r, st, wb):
            continue
        seeds.append(min(r.n, st.n, wb.n))
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
                  f"{_ci_text(steps[0], 3)}, weight-based - structured "
                  f"{_ci_text(steps[1], 3)}: {word[holds]}")
    return Claim("a", "Zero-vector percentage: unstructured < structured < weight-based",
                 _verdict(ok), ev, seeds=min(seeds, default=0))


def _equivalence_claim(key: str, name: str, stats: dict, rows: list[tuple[str, float]],
                       margin: float, prefix: str = "") -> Claim:
    """(b), (d): every structured strategy against unstructured, by two one-sided tests
    (:func:`srewire.intervals.equivalence`): a comparison supports the claim when its 95 %
    interval lies within ± ``margin`` points, contradicts it when the interval excludes zero
    and reaches beyond the margin, and decides nothing otherwise."""
    ev, ok, margins, seeds = [], [], [], []
    for o, s in rows:
        base = stats.get((o, s, "random"))
        for rw in ("structured", "weight_based"):
            other = stats.get((o, s, rw))
            if base is None or other is None or math.isnan(other.mean) or not base.n:
                continue
            seeds.append(min(base.n, other.n))
            label = f"{prefix}{ROW_LABELS[(o, s)]}, {STRATEGY_LABELS[rw].lower()} - unstructured"
            ci = _interval(other, base)
            if ci is None:
                ok.append(None)
                ev.append(f"{label} = {other.mean - base.mean:+.2f}; one seed, the seed noise "
                          f"is unknown")
                continue
            eq = equivalence(ci, margin)
            ok.append({"equivalent": True, "differs": False}.get(eq.verdict))
            if eq.smallest_margin is not None:
                margins.append(eq.smallest_margin)
            ev.append(f"{label} = {eq.text()}")
    smallest = max(margins) if margins else None
    if smallest is not None:
        ev.append(f"{prefix}equivalence margin ±{margin:g} point, fixed in advance; the "
                  f"smallest margin these seeds could have confirmed in every comparison is "
                  f"±{smallest:.2f} points")
    return Claim(key, name, _verdict(ok), ev, smallest, min(seeds, default=0))


def _pruning_claim(pruned: dict, present: list[tuple[str, float]], floor: float) -> Claim:
    """(c): weight-based - structured after pruning has a 95 % interval above zero and a
    difference above ``floor`` points, at 99 % natural and 95 % TRADES."""
    ev, ok, seeds = [], [], []
    for o, s in [k for k in present if k in (("natural", 0.99), ("trades", 0.95))]:
        st, wb = pruned.get((o, s, "structured")), pruned.get((o, s, "weight_based"))
        if st is None or wb is None:
            continue
        seeds.append(min(st.n, wb.n))
        ci = _interval(wb, st)
        clear = _direction(ci, floor)
        ok.append(clear)
        label = f"{ROW_LABELS[(o, s)]}: weight-based - structured after pruning"
        if ci is None:
            ev.append(f"{label} = {wb.mean - st.mean:+.2f}; one seed, the seed noise is unknown")
        else:
            ev.append(f"{label} = {_ci_text(ci)}: " + {
                True: "clearly positive", False: "negative",
                None: f"not clear beyond the seed noise and the {floor:g}-point floor"}[clear])
    return Claim("c", "After pruning, weight-based keeps much more accuracy than structured",
                 _verdict(ok), ev, seeds=min(seeds, default=0))


def claims(results: list[dict], *, accuracy_floor: float = 1.0,
           margin: float = EQUIVALENCE_MARGIN) -> list[Claim]:
    """The thesis's four claims, each tested on the runs with Welch's 95 % confidence
    intervals over seeds (:func:`srewire.intervals.welch`; valid for 2-3 seeds, unlike a
    two-standard-error rule). With one seed per cell the noise is unknown and the verdict is
    "undecided"; with fewer than :data:`MIN_SEEDS` the verdict says so (``verdict_text``).

    (a) zero-fibre % is ordered unstructured < structured < weight-based at equal sparsity:
        both steps of the ordering have intervals above zero, in every setting (a superiority
        test against the seed noise);
    (b) clean accuracy is unchanged by structure: an equivalence test (two one-sided tests)
        with the margin ``margin`` (:data:`EQUIVALENCE_MARGIN`, one point) for every structured
        strategy against unstructured: "holds" only if every 95 % interval lies within
        ± margin; the evidence gives the smallest margin the data could have confirmed;
    (c) after single-fibre pruning weight-based keeps clearly more accuracy than structured:
        the interval lies above zero and the difference above ``accuracy_floor``;
    (d) robust accuracy is unchanged by structure: as (b), for PGD accuracy; where every
        TRADES run also has AutoAttack numbers, the same test on those is added as evidence.
    """
    z = summary(results, "zero_fibres")
    present = sorted({(o, s) for o, s, _ in z}, key=lambda k: GRID.index(k) if k in GRID else 9)
    trades_rows = [k for k in present if k[0] == "trades"]
    robust = _equivalence_claim("d", "Robust accuracy is unchanged by structure",
                                summary(results, "robust"), trades_rows, margin)
    trades = [r for r in results if r["config"]["objective"] == "trades"]
    with_aa = [r for r in trades if (r.get("autoattack") or {}).get("robust_accuracy")
               is not None]
    if trades:
        robust.evidence.append(f"AutoAttack numbers exist for {len(with_aa)} of the "
                               f"{len(trades)} TRADES runs" +
                               ("" if len(with_aa) == len(trades) else
                                "; the verdict rests on PGD"))
    if trades and len(with_aa) == len(trades):
        aa = _equivalence_claim("d", "", summary(results, "autoattack"), trades_rows, margin,
                                prefix="AutoAttack: ")
        robust.evidence += aa.evidence
    out = [
        _order_claim(z, present),
        _equivalence_claim("b", "Clean accuracy is unchanged by structure",
                           summary(results, "clean"), present, margin),
        _pruning_claim(summary(results, "pruned_clean"), present, accuracy_floor),
        robust,
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
            # recorded in the attacks' forward passes only in files that say which modules
            # ran in training mode; older files read the flag after the attacks
            "eval mode": (chk["eval_mode"] if "modules_in_train_mode" in chk
                          else "not recorded"),
            "PGD ≤ FGSM ≤ clean": chk["robust_le_fgsm_le_clean"],
            "acc. at ε=0.5": chk["large_eps_accuracy"],
            "attack": f"PGD-{att['steps']} x {att['restarts']}, {att['n_images']} images",
        })
    return pd.DataFrame(rows)


def autoattack_drop(results: list[dict]) -> pd.DataFrame:
    """Per TRADES run with AutoAttack numbers: PGD and AutoAttack accuracy on the same test
    images, the drop (PGD - AutoAttack, points) and the accuracy once each component has run
    (a column per component, by its name; short names keep the table within the page); empty
    where no run has been evaluated with AutoAttack."""
    rows = []
    for r in results:
        aa, rob = r.get("autoattack"), r.get("robustness") or {}
        if not aa:
            continue
        c = r["config"]
        same = (rob.get("attack") or {}).get("n_images") == aa["attack"]["n_images"]
        pgd = rob.get("robust_accuracy") if same else None
        row = {"run": f"{STRATEGY_LABELS[c['rewiring']]}, seed {c['seed']}",
               "n": aa["attack"]["n_images"], "clean": aa["clean_accuracy"],
               "PGD": pgd, "AutoAttack": aa["robust_accuracy"],
               "drop": None if pgd is None else round(pgd - aa["robust_accuracy"], 2)}
        row.update({comp["name"]: comp["robust_accuracy"] for comp in aa["components"]})
        row["eval"] = aa["checks"]["eval_mode"]
        rows.append(row)
    return pd.DataFrame(rows)


def autoattack_note(results: list[dict]) -> str:
    """One sentence per rewiring strategy: AutoAttack against PGD on the same images, mean
    over the seeds evaluated with AutoAttack, or that none was."""
    drops = autoattack_drop(results)
    parts = []
    for rw, label in STRATEGY_LABELS.items():
        runs = [r for r in results if r["config"]["objective"] == "trades"
                and r["config"]["rewiring"] == rw]
        if not runs:
            continue
        rows = drops[drops["run"].str.startswith(label + ",")] if len(drops) else drops
        rows = rows[rows["drop"].notna()] if len(rows) else rows
        if not len(rows):
            parts.append(f"{label}: not evaluated with AutoAttack (0 of {len(runs)} "
                         f"networks)")
            continue
        parts.append(f"{label}: {rows['AutoAttack'].mean():.1f} % under AutoAttack against "
                     f"{rows['PGD'].mean():.1f} % under PGD, a drop of "
                     f"{rows['drop'].mean():.1f} points ({len(rows)} of {len(runs)} "
                     f"networks, {int(rows['n'].iloc[0]):,} images)")
    return "; ".join(parts) + "." if parts else "No TRADES runs."


def timings(results: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wall time per run (minutes) and per seed for the whole grid, from the provenance
    (pass one profile's results for the per-seed sums)."""
    rows = []
    for r in results:
        c, p = r["config"], r["provenance"]
        rows.append({"profile": c.get("profile", ""), "seed": c["seed"], "run": f"{ROW_LABELS.get((c['objective'], c['sparsity']))}"
                     f", {STRATEGY_LABELS[c['rewiring']].lower()}",
                     "train (min)": p["wall_time_s"]["train"] / 60,
                     "eval (min)": p["wall_time_s"]["eval"] / 60,
                     "total (min)": p["wall_time_s"]["total"] / 60,
                     "steps": p["steps"], "device": p["device"]})
    per_run = pd.DataFrame(rows)
    per_seed = (per_run.groupby("seed")[["train (min)", "eval (min)", "total (min)"]].sum()
                if rows else pd.DataFrame())
    return per_run.round(2), per_seed.round(1)


# -- what a page's numbers rest on ------------------------------------------

CIFAR10_TRAIN_IMAGES = 10_000 * 5  # five training batches of 10,000 images each


def thesis_scale() -> tuple[int, int]:
    """Steps and training images of a thesis-scale (``paper`` profile) natural run."""
    from .config import make_config

    cfg = make_config("paper", "natural")
    n = cfg.n_train or CIFAR10_TRAIN_IMAGES
    return cfg.epochs * (n // cfg.batch_size), n


def accuracy_gap(results: list[dict]) -> float:
    """Mean over the grid's cells of (thesis's clean accuracy - ours), in points; nan
    without any cell."""
    stats = summary(results, "clean") if results else {}
    gaps = [THESIS["clean_accuracy"][(o, s)][STRATEGY_ORDER.index(rw)] - st.mean
            for (o, s, rw), st in stats.items()
            if (o, s) in THESIS["clean_accuracy"] and st.n]
    return statistics.fmean(gaps) if gaps else float("nan")


def scale_note(results: list[dict]) -> str:
    """A sentence per profile in ``results``: how many steps and training images its runs
    had, against the thesis's, and how far its clean accuracy sits from the thesis's."""
    steps_t, images_t = thesis_scale()
    out = []
    for profile, runs in by_profile(results).items():
        parts = []
        for objective, name in (("natural", "natural"), ("trades", "TRADES")):
            rs = objective_runs(runs, objective)
            if rs:
                p = rs[0]["provenance"]
                parts.append(f"{p['steps']:,} steps on {p['n_train']:,} training images "
                             f"({name})")
        gap = accuracy_gap(runs)
        where = "" if math.isnan(gap) else (
            f"; its clean accuracy is on average {abs(gap):.0f} points "
            f"{'below' if gap >= 0 else 'above'} the thesis's")
        n_seeds = len({r["config"]["seed"] for r in runs})
        lead = "These numbers come from" if not out else f"The {profile} numbers come from"
        out.append(f"{lead} the {profile} profile ({len(runs)} run{'' if len(runs) == 1 else 's'}, "
                   f"{_seeds_phrase(n_seeds)}): "
                   f"{' and '.join(parts)}, where the thesis trains {steps_t:,} steps on "
                   f"{images_t:,}{where}.")
    return " ".join(out) if out else "No runs have results yet."


def claims_by_profile(results: list[dict]) -> dict[str, list[Claim]]:
    """The verdicts of :func:`claims` on each profile's runs (Thesis §5), by profile in the
    order of :func:`by_profile`: what :func:`verdict_table` shows."""
    return {profile: claims(runs) for profile, runs in by_profile(results).items()}


def verdict_table(verdicts: dict[str, list["Claim"]]) -> pd.DataFrame:
    """The claims' verdicts of every profile (``{profile: report.claims(runs)}``), one row
    per claim and profile, each evidence line on a line of its own. A claim that a profile
    other than the first has no runs for (no evidence at all) is left out for that profile."""
    rows, index = [], []
    for i, (profile, claims_) in enumerate(verdicts.items()):
        for c in claims_:
            if i and not c.evidence:
                continue
            index.append((f"({c.key}) {c.claim}", profile))
            rows.append({"Verdict": c.verdict_text, "Evidence": "\n".join(c.evidence) or "—"})
    frame = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["Claim",
                                                                             "Profile"]))
    frame = frame.sort_index(level=0, sort_remaining=False, kind="stable")
    frame.attrs["caption"] = ("Verdict of each claim on every profile that has the runs it "
                              "needs, with the evidence it rests on.")
    return frame


# -- the numbers of a chapter's prose, by the names it glues -----------------

def structure_values(results: list[dict]) -> dict[str, str]:
    """The numbers of the structure chapter's Table 1 paragraph (Thesis §4.1): zero fibres
    (output axis, %) before (``zero_99_*``) and after pruning (``pruned_99_*``) of the 99 %
    natural networks per strategy, whether their order is the thesis's (``order_99``), the
    95 % TRADES networks' (``zero_95t_*``) and the thesis's values for those."""
    z, zp = summary(results, "zero_fibres"), summary(results, "pruned_zero_fibres")
    out = {f"{key}_99_{rw}": f"{stats[('natural', 0.99, rw)].mean:.2f}"
           for key, stats in (("zero", z), ("pruned", zp)) for rw in STRATEGY_ORDER}
    m99 = [z[("natural", 0.99, rw)].mean for rw in STRATEGY_ORDER]
    out["order_99"] = ("appears here too" if m99[0] < m99[1] < m99[2] else
                       "does not appear in full here")
    out["zero_95t_wb"] = f"{z[('trades', 0.95, 'weight_based')].mean:.2f}"
    out["zero_95t_random"] = f"{z[('trades', 0.95, 'random')].mean:.2f}"
    out["thesis_95t"] = " and ".join(f"{v:g} %" for v in
                                     THESIS["zero_fibres"][("trades", 0.95)][::2])
    return out


def layer_values(results: list[dict], objective: str, sparsity: float, rewiring: str,
                 top: int = 4) -> dict[str, str]:
    """Where the zero fibres are (Thesis §4.1.1): the ``top`` layers with the most zero
    fibres (output axis, mean over the seeds of the cell) with their number of outputs, the
    length of their fibres (``top_layers``), and the most of the first two convolutions
    (``early_zero``). Layer shapes come from the runs' width and head, not a built network."""
    runs = [r for r in results if (r["config"]["objective"], r["config"]["sparsity"],
                                   r["config"]["rewiring"]) == (objective, sparsity, rewiring)]
    if not runs:
        raise ValueError(f"no runs of {objective} {sparsity} {rewiring}")
    c = runs[0]["config"]
    outputs = {s.name: s.outputs for s in layer_shapes(width=c["width"], head=c["head"])}
    per_layer = {n: statistics.fmean(r["zero_fibres"]["per_layer"][n]["out"] for r in runs)
                 for n in outputs}
    ranked = sorted(per_layer, key=per_layer.get, reverse=True)[:top]
    return {"top_layers": ", ".join(f"{n} ({outputs[n]} outputs)" for n in ranked),
            "early_zero": f"{max(per_layer['conv1'], per_layer['conv2']):.2f}"}


#: The reading of each claim's verdict (Thesis §5): one sentence for "holds", one for every
#: other verdict.
READING = {
    "a": ("Nearest-neighbour rewiring gathers the connections, and weight-based rewiring more "
          "so, in every setting tested.",
          "In at least one setting the ordering is reversed or not resolved from the "
          "seed-to-seed noise (see the evidence column)."),
    "b": ("In every setting the clean accuracy of both structured strategies lies within one "
          "point of unstructured rewiring, with 95 % confidence.",
          "The data do not show the strategies' clean accuracies to lie within one point of "
          "each other in every setting: either a comparison differs, or its interval is too "
          "wide to decide (see the evidence column)."),
    "c": ("Weight-based rewiring keeps clearly more accuracy after pruning than structured "
          "rewiring, as in the thesis.",
          "The advantage of weight-based over structured rewiring after pruning is not clear "
          "beyond the noise in every setting at this scale."),
    "d": ("The robust accuracy of both structured strategies lies within one point of "
          "unstructured rewiring, with 95 % confidence.",
          "The data do not show the strategies' robust accuracies to lie within one point of "
          "each other: either a comparison differs, or its interval is too wide to decide "
          "(see the evidence column)."),
}


def claim_values(results: list[dict]) -> dict[str, str]:
    """The discussion's numbers and sentences: the equivalence margin, per claim of
    :func:`claims` its verdict, the smallest margin its data could confirm and its
    :data:`READING`, and the range of coordinates revived per step in the runs' last epoch
    (``revived_last_min``, ``revived_last_max``)."""
    out = {"margin": f"{EQUIVALENCE_MARGIN:g}"}
    for c in claims(results):
        out[f"verdict_{c.key}"] = c.verdict_text
        out[f"margin_{c.key}"] = ("no interval could be computed" if c.smallest_margin is None
                                  else f"±{c.smallest_margin:.2f} points")
        out[f"reading_{c.key}"] = READING[c.key][c.verdict != "holds"]
    last = [r["rewiring_stats"]["revived_per_step_mean"][-1] for r in results]
    out["revived_last_min"], out["revived_last_max"] = f"{min(last):,.0f}", f"{max(last):,.0f}"
    return out


def n_test_text(results: list[dict]) -> str:
    """The number of test images the clean accuracy is measured on, per profile in the order
    of :func:`by_profile`: ``"1,000 (quick), 10,000 (long)"``."""
    return ", ".join(f"{runs[0]['provenance']['n_test']:,} ({profile})"
                     for profile, runs in by_profile(results).items())


def _thesis_text(values: Iterable[float]) -> str:
    """The thesis's values of a row, as the prose quotes them: ``"76.12 %, 58.29 %, ..."``."""
    return ", ".join(f"{v:.2f} %" for v in values)


def accuracy_values(results: list[dict]) -> dict[str, str]:
    """The numbers of the performance chapter's Table 2 paragraph (Thesis §4.2.1): the mean
    clean accuracy over seeds before (``acc_{row}_{strategy}``) and after single-fibre
    pruning (``pacc_{row}_{strategy}``) of every cell, one decimal, the rows named ``99``,
    ``95t`` and ``95n`` (99 % natural, 95 % TRADES, 95 % natural), and the thesis's accuracies
    after pruning (``thesis_pacc_99``, ``thesis_pacc_95t``)."""
    acc, pacc = summary(results, "clean"), summary(results, "pruned_clean")
    rows = {"99": ("natural", 0.99), "95t": ("trades", 0.95), "95n": ("natural", 0.95)}
    out = {}
    for key, row in rows.items():
        for rw in STRATEGY_ORDER:
            out[f"acc_{key}_{rw}"] = f"{acc[(*row, rw)].mean:.1f}"
            out[f"pacc_{key}_{rw}"] = f"{pacc[(*row, rw)].mean:.1f}"
    for key in ("99", "95t"):
        out[f"thesis_pacc_{key}"] = _thesis_text(THESIS["pruned_accuracy"][rows[key]])
    return out


def attack_text(results: list[dict]) -> str:
    """The evaluation attack of the TRADES runs in ``results`` in a line (Thesis §4.2.2):
    how many runs, their profile, the PGD budget (radius, steps and their size in 1/255,
    restarts), the number of attacked test images and TRADES's beta, read from the first."""
    trades = objective_runs(results, "trades")
    cfg, att = trades[0]["config"], trades[0]["robustness"]["attack"]
    eps255 = cfg["eval_eps"] * 255
    return (f"{len(trades)} TRADES runs, profile {cfg['profile']}; attack: Foolbox LinfPGD, "
            f"eps {eps255:.0f}/255, {cfg['pgd_steps']} steps of "
            f"{pgd_step_size(eps255, cfg['pgd_steps']):.2f}/255, {cfg['pgd_restarts']} "
            f"restarts, on {att['n_images']} test images; beta = {cfg['beta']}")


def robust_values(results: list[dict]) -> dict[str, str]:
    """The numbers of the robustness chapter's Table 3 paragraph (Thesis §4.2.2): TRADES's
    beta of these runs (``beta_ours``), the mean PGD accuracy over seeds of the 95 % TRADES
    networks per strategy (``rob_{strategy}``, one decimal) and the thesis's
    (``thesis_rob``)."""
    rob = summary(results, "robust")
    out = {"beta_ours": f"{objective_runs(results, 'trades')[0]['config']['beta']:g}"}
    out.update({f"rob_{rw}": f"{rob[('trades', 0.95, rw)].mean:.1f}" for rw in STRATEGY_ORDER})
    out["thesis_rob"] = _thesis_text(THESIS["table3_robust"][("trades", 0.95)])
    return out


def _pgd_gap(checks: pd.DataFrame) -> float:
    """The largest difference between Foolbox and native PGD accuracy over the runs of
    :func:`robustness_checks`, in points."""
    return (checks["PGD (Foolbox)"] - checks["PGD (native)"]).abs().max()


def cross_check_text(checks: pd.DataFrame) -> str:
    """What the sanity checks of :func:`robustness_checks` add up to, in two lines: the
    largest gap between Foolbox and native PGD, whether PGD ≤ FGSM ≤ clean held in every run,
    and the largest accuracy at eps = 0.5."""
    return (f"largest difference between Foolbox and native PGD: {_pgd_gap(checks):.2f} "
            "points\n"
            f"PGD ≤ FGSM ≤ clean in every run: {bool(checks['PGD ≤ FGSM ≤ clean'].all())}; "
            f"largest accuracy at eps = 0.5: {checks['acc. at ε=0.5'].max():.2f} %")


#: What the robustness chapter says of the two PGDs' random starts, for result files whose
#: attacks draw them from generators of their own, and for older ones.
STARTS_NOTE = {
    True: "In the result files shown here each attack draws its random starts from its own "
          "generator (`srewire.attacks.attack_seed`), so the two agree only up to the "
          "randomness of the attack.",
    False: "The result files shown here predate the separation of the two attacks' random "
           "starts: on their first batch both started from the same point, so there their "
           "agreement shows that the two implementations take the same steps, not that two "
           "independent attacks agree; recomputing the grid (or `python -m srewire evaluate "
           "RUN_DIR --attack pgd`) removes this.",
}
#: Where the "eval mode" column comes from, for result files whose attacks recorded the
#: modules' mode in their forward passes, and for older ones.
MODE_NOTE = {
    True: "recorded by the attack itself: a hook on every module notes the mode in each "
          "forward pass of the attacks (`srewire.attacks.ModeRecorder`)",
    False: "taken from the attack itself where a file recorded it (a hook on every module "
           "notes the mode in each forward pass, `srewire.attacks.ModeRecorder`); the "
           "committed files predate that recording and say \"not recorded\" rather than show "
           "a flag read from the model after the attacks. The AutoAttack evaluations above "
           "record it",
}


def cross_check_values(results: list[dict], checks: pd.DataFrame) -> dict[str, str]:
    """The sanity-check paragraph of the robustness chapter: the largest gap between Foolbox
    and native PGD (``fb_native_gap``, points, from :func:`robustness_checks`), whether every
    TRADES run's attacks drew their random starts independently (``starts_note``, from
    ``STARTS_NOTE``; files written before lack ``start_seeds``) and whether every run
    recorded the modules' mode during the attacks (``mode_note``, from ``MODE_NOTE``;
    older files lack ``modules_in_train_mode``)."""
    trades = objective_runs(results, "trades")
    independent = all("start_seeds" in r["robustness"]["attack"] for r in trades)
    recorded = all("modules_in_train_mode" in r["robustness"]["checks"] for r in trades)
    return {"fb_native_gap": f"{_pgd_gap(checks):.2f}", "starts_note": STARTS_NOTE[independent],
            "mode_note": MODE_NOTE[recorded]}
