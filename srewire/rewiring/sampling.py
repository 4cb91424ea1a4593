"""Uniform sampling of distinct indices for the host step (random revival and the sources of
structured rewiring)."""

from __future__ import annotations

import torch

from ..rng import draw
from .arrays import _compress, _unique
from .space import _dormant


def _sample_distinct(pool: int, n: int, generator: torch.Generator | None,
                     theta: torch.Tensor | None = None, n_dormant: int | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` distinct indices drawn uniformly from ``[0, pool)``, in random order; with
    ``theta`` given, only dormant ones (:func:`~.space._dormant`, ``n_dormant`` of them).

    Uniform draws with replacement, filtered to dormant indices, give an exchangeable set of
    distinct indices; a uniformly random n-subset of it is a uniform n-subset of all dormant
    indices. Cost O(n log n), not O(pool). Small or nearly exhausted pools are enumerated.
    """
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    n_accept = pool if n_dormant is None else n_dormant
    if n_accept < 4 * n or pool <= 4096:
        found = (torch.arange(pool, device=device) if theta is None
                 else _dormant(theta).nonzero().squeeze(1))
    else:
        found = torch.empty(0, dtype=torch.long, device=device)
        while found.numel() < n:
            draws = int((n - found.numel()) * pool / n_accept * 1.25) + 16
            cand = draw(torch.randint, 0, pool, (draws,), generator=generator, device=device)
            if theta is not None:
                cand = _compress(cand, _dormant(theta.index_select(0, cand)))
            found = _unique(torch.cat([found, cand]) if found.numel() else cand)
    return found.index_select(
        0, draw(torch.randperm, found.numel(), generator=generator, device=device)[:n])


def _concat_take(a: torch.Tensor, b: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``torch.cat([a, b])[order]`` without building the concatenation."""
    if b.numel() == 0:
        return a.index_select(0, order)
    if a.numel() == 0:
        return b.index_select(0, order)
    na = a.numel()
    return torch.where(order < na, a[order.clamp(max=na - 1)], b[(order - na).clamp(min=0)])

