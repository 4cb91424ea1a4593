"""The rewiring's options: strategies, distance metrics and tie-breaks (Thesis §3.2)."""

from __future__ import annotations

from typing import Literal

from ..config import STRATEGIES as _CONFIG_STRATEGIES

__all__ = ["STRATEGIES", "METRICS", "TIE_BREAKS", "INITIAL_FILLS", "Strategy", "Metric",
           "TieBreak", "InitialFill"]

Strategy = Literal["random", "structured", "weight_based"]
Metric = Literal["euclidean", "eq3"]
TieBreak = Literal["random", "lowest"]
InitialFill = Literal["strategy", "random"]
STRATEGIES: tuple[str, ...] = _CONFIG_STRATEGIES  # one home: srewire.config.STRATEGIES
METRICS: tuple[str, ...] = ("euclidean", "eq3")
TIE_BREAKS: tuple[str, ...] = ("random", "lowest")
# How the first step's deficit is filled: with the run's own strategy, or at random as the
# predecessor does (its first sample_connectivity call is the uniform choice).
INITIAL_FILLS: tuple[str, ...] = ("strategy", "random")
