"""Structure metrics, single-fibre pruning, SGDW and the schedule (Thesis §4.1; anchor §1.5)."""

import numpy as np
import pytest
import torch

from srewire.metrics import (connectivity_matrix, fibre_report, single_fibre_prune,
                             sparsity, zero_fibres)
from srewire.models import SparseConv2d, SparseLinear, VGG11, sparse_layers
from srewire.train import SGDW, schedule_factor


def test_zero_fibres_on_a_hand_made_mask():
    mask = torch.tensor([[1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=torch.bool)
    assert zero_fibres(mask, axis=0) == (1, 3)  # columns: only the last is all zero
    assert zero_fibres(mask, axis=1) == (1, 3)  # rows: only the middle one


def test_fibre_report_pools_layers_and_names_axes():
    model = VGG11(0.05, width=0.125)
    rep = fibre_report(model)
    assert rep["primary_axis"] == "out"
    assert set(rep["global"]) == {"out", "in", "kh", "kw"}
    assert set(rep["per_layer"]["dense1"]) == {"out", "in"}
    zero = total = 0
    for layer in sparse_layers(model):
        z, t = zero_fibres(layer.connected(), axis=0)
        zero, total = zero + z, total + t
    assert rep["global"]["out"] == pytest.approx(100 * zero / total)


def test_uniform_random_one_percent_fits_the_thesis_magnitude():
    """At 1 % uniform density the output-axis metric is a few percent (thesis: 2.07 %), while
    PyTorch's last axis (kw, length 3) would be ~97 % — the reason for the primary axis."""
    model = VGG11(0.01)
    g = torch.Generator().manual_seed(0)
    masks = [torch.rand(l.theta.shape, generator=g) < 0.01 for l in sparse_layers(model)]
    rep = fibre_report(model, masks)
    assert 1 < rep["global"]["out"] < 10
    assert rep["global"]["kw"] > 95


def test_single_fibre_prune_removes_exactly_the_lonely_weights():
    layer = SparseLinear(4, 3)  # theta (out=3, in=4); fibres along out are the columns
    with torch.no_grad():
        layer.theta.copy_(torch.tensor([[1., 0, 1, 0], [0, 0, 1, 0], [1., 1, 0, 0]]))
    model = torch.nn.Sequential(layer)
    pruned = single_fibre_prune(model)
    got = sparse_layers(pruned)[0].connected()
    expected = torch.tensor([[1, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(got, expected)  # column 1 had a single weight
    assert torch.equal(sparse_layers(model)[0].connected(), layer.connected())  # a copy
    assert fibre_report(pruned)["global"]["out"] == pytest.approx(50.0)


def test_connectivity_matrix_layout():
    conv = SparseConv2d(2, 5)  # theta (5, 2, 3, 3)
    with torch.no_grad():
        conv.theta.zero_()
        conv.theta[4, 1, 2, 0] = 1.0  # out 4, in 1, kh 2, kw 0
    m = connectivity_matrix(conv)
    assert m.shape == (3 * 3 * 2, 5)
    row = (2 * 3 + 0) * 2 + 1  # (kh, kw, in) flattened in TensorFlow order
    assert m[row, 4] and m.sum() == 1
    dense = SparseLinear(6, 4)
    assert connectivity_matrix(dense).shape == (6, 4)


def test_sparsity_report():
    model = VGG11(0.05, width=0.25)
    sp = sparsity(model)
    assert sp["size"] == sum(l.size for l in sparse_layers(model))
    assert sp["global"] == pytest.approx(1 - sp["connections"] / sp["size"])


def test_sgdw_matches_the_keras_update():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SGDW([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    v = torch.zeros(2)
    ref = torch.tensor([1.0, -2.0])
    for lr, g in [(0.1, torch.tensor([0.5, 1.0])), (0.1, torch.tensor([-1.0, 2.0])),
                  (0.01, torch.tensor([0.3, 0.3]))]:
        opt.param_groups[0]["lr"] = lr
        p.grad = g.clone()
        opt.step()
        ref = ref * (1 - 0.01)
        v = 0.9 * v - lr * g
        ref = ref + v
        assert torch.allclose(p.detach(), ref, atol=1e-7)


def test_schedule_boundaries_follow_piecewise_constant_decay():
    total = 39_000
    assert schedule_factor(0, total) == 1.0
    assert schedule_factor(19_500, total) == 1.0
    assert schedule_factor(19_501, total) == 0.1
    assert schedule_factor(29_250, total) == 0.1
    assert schedule_factor(29_251, total) == 0.01
