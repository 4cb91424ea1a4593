"""srewire: structured adversarial rewiring for robust and sparse networks.

A companion implementation of B. Seidel, *Structured Adversarial Rewiring for Robust and Sparse
Neural Networks* (TU Graz, 2022/23), built on Özdenizci & Legenstein (ICML 2021).
"""

__version__ = "0.1.0"
