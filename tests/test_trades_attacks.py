"""TRADES against a straightforward reimplementation; Foolbox against native PGD."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srewire.attacks import accuracy, foolbox_pgd, pgd, robustness
from srewire.data import load_data
from srewire.models import VGG11, sparse_layers
from srewire.rewiring import Rewirer
from srewire.trades import kl_sum, trades_adversary, trades_loss
from srewire.train import SGDW


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return VGG11(0.2, width=0.125, seed=seed)


def test_kl_sum_matches_torch_kl_div():
    a, b = torch.randn(7, 10), torch.randn(7, 10)
    ref = F.kl_div(F.log_softmax(b, 1), F.softmax(a, 1), reduction="sum")
    assert torch.allclose(kl_sum(a, b), ref, atol=1e-5)


def test_trades_loss_equals_straightforward_computation():
    # float64: at the attack's start (x + 0.001 N(0, 1)) the KL divergence is ~1e-7 and in
    # float32 the sign of its gradient is decided by rounding, which differs between two
    # algebraically equal formulas; in float64 both formulations agree.
    model = tiny_model().double()
    model.train()
    g = torch.Generator().manual_seed(5)
    x = torch.rand(12, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (12,), generator=g)
    # warm up BatchNorm running statistics so eval and train modes differ
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(12, 3, 32, 32, generator=g, dtype=torch.float64))
    eps, step, steps, beta = 8 / 255, 2 / 255, 4, 6.0

    state = {k: v.clone() for k, v in model.state_dict().items()}
    loss, logits = trades_loss(model, x, y, beta=beta, eps=eps, step_size=step, steps=steps,
                               generator=torch.Generator().manual_seed(99))
    assert model.training  # mode restored after the eval-mode attack

    # independent computation, written out the way the TRADES paper's reference code does it
    model.load_state_dict(state)
    model.eval()
    start = torch.randn(x.shape, generator=torch.Generator().manual_seed(99), dtype=x.dtype)
    x_adv = x + 0.001 * start
    with torch.no_grad():
        p_nat = F.softmax(model(x), dim=1)
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        kl = nn.KLDivLoss(reduction="sum")(F.log_softmax(model(x_adv), dim=1), p_nat)
        grad = torch.autograd.grad(kl, x_adv)[0]
        x_adv = torch.min(torch.max(x_adv.detach() + step * grad.sign(), x - eps), x + eps)
        x_adv = x_adv.clamp(0, 1)
    model.train()
    nat = model(x)
    robust = nn.KLDivLoss(reduction="sum")(F.log_softmax(model(x_adv), dim=1),
                                           F.softmax(nat, dim=1)) / len(x)
    expected = F.cross_entropy(nat, y) + beta * robust
    assert torch.allclose(loss, expected, rtol=1e-10, atol=1e-12), (loss, expected)
    assert torch.allclose(logits, nat, atol=1e-10)


def test_trades_attack_runs_in_eval_mode_and_stays_in_the_ball():
    model = tiny_model()
    model.train()
    modes = []
    hook = model.register_forward_pre_hook(lambda m, i: modes.append(m.training))
    x = torch.rand(4, 3, 32, 32)
    x_adv = trades_adversary(model, x, eps=8 / 255, step_size=2 / 255, steps=3,
                             generator=torch.Generator().manual_seed(0))
    hook.remove()
    assert modes and not any(modes)
    assert model.training
    assert float((x_adv - x).abs().max()) <= 8 / 255 + 1e-6
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1


def test_trades_gradients_flow_through_both_branches():
    model = tiny_model()
    model.train()
    x, y = torch.rand(6, 3, 32, 32), torch.randint(0, 10, (6,))
    loss, _ = trades_loss(model, x, y, beta=6.0, eps=8 / 255, step_size=2 / 255, steps=2)
    loss.backward()
    grads = [layer.theta.grad for layer in sparse_layers(model)]
    assert all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.fixture(scope="module")
def trained(synthetic_root):
    """A small model trained for a few epochs on the synthetic data (clearly above chance)."""
    data = load_data(synthetic_root, allow_synthetic=True)
    model = tiny_model(1)
    opt = SGDW(model.parameters(), lr=0.05, weight_decay=5e-4)
    rewirer = Rewirer(sparse_layers(model), 0.2, crossing="track")
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        model.train()
        for idx in torch.randperm(len(data.x_train), generator=g).split(64):
            x, y = data.x_train[idx].float() / 255, data.y_train[idx]
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            rewirer.step(0.05, opt)
    model.eval()
    return model, data.x_test[:128].float() / 255, data.y_test[:128]


def test_small_model_learned_something(trained):
    model, x, y = trained
    assert accuracy(model, x, y) > 40


def test_foolbox_and_native_pgd_agree(trained):
    model, x, y = trained
    eps, steps = 8 / 255, 10  # breaks about half of the images of this model
    step = 2.5 * eps / steps
    # without random start both are deterministic: the same images must break
    native = pgd(model, x, y, eps=eps, steps=steps, step_size=step, random_start=False)
    fb = _foolbox_no_start(model, x, y, eps, steps, step)
    assert (native == fb).float().mean() >= 0.98
    # with random starts and restarts the robust accuracies agree closely
    n_acc = 100 * (1 - pgd(model, x, y, eps=eps, steps=steps, step_size=step, restarts=3,
                           generator=torch.Generator().manual_seed(0)).float().mean())
    f_acc = 100 * (1 - foolbox_pgd(model, x, y, eps=eps, steps=steps, step_size=step,
                                   restarts=3, seed=0).float().mean())
    assert abs(float(n_acc) - float(f_acc)) <= 6.0, (n_acc, f_acc)
    assert 5 < float(n_acc) < accuracy(model, x, y) - 20  # the attack is neither void nor total


def _foolbox_no_start(model, x, y, eps, steps, step):
    from srewire.attacks import _import_foolbox

    fb = _import_foolbox()
    fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1), device=x.device)
    attack = fb.attacks.LinfPGD(steps=steps, abs_stepsize=step, random_start=False)
    return attack(fmodel, x, y, epsilons=eps)[2]


def test_seeded_foolbox_start_is_foolboxs_own_draw(trained):
    """On the CPU, the seeded random start is exactly what Foolbox's LinfPGD draws after
    torch.manual_seed(seed), so the results computed before the start was seeded stand."""
    from srewire.attacks import _import_foolbox

    model, x, y = trained
    eps, steps = 8 / 255, 5
    step = 2.5 * eps / steps
    fb = _import_foolbox()
    fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1), device=x.device)
    attack = fb.attacks.LinfPGD(steps=steps, abs_stepsize=step, random_start=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        plain = attack(fmodel, x, y, epsilons=eps)[2] | attack(fmodel, x, y, epsilons=eps)[2]
    seeded = foolbox_pgd(model, x, y, eps=eps, steps=steps, step_size=step, restarts=2, seed=3)
    assert torch.equal(seeded, plain)
    assert 0 < int(plain.sum()) < len(y)  # a comparison that could fail
    other = foolbox_pgd(model, x, y, eps=eps, steps=steps, step_size=step, restarts=2, seed=4)
    assert not torch.equal(other, plain)  # the start matters for this model


def test_robustness_report_and_sanity_checks(trained):
    model, x, y = trained
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    rep = robustness(model, x[:64], y[:64], eps=8 / 255, steps=5, restarts=2, batch_size=32)
    after = torch.rand(1)
    assert torch.equal(before, after), "Foolbox must not disturb the global RNG stream"
    assert rep["checks"]["eval_mode"]
    assert rep["robust_accuracy"] <= rep["fgsm_accuracy"] + 1e-9 <= rep["clean_accuracy"] + 1e-9
    assert rep["checks"]["large_eps_near_zero"]
    assert rep["attack"]["abs_stepsize"] == pytest.approx(2.5 * (8 / 255) / 5)
    assert 0 <= rep["native_pgd_accuracy"] <= 100
