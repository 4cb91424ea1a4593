"""Array helpers of the host step: NumPy on a CPU, torch elsewhere.

The rewiring step sorts, filters and compacts arrays of 10^3 to 10^6 integers. On a CPU,
NumPy does these several times faster than torch (benchmarks/bench_rewiring.py prints the
ratios), with the same results; on a GPU the torch operations run where the data is.
Setting ``NUMPY_ON_CPU`` to False runs the torch operations on a CPU too (the tests use this
to check the GPU code path against the CPU one).
"""

from __future__ import annotations

import numpy as np
import torch

NUMPY_ON_CPU = True


def _numpy(x: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and x.device.type == "cpu"


def _sorted(x: torch.Tensor) -> torch.Tensor:
    """The values of a 1-D tensor in ascending order."""
    return torch.from_numpy(np.sort(x.numpy())) if _numpy(x) else x.sort().values


def _unique(x: torch.Tensor) -> torch.Tensor:
    """The distinct values of a 1-D tensor, ascending (``torch.unique``)."""
    if not _numpy(x):
        return torch.unique(x)
    a = np.sort(x.numpy())
    keep = np.ones(a.size, dtype=bool)
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return torch.from_numpy(a[keep])


def _true_positions(mask: torch.Tensor) -> torch.Tensor:
    """Flat positions of True in a 1-D bool mask, ascending."""
    if _numpy(mask):
        return torch.from_numpy(np.flatnonzero(mask.numpy()).astype(np.int64, copy=False))
    return mask.nonzero().squeeze(1)


def _compress(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x[mask]`` for 1-D tensors."""
    if not _numpy(x):
        return x[mask]
    m = mask.numpy()
    # NumPy's boolean indexing copies long runs fast but stumbles over a mask that flips at
    # random; np.compress is steady. Masks here are mostly True (or mostly False).
    if 0.1 * m.size < np.count_nonzero(m) < 0.9 * m.size:
        return torch.from_numpy(np.compress(m, x.numpy()))
    return torch.from_numpy(x.numpy()[m])

