"""Sparse parameterisation and VGG11 layout (Thesis §2.2.2, §4; anchor notes §1.1, §1.4, §1.6)."""

import math

import pytest
import torch

from srewire.models import (SparseConv2d, SparseLinear, VGG11, initial_densities, layer_names,
                            sparse_layers)


def test_vgg11_predecessor_layout_and_budget():
    model = VGG11(0.05)
    layers = sparse_layers(model)
    shapes = [tuple(layer.theta.shape) for layer in layers]
    assert shapes == [(64, 3, 3, 3), (128, 64, 3, 3), (256, 128, 3, 3), (256, 256, 3, 3),
                      (512, 256, 3, 3), (512, 512, 3, 3), (512, 512, 3, 3), (512, 512, 3, 3),
                      (256, 2048), (256, 256), (10, 256)]
    total = sum(layer.size for layer in layers)
    assert total == 9_810_112  # anchor notes §6.6
    densities = initial_densities(8, 3, 0.05)
    expected = sum(int(d * layer.size) for d, layer in zip(densities, layers))
    assert sum(int(layer.connected().sum()) for layer in layers) == expected == 260_616
    assert int(0.05 * total) - expected == 229_889  # the deficit filled at the first rewiring
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_classic_head_and_width():
    model = VGG11(0.1, head="classic", width=0.25)
    layers = sparse_layers(model)
    assert tuple(layers[-1].theta.shape) == (10, 128)
    assert len(layers) == 9
    assert model(torch.rand(3, 3, 32, 32)).shape == (3, 10)
    assert layer_names(model) == [f"conv{i}" for i in range(1, 9)] + ["dense1"]
    with pytest.raises(ValueError, match="head"):
        VGG11(0.1, head="resnet")


def test_initial_densities_rule():
    assert initial_densities(8, 3, 0.01) == [0.6, 0.2] + [0.005] * 6 + [0.005, 0.005, 0.6]


def test_init_magnitudes_signs_and_exact_counts():
    layer = SparseConv2d(32, 64)
    layer.reset_sparse(0.3, torch.Generator().manual_seed(1))
    theta, sign = layer.theta.detach(), layer.sign
    assert int((theta > 0).sum()) == int(0.3 * layer.size)
    assert bool((theta >= 0).all())
    assert set(sign.unique().tolist()) == {-1.0, 1.0}
    # |He-normal| with dense fan-in, truncated at two standard deviations (Keras he_normal)
    std = math.sqrt(2 / (32 * 9)) / 0.87962566103423978
    assert float(theta.max()) <= 2 * std + 1e-7
    assert abs(float(theta[theta > 0].pow(2).mean().sqrt()) - math.sqrt(2 / (32 * 9))) < 0.1 * std
    # sign is balanced (binomial; 18432 draws)
    assert abs(float(sign.mean())) < 0.05


def test_effective_weight_and_dormant_gradient_is_exactly_zero():
    layer = SparseLinear(4, 3)
    with torch.no_grad():
        layer.theta.copy_(torch.tensor([[0.5, 0.0, -0.2, 1.0]] * 3))
        layer.sign.copy_(torch.tensor([[1.0, -1.0, 1.0, -1.0]] * 3))
    w = layer.weight()
    assert torch.equal(w[0], torch.tensor([0.5, 0.0, 0.0, -1.0]))
    layer(torch.ones(1, 4)).sum().backward()
    grad = layer.theta.grad[0]
    assert grad[1] == 0 and grad[2] == 0  # theta == 0 and theta < 0 get no gradient
    assert grad[0] == 1 and grad[3] == -1  # connected: sign * dL/dW


def test_same_seed_same_model():
    a, b = VGG11(0.05, width=0.25, seed=3), VGG11(0.05, width=0.25, seed=3)
    c = VGG11(0.05, width=0.25, seed=4)
    for la, lb, lc in zip(sparse_layers(a), sparse_layers(b), sparse_layers(c)):
        assert torch.equal(la.theta, lb.theta) and torch.equal(la.sign, lb.sign)
    assert not all(torch.equal(la.theta, lc.theta) for la, lc in zip(sparse_layers(a),
                                                                      sparse_layers(c)))
