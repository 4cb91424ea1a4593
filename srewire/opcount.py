"""Counting the aten operations a piece of code dispatches (the cost model of a GPU step: each
operation is at least one kernel launch, a few microseconds, however small its tensors).

Counted with a ``TorchDispatchMode``, so every operation that reaches the dispatcher counts,
views included; the count is deterministic, so tests may assert bounds on it (timings they may
not). Used by ``benchmarks/bench_rewiring.py --ops``, ``benchmarks/gpu_check.py`` and the tests.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["OpCounter", "count_ops"]


class OpCounter(TorchDispatchMode):
    """Counts aten operations by name while active (``with OpCounter() as ops: ...``)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()
        #: the most elements any operation produced, in-place operations and views aside
        #: (their output is a tensor that already existed)
        self.largest = 0
        #: the element counts of those outputs (a step that touches every coordinate makes
        #: an output of the network's size)
        self.numels: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket.__name__)
        self.ops[name] += 1
        out = func(*args, **(kwargs or {}))
        if not name.endswith("_") and not func.is_view:
            for t in (out if isinstance(out, (tuple, list)) else [out]):
                if isinstance(t, torch.Tensor):
                    self.largest = max(self.largest, t.numel())
                    self.numels.add(t.numel())
        return out

    @property
    def total(self) -> int:
        return sum(self.ops.values())


def count_ops(fn: Callable[[], object]) -> OpCounter:
    """Run ``fn`` once and return the counter of the aten operations it dispatched."""
    with OpCounter() as counter:
        fn()
    return counter
