"""Structure metrics: sparsity, zero fibres (the thesis's "zero vectors"), single-fibre pruning.

Thesis §4.1 measures structure as the percentage of *lowest-dimensional vectors* that contain
only zeros ("zero vectors"), before and after zeroing every weight that is alone in its
vector ("after pruning", no fine-tuning). This package calls such a vector a *fibre* (a 1-D
slice of a weight tensor along one axis) and an all-zero one a *zero fibre*; the book defines
it with a picture (chapter "The method", section "Zero fibres").

Which axis? The thesis does not say. The predecessor's TensorFlow kernels are laid out
(kh, kw, C_in, C_out) for convolutions and (n_in, n_out) for dense layers; fibres along the
last axis, the *output channels*, are one input position each (one im2col row), and a zero
fibre is an input position that no filter reads. Their counts fit the thesis's magnitudes
(about 2 % zero fibres for a uniformly random 1 % dense network, against about 97 % along
PyTorch's last axis, kw), so that the thesis counted along it is our inference, and the
primary metric runs along the output axis (``"out"``); the other axes are reported too. Only sparse weights count (conv kernels and dense matrices; BatchNorm and biases
are dense and excluded).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .models import SparseLayer, layer_names, sparse_layers

__all__ = ["PRIMARY_AXIS", "sparsity", "zero_fibres", "fibre_report", "single_fibre_prune",
           "connectivity_matrix"]

PRIMARY_AXIS = "out"


def sparsity(model: nn.Module) -> dict:
    """Measured sparsity (fraction of dormant weights), global and per layer."""
    layers = sparse_layers(model)
    conn = [int(layer.connected().sum()) for layer in layers]
    sizes = [layer.size for layer in layers]
    return {
        "global": 1 - sum(conn) / sum(sizes),
        "per_layer": {n: 1 - c / s for n, c, s in zip(layer_names(model), conn, sizes)},
        "connections": sum(conn),
        "size": sum(sizes),
    }


def zero_fibres(mask: torch.Tensor, axis: int) -> tuple[int, int]:
    """(zero fibres, all fibres) of a connectivity mask along ``axis``."""
    return int((~mask.any(dim=axis)).sum()), mask.numel() // mask.shape[axis]


def fibre_report(model: nn.Module, masks: list[torch.Tensor] | None = None) -> dict:
    """Percent of all-zero fibres along every axis, global and per layer.

    Returns ``{"primary_axis": "out", "global": {axis: pct}, "per_layer": {layer: {axis:
    pct}}}``. Axes are named in PyTorch layout: conv (out, in, kh, kw), dense (out, in);
    "global" pools the fibres of all layers that have that axis.
    """
    layers = sparse_layers(model)
    masks = masks if masks is not None else [layer.connected() for layer in layers]
    totals: dict[str, list[int]] = {}
    per_layer: dict[str, dict[str, float]] = {}
    for name, layer, mask in zip(layer_names(model), layers, masks):
        per_layer[name] = {}
        for axis, axis_name in enumerate(layer.axis_names):
            zero, total = zero_fibres(mask, axis)
            per_layer[name][axis_name] = 100.0 * zero / total
            acc = totals.setdefault(axis_name, [0, 0])
            acc[0] += zero
            acc[1] += total
    return {"primary_axis": PRIMARY_AXIS,
            "global": {a: 100.0 * z / t for a, (z, t) in totals.items()},
            "per_layer": per_layer}


def single_fibre_prune(model: nn.Module, axis: str = PRIMARY_AXIS) -> nn.Module:
    """A copy of ``model`` with every weight that is alone in its fibre along ``axis`` set
    dormant (theta = 0). No fine-tuning (Thesis §4.1, "after pruning")."""
    pruned = copy.deepcopy(model)
    with torch.no_grad():
        for layer in sparse_layers(pruned):
            dim = layer.axis_names.index(axis)
            mask = layer.connected()
            alone = mask.sum(dim=dim, keepdim=True) == 1
            layer.theta[mask & alone] = 0.0
    return pruned


def connectivity_matrix(layer: SparseLayer | torch.Tensor | np.ndarray) -> np.ndarray:
    """A layer's connectivity as a 2-D bool matrix in the predecessor's layout.

    Accepts a sparse layer or its connectivity mask (PyTorch layout). Rows are the output-axis
    fibres: the TensorFlow kernel reshaped to (kh * kw * C_in, C_out) for a convolution and
    (n_in, n_out) for a dense layer, so a row of zeros is a zero fibre of the primary metric.
    """
    mask = layer.connected() if isinstance(layer, SparseLayer) else layer
    mask = torch.as_tensor(np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask))
    if mask.dim() == 4:  # (out, in, kh, kw) -> (kh, kw, in, out)
        return mask.permute(2, 3, 1, 0).reshape(-1, mask.shape[0]).numpy()
    return mask.t().contiguous().numpy()
