"""TRADES against a straightforward reimplementation; Foolbox against native PGD."""

import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srewire import attacks
from srewire.attacks import ModeRecorder, accuracy, attack_seed, foolbox_pgd, pgd, robustness
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
    x = torch.rand(4, 3, 32, 32)
    with ModeRecorder(model) as modes:  # the mode of every submodule in every forward pass
        x_adv = trades_adversary(model, x, eps=8 / 255, step_size=2 / 255, steps=3,
                                 generator=torch.Generator().manual_seed(0))
    assert modes.forwards == 4 and modes.in_training == set()  # 1 natural + 3 attack steps
    assert model.training
    assert float((x_adv - x).abs().max()) <= 8 / 255 + 1e-6
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1


def _theta_grads(model, loss):
    params = [layer.theta for layer in sparse_layers(model)]
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])


def test_trades_gradients_flow_through_both_branches():
    """The KL term's gradient is isolated as grad(beta=6) - grad(beta=0); it must equal 6 x the
    gradient of KL(p(x) || p(x_adv)) / n with both branches attached, which differs from
    the gradient with either branch detached (so a loss that detached one would fail)."""
    model = tiny_model().double()
    model.train()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(6, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (6,), generator=g)
    with torch.no_grad():  # BatchNorm running statistics unlike the batch statistics
        model(torch.rand(6, 3, 32, 32, generator=g, dtype=torch.float64))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    kw = dict(eps=8 / 255, step_size=2 / 255, steps=3)

    grads = {}
    for beta in (0.0, 6.0):
        model.load_state_dict(state)  # train-mode forwards move the running statistics
        loss, _ = trades_loss(model, x, y, beta=beta, generator=torch.Generator().manual_seed(7),
                              **kw)
        grads[beta] = _theta_grads(model, loss)
    kl_part = grads[6.0] - grads[0.0]

    model.load_state_dict(state)
    x_adv = trades_adversary(model, x, generator=torch.Generator().manual_seed(7), **kw)
    reference = {}
    for name, detach_nat, detach_adv in (("both", False, False), ("nat only", False, True),
                                         ("adv only", True, False)):
        model.load_state_dict(state)
        nat, adv = model(x), model(x_adv)
        nat, adv = (nat.detach() if detach_nat else nat), (adv.detach() if detach_adv else adv)
        reference[name] = _theta_grads(model, kl_sum(nat, adv) / len(x))
    scale = float(reference["both"].abs().max())
    assert scale > 1e-8  # the KL term has a gradient at all
    assert torch.allclose(kl_part, 6.0 * reference["both"], rtol=1e-6, atol=1e-9 * scale)
    for name in ("nat only", "adv only"):  # each branch contributes on its own
        gap = float((reference[name] - reference["both"]).abs().max())
        assert gap > 1e-3 * scale, name


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


def images(percent: float, n: int) -> int:
    """The number of images behind an accuracy in percent of ``n``. The report rounds to two
    decimals, so a percentage of 64 images (1.5625 points per image) may not equal the exact
    fraction; the count it stands for is exact (rounding moves it by at most 0.005 points)."""
    return round(percent * n / 100)


def test_robustness_report_and_sanity_checks(trained):
    model, x, y = trained
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    rep = robustness(model, x[:64], y[:64], eps=8 / 255, steps=5, restarts=2, batch_size=32)
    after = torch.rand(1)
    assert torch.equal(before, after), "Foolbox must not disturb the global RNG stream"
    assert rep["checks"]["eval_mode"] and rep["checks"]["modules_in_train_mode"] == []
    assert rep["robust_accuracy"] <= rep["fgsm_accuracy"] + 1e-9 <= rep["clean_accuracy"] + 1e-9
    assert rep["checks"]["large_eps_near_zero"]
    assert rep["attack"]["abs_stepsize"] == pytest.approx(2.5 * (8 / 255) / 5)
    assert images(rep["clean_accuracy"], 64) == images(accuracy(model, x[:64], y[:64]), 64)
    # both PGDs break images the clean model gets right, and never more than all of them
    assert 0 < rep["native_pgd_accuracy"] < rep["clean_accuracy"]
    assert 0 < rep["foolbox_pgd_accuracy"] < rep["clean_accuracy"]


class TrainsDuringForward(nn.Module):
    """A model that puts itself in training mode for its forward pass and back into eval
    mode at its end, so that ``model.training`` read afterwards looks fine."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        self.train()
        out = self.inner(x)
        self.eval()
        return out


def test_eval_mode_check_sees_the_mode_during_the_forward_passes(trained):
    model, x, y = trained
    sneaky = TrainsDuringForward(tiny_model(1))
    sneaky.inner.load_state_dict(model.state_dict())
    rep = robustness(sneaky, x[:32], y[:32], eps=8 / 255, steps=2, restarts=1, batch_size=32,
                     backend="native")
    assert not sneaky.training  # what the old check read: it would have said "eval mode"
    assert rep["checks"]["eval_mode"] is False
    batch_norms = {name for name, m in sneaky.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert batch_norms and batch_norms <= set(rep["checks"]["modules_in_train_mode"])
    with ModeRecorder(model) as modes:  # nothing was recorded: no verdict of "eval mode"
        pass
    assert modes.forwards == 0 and not modes.all_eval


def test_native_pgd_and_foolbox_draw_independent_starts(trained, monkeypatch):
    """robustness() must not give the two PGDs the same random start (on any batch)."""
    model, x, y = trained
    drawn = {"pgd_examples": [], "get_random_start": []}
    real_draw = attacks.draw

    def recording_draw(fn, *args, generator, **kwargs):
        out = real_draw(fn, *args, generator=generator, **kwargs)
        caller = sys._getframe(1).f_code.co_name
        large_eps = generator.initial_seed() == attack_seed(0, "large_eps")  # its own stream
        if caller in drawn and not large_eps:
            drawn[caller].append((generator.initial_seed(), out.clone()))
        return out

    monkeypatch.setattr(attacks, "draw", recording_draw)
    robustness(model, x[:64], y[:64], eps=8 / 255, steps=2, restarts=2, batch_size=32, seed=0)
    native, fool = drawn["pgd_examples"], drawn["get_random_start"]
    assert len(native) == len(fool) == 4  # 2 batches x 2 restarts each
    assert not {s for s, _ in native} & {s for s, _ in fool}
    assert not any(torch.equal(a, b) for _, a in native for _, b in fool)
    # and the seeds are a documented function of the run's seed, stable between calls
    assert fool[0][0] == attack_seed(0, "foolbox", 0) == attack_seed(0, "foolbox", 0)
    assert native[0][0] == attack_seed(0, "native")
    assert len({attack_seed(s, k, b) for s in range(3) for k in attacks.ATTACK_STREAMS
                for b in range(3)}) == 27
    with pytest.raises(ValueError, match="stream must be one of native, foolbox, large_eps"):
        attack_seed(0, "fgsm")


class Constant(nn.Module):
    """Predicts class ``c`` whatever the input: no attack can change its accuracy."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(c), 10).float())

    def forward(self, x):
        return self.logits.expand(len(x), 10) + 0 * x.flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("backend", ["foolbox", "native"])
def test_robust_accuracy_against_oracles(trained, backend):
    model, x, y = trained
    # a constant classifier: accuracy under any attack = share of labels equal to its class
    c = int(y.mode().values)
    oracle = round(100 * float((y == c).float().mean()), 2)
    rep = robustness(Constant(c), x, y, eps=8 / 255, steps=2, restarts=2, batch_size=64,
                     backend=backend)
    for key in ("clean_accuracy", "robust_accuracy", "fgsm_accuracy", "native_pgd_accuracy"):
        assert rep[key] == pytest.approx(oracle), key
    assert not rep["checks"]["large_eps_near_zero"]  # the check flags a model it cannot break
    # eps = 0: the attack cannot move, so robust = FGSM = clean for a real model
    rep0 = robustness(model, x[:64], y[:64], eps=0.0, steps=2, restarts=1, batch_size=32,
                      backend=backend)
    assert rep0["robust_accuracy"] == rep0["fgsm_accuracy"] == rep0["native_pgd_accuracy"]
    assert images(rep0["robust_accuracy"], 64) == images(accuracy(model, x[:64], y[:64]), 64)


def test_native_backend_reports_native_pgd_and_never_calls_foolbox(trained, monkeypatch):
    model, x, y = trained

    def no_foolbox(*args, **kwargs):
        raise AssertionError("backend='native' must not run Foolbox")

    monkeypatch.setattr(attacks, "foolbox_pgd", no_foolbox)
    rep = robustness(model, x[:64], y[:64], eps=8 / 255, steps=5, restarts=2, batch_size=32,
                     backend="native")
    assert rep["attack"]["backend"] == "native" and rep["foolbox_pgd_accuracy"] is None
    assert rep["robust_accuracy"] == rep["native_pgd_accuracy"]
    # the same attack by hand: one native generator, seeded by attack_seed, across the batches
    gen = torch.Generator().manual_seed(attack_seed(0, "native"))
    broken = torch.cat([pgd(model, x[i:i + 32], y[i:i + 32], eps=8 / 255, steps=5,
                            step_size=2.5 * (8 / 255) / 5, restarts=2, generator=gen)
                        for i in (0, 32)])
    assert images(rep["native_pgd_accuracy"], 64) == int((~broken).sum())
    with pytest.raises(ValueError, match="backend must be one of foolbox, native"):
        robustness(model, x[:8], y[:8], eps=8 / 255, steps=1, restarts=1, backend="Foolbox")


def test_trades_terms_are_equation_2_with_the_runs_settings():
    """The demonstration's terms against the loss written out: cross-entropy and the KL
    divergence to the same adversary, per image, both in eval mode; the settings come from
    the run's configuration, not from constants."""
    from srewire.config import make_config
    from srewire.trades import settings, trades_terms

    model = tiny_model().double()
    model.train()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(6, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (6,), generator=g)
    cfg = {**make_config("smoke", "trades").to_dict(), "beta": 2.5, "train_attack_steps": 3,
           "train_step_size": 1 / 255, "train_eps": 4 / 255}
    assert settings(cfg) == {"beta": 2.5, "eps": 4 / 255, "step_size": 1 / 255, "steps": 3}
    terms = trades_terms(model, x, y, **settings(cfg), generator=torch.Generator().manual_seed(4))
    assert model.training  # mode restored
    x_adv = trades_adversary(model, x, eps=cfg["train_eps"], step_size=cfg["train_step_size"],
                             steps=3, generator=torch.Generator().manual_seed(4))
    model.eval()
    with torch.no_grad():
        nat = model(x)
        ce = float(F.cross_entropy(nat, y))
        kl = float(F.kl_div(F.log_softmax(model(x_adv), 1), F.softmax(nat, 1),
                            reduction="sum")) / len(x)
    assert terms.cross_entropy == pytest.approx(ce, rel=1e-9)
    assert terms.kl == pytest.approx(kl, rel=1e-6, abs=1e-12)
    assert terms.beta == 2.5 and kl > 0
    assert terms.loss - terms.cross_entropy == pytest.approx(2.5 * kl, rel=1e-6)
    lines = str(terms).splitlines()
    assert lines[2] == f"TRADES loss with beta = 2.5:{' ' * 14}{terms.loss:.3f}"
    assert {line.index(f"{v:.3f}") for line, v in zip(lines, (ce, kl, terms.loss))} == {42}


def test_demonstration_is_native_pgd_with_the_evaluations_step():
    from srewire.attacks import demonstrate, pgd_examples

    model = tiny_model().eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(5, 3, 32, 32, generator=g), torch.randint(0, 10, (5,), generator=g)
    demo = demonstrate(model, x, y, eps=8 / 255, steps=3, seed=7)
    _, x_adv = pgd_examples(model, x, y, eps=8 / 255, steps=3, step_size=2.5 * (8 / 255) / 3,
                            generator=torch.Generator().manual_seed(7))
    assert torch.equal(demo.x_adv, x_adv)
    with torch.no_grad():
        clean, adv = model(x).argmax(1), model(x_adv).argmax(1)
    assert torch.equal(demo.clean_pred, clean) and torch.equal(demo.adv_pred, adv)
    assert (demo.correct_clean, demo.correct_adv) == (int((clean == y).sum()),
                                                      int((adv == y).sum()))
    change = float((x_adv - x).abs().max()) * 255
    assert change <= 8 + 1e-4
    assert str(demo) == (f"largest pixel change: {change:.2f} / 255\ncorrect before the "
                         f"attack: {demo.correct_clean} of 5; after: {demo.correct_adv} of 5")
