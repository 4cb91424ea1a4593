"""Counting the aten operations a piece of code dispatches (the cost model of a GPU step: each
operation is at least one kernel launch, a few microseconds, however small its tensors).

Counted with a ``TorchDispatchMode``, so every operation that reaches the dispatcher counts,
views included; the count is deterministic, so tests may assert bounds on it (timings they may
not). Used by ``benchmarks/bench_rewiring.py --ops``, ``benchmarks/gpu_check.py`` and the tests.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["OpCounter", "count_ops"]


class OpCounter(TorchDispatchMode):
    """Counts aten operations by name while active (``with OpCounter() as ops: ...``)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())


def count_ops(fn: Callable[[], object]) -> OpCounter:
    """Run ``fn`` once and return the counter of the aten operations it dispatched."""
    with OpCounter() as counter:
        fn()
    return counter
