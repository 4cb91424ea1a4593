"""What one rewiring step did (both placements return it)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RewireStats"]


@dataclass
class RewireStats:
    """What one rewiring step did (all counts are over all sparse layers). The host step
    returns ints; the device step 0-dimensional device tensors (read them when needed)."""

    connected: int | torch.Tensor          # after the optimiser step and the noise, before refill
    died: int | torch.Tensor               # connected before the step and not now
    revived: int | torch.Tensor            # dormant coordinates set to epsilon by this step
    revived_then_died: int | torch.Tensor  # revived by the previous step, dormant again
