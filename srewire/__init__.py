"""srewire: structured adversarial rewiring for robust and sparse networks.

A companion implementation of B. Seidel, *Structured Adversarial Rewiring for Robust and Sparse
Neural Networks* (TU Graz, 2022/23), built on Özdenizci & Legenstein (ICML 2021).
"""

__version__ = "0.1.0"

#: Version of the training path (data order and augmentation, model, loss, optimiser,
#: rewiring, evaluation): raise it when a change alters what a run computes. Every result
#: records it (``provenance.training_version``); results written before it was recorded count
#: as version 1. The book never mixes versions within one profile (tests/test_results.py).
TRAINING_VERSION = 2
