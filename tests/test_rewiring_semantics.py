"""Rewirer semantics not covered elsewhere: where the noise lands and
its size, eq3 and tie_break="lowest" through the Rewirer, initial_fill, and the NaN rule."""

import pytest
import torch

import srewire.rewiring.host as host
import srewire.rewiring.sampling as sampling
import srewire.rewiring.search as search
from srewire.models import SparseLinear
from srewire.rewiring import Rewirer

from test_rewiring import brute_force_check


@pytest.mark.parametrize("rng", ["host", "device"])
def test_noise_lands_on_connections_before_the_step_with_std_lr_times_noise_std(rng):
    """Predecessor: theta += lr * N(0, noise_std) on the coordinates connected before the
    step (anchor-semantics §1.2 step 5); dormant coordinates get none."""
    layer = SparseLinear(200, 200)
    layer.reset_sparse(0.3, torch.Generator().manual_seed(0))
    rewirer = Rewirer([layer], 0.3, noise_std=1e-3, seed=0, rng=rng, device_slots=4000)
    rewirer.step(0.5)
    assert rng == "host" or rewirer.on_device
    flat = rewirer.flat
    with torch.no_grad():
        flat[flat > 0] += 1.0  # far from zero: nothing dies, nothing is revived
        connected = flat > 0
        flat[connected.nonzero()[::10]] = -2.0  # "killed by the optimiser" before the step
    before = flat.clone()
    lr = 0.5
    rewirer.step(lr)
    diff = flat - before
    revived = (flat == 1e-12) & (before <= 0)  # the killed ones are refilled
    assert int(revived.sum()) > 0
    assert bool((diff[~connected & ~revived] == 0).all()), "no noise on dormant coordinates"
    noise = diff[connected & ~revived].double()
    assert noise.numel() > 10000 and (noise != 0).double().mean() > 0.99  # float32 rounding
    std = lr * 1e-3
    # the sample std of n normals is within 5 % of the true one with overwhelming probability
    assert abs(noise.std().item() / std - 1) < 0.05, noise.std().item()
    assert abs(noise.mean().item()) < 4 * std / noise.numel() ** 0.5


@pytest.mark.parametrize("metric,tie_break", [("eq3", "random"), ("euclidean", "lowest"),
                                              ("eq3", "lowest")])
def test_metric_and_tie_break_through_the_rewirer(metric, tie_break, monkeypatch):
    """The Rewirer's claims against the exhaustive greedy oracle on a tiny layer."""
    layer = SparseLinear(12, 10)
    layer.reset_sparse(0.15, torch.Generator().manual_seed(1))
    rewirer = Rewirer([layer], 0.3, strategy="structured", metric=metric, tie_break=tie_break,
                      seed=0)
    calls = []
    original = host._claim

    def spy(space, values, sources, lid, generator, metric_, tie_break_):
        assert (metric_, tie_break_) == (metric, tie_break)
        claims = original(space, values, sources, lid, generator, metric_, tie_break_)
        calls.append(((values > 0).view(layer.theta.shape).clone(), sources, claims))
        return claims

    monkeypatch.setattr(host, "_claim", spy)
    g = torch.Generator().manual_seed(2)
    for _ in range(8):
        with torch.no_grad():
            t = layer.theta.detach()
            t.add_(0.3 * torch.randn(t.shape, generator=g) * (t > 0))
        rewirer.step(0.1)
    assert sum(c[1].numel() for c in calls) > 40
    for connected, sources, claims in calls:
        brute_force_check(connected, sources, claims, metric, lowest=tie_break == "lowest")


def test_initial_fill_random_fills_the_first_deficit_at_random(monkeypatch):
    """initial_fill="random": the first step is the predecessor's uniform fill (the same
    choice as strategy="random" with the same seed); later steps use the strategy."""
    def fresh(strategy, fill):
        layer = SparseLinear(60, 60)
        layer.reset_sparse(0.01, torch.Generator().manual_seed(0))
        return layer, Rewirer([layer], 0.1, strategy=strategy, seed=4, initial_fill=fill)

    masks = {}
    for strategy, fill in (("random", "strategy"), ("structured", "random"),
                           ("structured", "strategy")):
        layer, rewirer = fresh(strategy, fill)
        rewirer.step(0.1)
        masks[strategy, fill] = layer.connected().clone()
    assert torch.equal(masks["random", "strategy"], masks["structured", "random"])
    assert not torch.equal(masks["structured", "strategy"], masks["structured", "random"])
    layer, rewirer = fresh("structured", "random")
    claims = []
    original = host._claim
    monkeypatch.setattr(host, "_claim", lambda *a: claims.append(1) or original(*a))
    rewirer.step(0.1)
    assert not claims  # the fill: no nearest-dormant search
    with torch.no_grad():
        alive = (layer.theta.view(-1) > 0).nonzero().squeeze(1)
        layer.theta.view(-1)[alive[:20]] = -1.0
    rewirer.step(0.1)
    assert claims, "after the first step the structured search runs"
    with pytest.raises(ValueError, match="initial_fill must be one of"):
        Rewirer([layer], 0.1, initial_fill="uniform")


def test_nan_theta_is_dormant_everywhere():
    """One rule: a NaN theta is dormant for counting, for random revival and for the
    nearest-dormant search alike."""
    theta = torch.tensor([1.0, float("nan"), 0.0, -1.0, 2.0])
    cells = torch.arange(5)
    assert search._is_free(theta, cells).tolist() == [False, True, True, True, False]
    picked = sampling._sample_distinct(5, 3, torch.Generator().manual_seed(0), theta=theta,
                                       n_dormant=3)
    assert sorted(picked.tolist()) == [1, 2, 3]
    # structured: the only connection's four neighbours are NaN; they are the nearest free
    layer = SparseLinear(5, 5)
    layer.reset_sparse(0.0)
    with torch.no_grad():
        t = layer.theta.view(5, 5)
        t[2, 2] = 1.0
        t[1, 2] = t[3, 2] = t[2, 1] = t[2, 3] = float("nan")
    rewirer = Rewirer([layer], 0.08, strategy="structured", seed=0, noise_std=0.0)
    assert rewirer.connected_count() == 1
    rewirer.step(0.1)
    assert rewirer.connected_count() == 2
    revived = (layer.theta.view(-1) == 1e-12).nonzero().squeeze(1).tolist()
    assert len(revived) == 1 and revived[0] in (7, 17, 11, 13)
