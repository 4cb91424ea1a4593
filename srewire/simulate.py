"""Small, fast rewiring experiments for the book's illustrations (Thesis §3.2 and "Expected
outcomes").

* :func:`toy_layer` — one 2-D sparse layer whose connections drift like noisy gradient steps
  under weight decay, rewired by the real :class:`srewire.rewiring.Rewirer`. It shows, in
  seconds, what each strategy does to where connections live (Thesis Figure 2);
  :func:`figure2_masks`, :func:`figure2_panels`, :func:`zero_fibre_shares`,
  :func:`zero_fibre_text` and :func:`zero_fibre_values` are the method chapter's Figure 2 and
  its zero-fibre numbers.
* :func:`claims_by_distance` — the dormant cells a few samples claim under the Euclidean
  distance and under Equation 3 as printed (Thesis §3.2, Algorithm 1).
* :func:`sweep_configs` — the connectivity sweep of the "Expected outcomes" chapter: short
  trainings of a narrow VGG11 at several connectivities, with the structure recorded after
  every epoch, run through :func:`srewire.runs.run` so they are cached like every other run.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import STRATEGIES, Config, make_config
from .metrics import connectivity_matrix, zero_fibres
from .models import SparseLinear
from .rewiring import Rewirer, nearest_dormant

__all__ = ["toy_layer", "claims_by_distance", "FIGURE2_LABELS", "figure2_masks",
           "figure2_panels", "zero_fibre_shares", "zero_fibre_text", "zero_fibre_values",
           "sweep_configs", "ensure_sweep", "SWEEP_CONNECTIVITIES"]


def toy_layer(shape: tuple[int, int] = (32, 64), connectivity: float = 0.1, steps: int = 2000,
              strategy: str = "structured", *, lr: float = 0.05, weight_decay: float = 5e-3,
              snapshots: tuple[int, ...] = (0, 200, 2000), metric: str = "euclidean",
              seed: int = 0) -> dict[int, np.ndarray]:
    """Connectivity snapshots {step: bool (rows, cols)} of a drifting, rewired 2-D layer.

    Each step every connected theta takes a random step ``lr * N(0, 1)`` and shrinks by the
    weight decay; connections that cross zero die, and the Rewirer revives as many with the
    chosen strategy. Step 0 is the random initial mask (filled to the budget).
    """
    g = torch.Generator().manual_seed(seed)
    layer = SparseLinear(shape[1], shape[0])
    layer.reset_sparse(connectivity, g)
    rewirer = Rewirer([layer], connectivity, strategy=strategy, metric=metric, seed=seed)
    out = {0: layer.connected().numpy().copy()} if 0 in snapshots else {}
    theta = layer.theta.detach()
    for step in range(1, steps + 1):
        with torch.no_grad():
            connected = theta > 0
            theta.mul_(1 - weight_decay)
            theta.add_(lr * torch.randn(theta.shape, generator=g) * connected)
        rewirer.step(lr)
        if step in snapshots:
            out[step] = layer.connected().numpy().copy()
    return out



def claims_by_distance(connected: torch.Tensor, sources: torch.Tensor) -> dict[str, list[int]]:
    """The dormant cells that ``sources`` (flat indices into the 2-D mask ``connected``)
    claim, in claim order, ties to the lowest index, under the Euclidean distance and under
    Equation 3 as printed (Thesis §3.2, Algorithm 1): ``{panel title: [cell, ...]}``, the
    titles ``"Euclidean distance"`` and ``"Equation 3 as printed"``."""
    titles = {"euclidean": "Euclidean distance", "eq3": "Equation 3 as printed"}
    return {title: nearest_dormant(connected, sources, metric=metric,
                                   tie_break="lowest").tolist()
            for metric, title in titles.items()}


#: The simulations of Figure 2 (Thesis §3.2, Figure 2), by key: (strategy, distance).
_FIGURE2_RUNS = {"random": ("random", "euclidean"), "structured": ("structured", "euclidean"),
                 "weight_based": ("weight_based", "euclidean"), "eq3": ("structured", "eq3")}
#: What Figure 2 calls each mask of :func:`figure2_masks`.
FIGURE2_LABELS = {"initial": "Initial (random)", "random": "Unstructured",
                  "structured": "Structured", "weight_based": "Weight-based",
                  "eq3": "Structured, Eq. 3"}


def figure2_masks(shape: tuple[int, int] = (48, 48), connectivity: float = 0.1,
                  steps: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """The connectivity matrices of the regenerated Figure 2 (Thesis §3.2, Figure 2), rows
    the fibres (:func:`srewire.metrics.connectivity_matrix`), by the keys of
    :data:`FIGURE2_LABELS`: ``"initial"``, the random mask every simulation starts from, then
    the mask after ``steps`` steps of :func:`toy_layer` with random, structured and
    weight-based rewiring (Euclidean distance) and with structured rewiring under Equation 3
    (``"eq3"``)."""
    out: dict[str, np.ndarray] = {}
    for key, (strategy, metric) in _FIGURE2_RUNS.items():
        snaps = toy_layer(shape, connectivity, steps, strategy, metric=metric, seed=seed,
                          snapshots=(0, steps))
        out.setdefault("initial", connectivity_matrix(snaps[0]))
        out[key] = connectivity_matrix(snaps[steps])
    return out


def figure2_panels(masks: dict[str, np.ndarray], steps: int
                   ) -> tuple[list[np.ndarray], list[str]]:
    """The panels of Figure 2 for :func:`srewire.plots.mask_panels`: the matrices of
    :func:`figure2_masks` in the order of :data:`FIGURE2_LABELS`, and their titles (the
    label, and for a simulated mask the step it was taken at)."""
    keys = [k for k in FIGURE2_LABELS if k in masks]
    titles = [FIGURE2_LABELS[k] if k == "initial" else f"{FIGURE2_LABELS[k]}, step {steps}"
              for k in keys]
    return [masks[k] for k in keys], titles


def zero_fibre_shares(masks: dict[str, np.ndarray]) -> dict[str, float]:
    """The percentage of zero fibres (empty rows, Thesis §4.1) of each matrix of
    :func:`figure2_masks`, by its key."""
    out = {}
    for key, matrix in masks.items():
        zero, total = zero_fibres(torch.from_numpy(matrix), axis=1)
        out[key] = 100 * zero / total
    return out


def zero_fibre_text(shares: dict[str, float]) -> str:
    """One line per mask of :func:`zero_fibre_shares`: its label (the initial mask's in lower
    case) and its zero fibres in %."""
    return "\n".join(f"{FIGURE2_LABELS[k].lower() if k == 'initial' else FIGURE2_LABELS[k]:22s}"
                     f" zero fibres {pct:5.1f} %" for k, pct in shares.items())


def zero_fibre_values(shares: dict[str, float]) -> dict[str, str]:
    """The zero fibres (%, one decimal) of the simulated masks of :func:`zero_fibre_shares`
    by the names the method chapter glues: ``toy_zero_random``, ``toy_zero_structured``,
    ``toy_zero_wb`` and ``toy_zero_eq3``."""
    names = {"random": "toy_zero_random", "structured": "toy_zero_structured",
             "weight_based": "toy_zero_wb", "eq3": "toy_zero_eq3"}
    return {name: f"{shares[key]:.1f}" for key, name in names.items()}

# Connectivities of the sweep: from far below the thesis's 1 % to a "relatively high" 20 %.
SWEEP_CONNECTIVITIES = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)

_SWEEP_SIZES = {
    "smoke": dict(width=0.125, n_train=256, n_test=128, epochs=2, batch_size=32),
    "quick": dict(width=0.25, n_train=4096, n_test=1000, epochs=6),
    "paper": dict(width=0.5, n_train=None, n_test=None, epochs=30),
}


def sweep_configs(profile: str, strategies: tuple[str, ...] = STRATEGIES,
                  connectivities: tuple[float, ...] = SWEEP_CONNECTIVITIES,
                  seed: int = 0) -> list[Config]:
    """Natural-training configurations of the connectivity sweep (structure tracked per epoch)."""
    sizes = _SWEEP_SIZES[profile]
    return [make_config(profile, "natural", round(1 - c, 6), strategy, seed,
                        track_structure=True, **sizes)
            for c in connectivities for strategy in strategies]


def ensure_sweep(profile: str, results_dir: str, *, data_root: str | None = None,
                 force: bool = False, strategies: tuple[str, ...] = STRATEGIES) -> list[dict]:
    """Run (or read back) every run of the connectivity sweep; results under
    ``results_dir/profile/sweep``."""
    from pathlib import Path

    from .runs import run, run_name

    out = []
    for cfg in sweep_configs(profile, strategies):
        folder = Path(results_dir) / profile / "sweep" / run_name(cfg)
        out.append(run(cfg, folder, data_root=data_root, quiet=True, restart=force))
    return out
