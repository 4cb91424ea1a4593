"""Small, fast rewiring experiments for the book's illustrations (Thesis §3.2 and "Expected
outcomes").

* :func:`toy_layer` — one 2-D sparse layer whose connections drift like noisy gradient steps
  under weight decay, rewired by the real :class:`srewire.rewiring.Rewirer`. It shows, in
  seconds, what each strategy does to where connections live (Thesis Figure 2).
* :func:`sweep_configs` — the connectivity sweep of the "Expected outcomes" chapter: short
  trainings of a narrow VGG11 at several connectivities, with the structure recorded after
  every epoch, run through :func:`srewire.runs.run` so they are cached like every other run.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import STRATEGIES, Config, make_config
from .models import SparseLinear
from .rewiring import Rewirer

__all__ = ["toy_layer", "sweep_configs", "ensure_sweep", "SWEEP_CONNECTIVITIES"]


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
