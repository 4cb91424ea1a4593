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


def test_single_fibre_pruning_creates_exactly_the_oracle_count_of_new_zero_fibres():
    """A random 90 %-sparse VGG11 has many output-axis fibres with a single connection;
    pruning must turn exactly those into zero fibres. Oracle: row sums of the predecessor's
    (kh*kw*in, out) matrices, counted with NumPy."""
    model = VGG11(0.1, width=0.125, seed=3)
    before = after = lonely = rows = 0
    for layer in sparse_layers(model):
        counts = connectivity_matrix(layer).sum(axis=1)
        before += int((counts == 0).sum())
        lonely += int((counts == 1).sum())
        rows += len(counts)
    after = before + lonely
    assert lonely > 0  # the case is one where pruning must create new zero fibres
    pruned = single_fibre_prune(model)
    assert fibre_report(model)["global"]["out"] == pytest.approx(100 * before / rows)
    assert fibre_report(pruned)["global"]["out"] == pytest.approx(100 * after / rows)
    assert fibre_report(pruned)["global"]["out"] > fibre_report(model)["global"]["out"]
    assert sparsity(model)["connections"] - sparsity(pruned)["connections"] == lonely


def test_paper_profile_pins_the_thesis_and_predecessor_constants():
    """Thesis §4 (100 epochs, batch 128, LR 0.1, PGD-50 x 10, Foolbox) and the predecessor's
    code where the thesis is silent (anchor §1.3-1.6: SGDW momentum 0.9, decoupled weight decay
    5e-4, noise 1e-6, revival at 1e-12, TRADES beta 6, eps 8/255, step 2/255, 10 steps; Foolbox
    abs_stepsize 2.5 eps / 50 at eps 8/255, all test images)."""
    from srewire.config import make_config

    for objective in ("natural", "trades"):
        c = make_config("paper", objective, 0.95, "structured")
        assert (c.epochs, c.batch_size, c.lr, c.momentum, c.weight_decay) == \
            (100, 128, 0.1, 0.9, 5e-4)
        assert (c.noise_std, c.revive_value) == (1e-6, 1e-12)
        assert (c.beta, c.train_eps, c.train_step_size, c.train_attack_steps) == \
            (6.0, 8 / 255, 2 / 255, 10)
        assert (c.eval_eps, c.pgd_steps, c.pgd_restarts) == (8 / 255, 50, 10)
        assert (c.n_train, c.n_test, c.n_robust, c.width) == (None, None, None, 1.0)
        assert c.checkpoint == "final" and c.augmentation == "shift"


class RecordingSGDW(SGDW):
    """SGDW that records the learning rate and weight decay in force at every step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[float, float]] = []

    def step(self, closure=None):
        group = self.param_groups[0]
        self.seen.append((group["lr"], group["weight_decay"]))
        super().step(closure)


def test_weight_decay_follows_the_schedule_inside_train_epoch():
    from srewire.config import make_config
    from srewire.rewiring import Rewirer
    from srewire.train import train_epoch

    cfg = make_config("smoke", "natural", 0.9, "random", lr=0.05, weight_decay=3e-4,
                      batch_size=8, n_train=64, augmentation="none")
    model = VGG11(cfg.connectivity, width=0.125, seed=0)
    opt = RecordingSGDW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rewirer = Rewirer(sparse_layers(model), cfg.connectivity, seed=0)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    # the epoch's 8 steps are steps 4..11 of a 16-step run: the drops after steps 8 and 12
    train_epoch(model, opt, rewirer, x, y, cfg, step=4, total_steps=16, generator=g)
    factors = [schedule_factor(4 + i, 16) for i in range(8)]
    assert sorted(set(factors)) == [0.1, 1.0]  # the schedule changes inside this epoch
    assert opt.seen == [pytest.approx((0.05 * f, 3e-4 * f)) for f in factors]
    train_epoch(model, opt, rewirer, x, y, cfg, step=12, total_steps=16, generator=g)
    late = [schedule_factor(12 + i, 16) for i in range(8)]  # step 12 is still at 0.1
    assert late == [0.1] + [0.01] * 7
    assert [wd for _, wd in opt.seen[8:]] == pytest.approx([3e-4 * f for f in late])


def _fingerprint(model) -> str:
    import hashlib

    h = hashlib.sha256()
    for value in model.state_dict().values():
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_best_clean_evaluates_the_epoch_with_the_best_test_accuracy(tmp_path, synthetic_root,
                                                                    monkeypatch):
    """The per-epoch test accuracies are scripted so that epoch 2 is the best and not the
    last; the model that the final evaluation sees must be the one of epoch 2, bit for bit."""
    from srewire import runs
    from srewire.config import make_config

    scripted = [20.0, 50.0, 30.0, 10.0]
    seen = []  # fingerprint of every model passed to accuracy(), in call order
    real_accuracy = runs.accuracy

    def scripted_accuracy(model, x, y, batch_size=250):
        seen.append(_fingerprint(model))
        if len(seen) <= len(scripted):  # the per-epoch test accuracy
            return scripted[len(seen) - 1]
        return real_accuracy(model, x, y, batch_size)

    monkeypatch.setattr(runs, "accuracy", scripted_accuracy)
    cfg = make_config("smoke", "natural", 0.9, "structured", checkpoint="best_clean",
                      epochs=len(scripted), n_train=128)
    result = runs.run(cfg, tmp_path / "best", data_root=synthetic_root, quiet=True)
    assert result["curves"]["test_accuracy"] == scripted
    assert result["checkpoint_used"] == "best_clean (epoch 2)"
    per_epoch, evaluated = seen[:len(scripted)], seen[len(scripted)]
    assert len(set(per_epoch)) == len(scripted)  # the epochs' models differ
    assert evaluated == per_epoch[1]
