"""The three regimes the thesis expects, read off the connectivity sweep (Thesis §3.2,
"Expected outcomes").

The thesis predicts that structured rewiring (1) does not converge at high connectivity,
(2) converges in structure only, with accuracy lost, at very low connectivity, and (3) evolves
optimally in between. :func:`classify` names the connectivities of a sweep
(:func:`srewire.simulate.sweep_configs`) by these regimes with rules fixed here:

* **frozen**: no strategy revives a single coordinate: the initial mask already holds more
  connections than the budget, so nothing rewires;
* **regime 2**: the lowest connectivity at which rewiring acts;
* **regime 1**: the highest connectivity of the sweep;
* **regime 3**: the connectivity above the regime-2 point (and below the regime-1 point
  where there is room) at which weight-based rewiring leaves the most zero fibres more than
  random rewiring.

:func:`initial_mask` is the arithmetic behind "frozen" for any VGG11, from the layer shapes
alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .models import initial_densities, layer_shapes
from .report import STRATEGY_LABELS, THESIS, thesis_scale

__all__ = ["Regimes", "classify", "initial_mask", "sweep_table", "sweep_scale", "sentences",
           "THESIS_LOWEST", "THESIS_CONNECTIVITY"]

#: The lowest connectivity the thesis names (regime 2, "0.05 %").
THESIS_LOWEST = 0.0005
#: The connectivity of the thesis's 99 % sparse networks.
THESIS_CONNECTIVITY = 0.01

_SHORT = {"random": "unstr.", "structured": "struct.", "weight_based": "weight-b."}
_VALUES = ("connected at the end (%)", "zero fibres (%)", "clean accuracy (%)")

Key = tuple[float, str]


def _connectivity(result: dict) -> float:
    return round(1 - result["config"]["sparsity"], 4)


@dataclass(frozen=True)
class Regimes:
    """A sweep's connectivities by regime, with the numbers the rules read.

    ``zero`` and ``accuracy`` map (connectivity, strategy) to the zero fibres (output axis, %)
    and the clean accuracy (%) at the end of training; ``gain`` maps an active connectivity to
    weight-based minus random zero fibres (points)."""

    frozen: list[float]
    active: list[float]
    low: float
    high: float
    best: float
    above: list[float]
    zero: dict[Key, float]
    accuracy: dict[Key, float]
    gain: dict[float, float]

    def regime_of(self, connectivity: float) -> str:
        """Where ``connectivity`` lies, in words."""
        if connectivity in self.frozen:
            return "below the budget of the initial mask, where nothing moves"
        if connectivity == self.low:
            return "at the regime-2 point of this narrow, briefly trained network"
        if connectivity == self.high:
            return "at the regime-1 end"
        if connectivity in self.above:
            return "in this range"
        return "outside the sweep"


def classify(sweep: list[dict]) -> Regimes:
    """The regimes of a sweep (one result per connectivity and strategy; every strategy of
    ``srewire.report.STRATEGY_LABELS`` at every connectivity), by the module's rules.
    Raises ValueError when rewiring acts at no connectivity."""
    by = {(_connectivity(r), r["config"]["rewiring"]): r for r in sweep}
    conns = sorted({c for c, _ in by})
    revived = {c: sum(sum(by[(c, s)]["rewiring_stats"]["revived_per_step_mean"])
                      for s in STRATEGY_LABELS) for c in conns}
    frozen = [c for c in conns if revived[c] == 0]
    active = [c for c in conns if revived[c] > 0]
    if not active:
        raise ValueError("rewiring acts at no connectivity of the sweep")
    zero = {k: r["zero_fibres"]["global"]["out"] for k, r in by.items()}
    accuracy = {k: r["clean_accuracy"] for k, r in by.items()}
    gain = {c: zero[(c, "weight_based")] - zero[(c, "random")] for c in active}
    low, high = active[0], active[-1]
    # Regime 3 is looked for above the regime-2 point, so one connectivity never gets both names.
    above = [c for c in active if low < c < high] or [c for c in active if c > low] or [low]
    best = max(above, key=lambda c: gain[c])
    return Regimes(frozen, active, low, high, best, above, zero, accuracy, gain)


def initial_mask(connectivity: float, *, width: float = 1.0, head: str = "predecessor"
                 ) -> tuple[int, int]:
    """(budget, initial connections) of a VGG11 at ``connectivity``: the budget is
    ``int(connectivity * weights)``, the initial mask keeps ``int(density * size)`` in every
    layer at the predecessor's initial densities (:func:`srewire.models.initial_densities`),
    counted from the layer shapes without building the network. Rewiring revives nothing
    while the initial mask holds more connections than the budget."""
    shapes = layer_shapes(width=width, head=head)
    sizes = [s.weights for s in shapes]
    n_conv = sum(s.kind == "conv" for s in shapes)
    densities = initial_densities(n_conv, len(shapes) - n_conv, connectivity)
    return (int(connectivity * sum(sizes)),
            sum(int(d * size) for d, size in zip(densities, sizes)))


def sweep_table(sweep: list[dict]) -> pd.DataFrame:
    """Connections kept, zero fibres and clean accuracy at the end of training, one row per
    connectivity budget (%) and a column per quantity and strategy, rounded to 2 digits."""
    rows = [{"budget (%)": round(100 * (1 - r["config"]["sparsity"]), 2),
             "strategy": _SHORT[r["config"]["rewiring"]],
             "connected at the end (%)": round(100 * (1 - r["sparsity"]["global"]), 2),
             "zero fibres (%)": r["zero_fibres"]["global"]["out"],
             "clean accuracy (%)": r["clean_accuracy"]} for r in sweep]
    table = pd.DataFrame(rows).pivot_table(index="budget (%)", columns="strategy",
                                           values=list(_VALUES))
    table = table[[(v, s) for v in _VALUES for s in _SHORT.values()]].round(2)
    table.attrs["caption"] = (
        "Connections kept, zero fibres and clean accuracy at the end of training, per "
        "connectivity budget and strategy (one run each; unstr. = unstructured, struct. = "
        "structured, weight-b. = structured weight-based). Below the initial mask's own count "
        "the network keeps more connections than its budget.")
    return table


def sweep_scale(sweep: list[dict]) -> str:
    """The sweep's scale against the thesis's, in a sentence."""
    c, p = sweep[0]["config"], sweep[0]["provenance"]
    thesis_steps, thesis_images = thesis_scale()
    thesis_acc = [v for row in THESIS["clean_accuracy"].values() for v in row]
    return (f"The sweep's {len(sweep)} runs come from the {c['profile']} profile "
            f"(seed {c['seed']}): VGG11 at width {c['width']:g}, {p['steps']:,} steps on "
            f"{p['n_train']:,} training images, where the thesis trains the full-width network "
            f"for {thesis_steps:,} steps on {thesis_images:,}. Its best clean accuracy is "
            f"{max(r['clean_accuracy'] for r in sweep):.1f} %, against "
            f"{min(thesis_acc):.0f}–{max(thesis_acc):.0f} % for the thesis's networks.")


def sentences(sweep: list[dict]) -> dict[str, str]:
    """The numbers and phrases of the chapter's regime paragraphs, by the names its prose
    glues (``sweep_*`` from the sweep, ``full_*`` for the full-width network at the thesis's
    lowest connectivity)."""
    r = classify(sweep)
    low, high = r.low, r.high
    high_zero = max(r.zero[(high, s)] for s in STRATEGY_LABELS)
    budget, initial = initial_mask(THESIS_LOWEST)
    above_low = [r.accuracy[(c, s)] for c in r.active if c > low for s in STRATEGY_LABELS]
    return {
        "sweep_scale": sweep_scale(sweep),
        "sweep_frozen": ", ".join(f"{100 * c:g} %" for c in r.frozen) or "none",
        "sweep_n_frozen": str(len(r.frozen)),
        "sweep_best_conn": f"{100 * r.best:g}",
        "sweep_best_gain": f"{r.gain[r.best]:.1f}",
        "sweep_low_gain": f"{r.gain[low]:.1f}",
        "sweep_high_conn": f"{100 * high:g}",
        "sweep_high_clause": (
            "not a single fibre is empty with any strategy" if high_zero == 0 else
            f"at most {high_zero:.2f} % of the fibres are empty with any strategy "
            f"(weight-based minus random: {r.gain[high]:.2f} points)"),
        "sweep_thesis_place": r.regime_of(THESIS_CONNECTIVITY),
        "sweep_low_conn": f"{100 * low:g}",
        "sweep_low_ratio": f"{low / THESIS_LOWEST:g}",
        "sweep_low_zero": ", ".join(f"{label} {r.zero[(low, s)]:.1f} %"
                                    for s, label in STRATEGY_LABELS.items()),
        "sweep_low_acc": f"{max(r.accuracy[(low, s)] for s in STRATEGY_LABELS):.1f}",
        "full_budget": f"{budget:,}",
        "full_initial": f"{initial:,}",
        "sweep_mid_acc": f"{min(above_low):.1f}" if above_low else "n/a",
    }
