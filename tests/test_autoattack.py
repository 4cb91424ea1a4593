"""AutoAttack (srewire.autoattack): the cascade, its bounds, its budgets and its arguments.

The model is a small two-layer network trained for a moment on four noisy prototype images
(3 x 8 x 8), so that eps = 0.04 breaks some but not all of its correct images; the budgets are
reduced through :class:`Budget` to keep the tests at about a second each.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srewire.attacks import pgd, pgd_step_size
from srewire.autoattack import (COMPONENTS, FLOAT_TOLERANCE, STANDARD, Budget, autoattack,
                                torchattacks_component)

K, EPS = 4, 0.04
SMALL = Budget(steps=10, targets=3, fab_steps=10, queries=50)


def _data(m: int, gen: torch.Generator, protos: torch.Tensor):
    y = torch.arange(m) % K
    x = (0.4 + 0.2 * protos[y] + 0.4 * torch.rand(m, 3, 8, 8, generator=gen)).clamp(0, 1)
    return x, y


@pytest.fixture(scope="module")
def setup():
    gen = torch.Generator().manual_seed(0)
    protos = torch.rand(K, 3, 8, 8, generator=gen)
    x_train, y_train = _data(512, gen, protos)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 32), nn.ReLU(), nn.Linear(32, K))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(model(x_train), y_train).backward()
        opt.step()
    x, y = _data(64, gen, protos)
    return model.eval(), x, y


def _clean(model, x, y):
    with torch.no_grad():
        return model(x).argmax(1) == y


def test_autoattack_is_not_weaker_than_pgd_and_stays_in_bounds(setup):
    model, x, y = setup
    correct = _clean(model, x, y)
    broken_pgd = pgd(model, x, y, eps=EPS, steps=5, step_size=pgd_step_size(EPS, 5),
                     generator=torch.Generator().manual_seed(1))
    pgd_acc = 100.0 * float((~broken_pgd & correct).sum()) / len(y)
    out = autoattack(model, x, y, eps=EPS, budget=SMALL)
    clean_acc = 100.0 * float(correct.sum()) / len(y)
    # the setting must be one where the attacks do something, and not everything
    assert 0 < pgd_acc < clean_acc
    assert out.report["clean_accuracy"] == pytest.approx(clean_acc)
    assert out.robust_accuracy <= pgd_acc
    assert 0 < out.robust_accuracy
    assert out.report["robust_accuracy"] == pytest.approx(100.0 * float(out.robust.sum()) / 64)
    # every adversarial is within eps (float32 rounding: FLOAT_TOLERANCE) and in [0, 1]
    delta = (out.x_adv - x).abs().flatten(1).amax(1)
    assert float(delta.max()) <= EPS + FLOAT_TOLERANCE
    assert float(out.x_adv.min()) >= 0 and float(out.x_adv.max()) <= 1
    # broken images are misclassified at their adversarial; robust ones keep the clean image
    with torch.no_grad():
        pred = model(out.x_adv).argmax(1)
    assert bool((pred[~out.robust] != y[~out.robust]).all() | ~correct[~out.robust].any())
    assert torch.equal(out.x_adv[out.robust], x[out.robust])
    assert not out.robust[~correct].any()
    chk = out.report["checks"]
    assert chk["eval_mode"] and chk["within_eps"] and chk["rejected"] == 0
    assert [c["name"] for c in out.report["components"]] == list(COMPONENTS)


def test_each_component_attacks_only_the_images_still_robust(setup):
    model, x, y = setup
    given: dict[str, list[int]] = {name: [] for name in COMPONENTS}
    broke: dict[str, set[int]] = {name: set() for name in COMPONENTS}

    def row_of(img):  # which of the test images this is
        return int((x == img).flatten(1).all(1).nonzero()[0])

    def spy(name):
        real = torchattacks_component(name, model, eps=EPS, budget=SMALL, seed=0)

        def attack(xb, yb):
            adv = real(xb, yb)
            rows = [row_of(img) for img in xb]
            given[name] += rows
            with torch.no_grad():
                wrong = model(adv).argmax(1) != yb
            broke[name] |= {r for r, w in zip(rows, wrong.tolist()) if w}
            return adv
        return attack

    out = autoattack(model, x, y, eps=EPS, budget=SMALL,
                     attacks={name: spy(name) for name in COMPONENTS})
    still = set(_clean(model, x, y).nonzero().flatten().tolist())
    assert len(still) < len(x)  # misclassified images exist and must not be attacked
    for row in out.report["components"]:
        name = row["name"]
        assert sorted(given[name]) == sorted(still), name
        assert row["attacked"] == len(still) and row["broken"] == len(broke[name])
        still -= broke[name]
    assert still == set(out.robust.nonzero().flatten().tolist())
    assert broke["apgd-ce"]  # the cascade shrinks, so later components get fewer images


def test_an_adversarial_beyond_eps_is_not_counted(setup):
    model, x, y = setup
    correct = _clean(model, x, y)
    with torch.no_grad():
        pred = model(x).argmax(1)
    donor = {k: x[pred != k][0] for k in range(K)}  # an image the model puts in another class

    def too_far(xb, yb):  # fools the model, but is another image, far beyond eps
        return torch.stack([donor[int(label)] for label in yb])

    out = autoattack(model, x, y, eps=EPS, budget=SMALL, components=["apgd-ce"],
                     attacks={"apgd-ce": too_far})
    assert torch.equal(out.robust, correct)
    assert out.report["checks"]["rejected"] == int(correct.sum())
    assert torch.equal(out.x_adv, x)


class _BrightestPixel(nn.Module):
    """Class 1 iff some pixel exceeds 1: an input outside [0, 1] fools it."""

    def forward(self, x):
        s = (x.flatten(1).amax(1) - 1) * 1000
        return torch.stack([-s, s], 1)


def test_an_adversarial_outside_the_unit_box_is_not_counted():
    x = torch.full((6, 3, 4, 4), 0.5)
    x[:, 0, 0, 0] = 0.99
    y = torch.zeros(6, dtype=torch.long)

    def outside_box(xb, yb):  # within eps of x, but one pixel at 1.01
        return xb + EPS / 2

    out = autoattack(_BrightestPixel(), x, y, eps=EPS, components=["apgd-ce"],
                     budget=Budget(steps=2, targets=1, fab_steps=2, queries=2),
                     attacks={"apgd-ce": outside_box})
    assert out.report["clean_accuracy"] == 100.0
    assert out.robust.all() and out.report["checks"]["rejected"] == 6


def test_the_callers_random_state_is_left_alone(setup):
    model, x, y = setup
    torch.manual_seed(123)
    before = torch.get_rng_state()
    autoattack(model, x[:8], y[:8], eps=EPS, budget=SMALL, components=["apgd-ce", "square"])
    assert torch.equal(torch.get_rng_state(), before)


def test_standard_budgets_are_the_references():
    assert (STANDARD.steps, STANDARD.targets, STANDARD.fab_steps, STANDARD.queries) == \
        (100, 9, 100, 5_000)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 10))
    apgd, apgdt, fab, square = (torchattacks_component(c, model, eps=8 / 255,
                                                       budget=STANDARD, seed=0)
                                for c in COMPONENTS)
    assert (apgd.steps, apgd.loss, apgd.n_restarts) == (100, "ce", 1)
    assert (apgdt.steps, apgdt.n_target_classes, apgdt.n_restarts) == (100, 9, 1)
    assert (fab.steps, fab.n_target_classes, fab.multi_targeted) == (100, 9, True)
    assert (square.n_queries, square.n_restarts) == (5_000, 1)
    assert all(a.eps == 8 / 255 and a.norm == "Linf" for a in (apgd, apgdt, fab, square))


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": 0}, "eps must be a number in"),
    ({"eps": 1.5}, "eps must be a number in"),
    ({"eps": float("nan")}, "eps must be a number in"),
    ({"budget": Budget(steps=0)}, "budget.steps must be a positive integer"),
    ({"budget": Budget(queries=2.5)}, "budget.queries must be a positive integer"),
    ({"budget": Budget(targets=4)}, "budget.targets must be at most 3"),
    ({"budget": (100, 9, 100, 5000)}, "budget must be a srewire.autoattack.Budget"),
    ({"components": ["pgd"]}, "components must be distinct names among apgd-ce"),
    ({"components": []}, "components must be distinct names"),
    ({"components": ["square", "square"]}, "components must be distinct names"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
])
def test_bad_arguments_get_one_clear_message(setup, kwargs, message):
    model, x, y = setup
    with pytest.raises(ValueError, match=message):
        autoattack(model, x, y, **{"budget": SMALL, **kwargs})


def test_bad_inputs_and_models_get_one_clear_message(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match=r"x must hold images in \[0, 1\]"):
        autoattack(model, x * 2, y, budget=SMALL)
    with pytest.raises(ValueError, match="x must be a non-empty batch"):
        autoattack(model, x, y[:3], budget=SMALL)
    double = nn.Sequential(nn.Flatten(), nn.Linear(192, K)).double()
    with pytest.raises(ValueError, match="model must be in float32"):
        autoattack(double, x, y, budget=SMALL)
