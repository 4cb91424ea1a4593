"""srewire: structured adversarial rewiring for robust and sparse networks.

A companion implementation of B. Seidel, *Structured Adversarial Rewiring for Robust and Sparse
Neural Networks* (TU Graz, 2022/23), built on Özdenizci & Legenstein (ICML 2021).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package itself imports no torch until a function needs it
    import torch

    from .models import VGG11

__version__ = "0.1.0"

#: Version of the training path (data order and augmentation, model, loss, optimiser,
#: rewiring, evaluation): raise it when a change alters what a run computes. Every result
#: records it (``provenance.training_version``); results written before it was recorded count
#: as version 1. The book never mixes versions within one profile (tests/test_results.py).
TRAINING_VERSION = 2


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> VGG11:
    """The trained network of a run folder (``result.json`` + ``weights.npz``), exactly as
    saved, in eval mode: ``srewire.load_model("results/quick/trades_s0.95_random_seed0")``.
    See :func:`srewire.reevaluate.load_model`."""
    from .reevaluate import load_model as _load

    return _load(run_dir, device)
