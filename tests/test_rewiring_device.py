"""The device step (rng="device"): the host step's semantics (budget, size-proportional split,
uniform revival, exact greedy nearest claims in claim order) with static shapes, no host
read-back and O(budget) work, checked on the CPU against the host step as the oracle."""

import pytest
import torch
from scipy.stats import chisquare

import srewire.rewiring.device as device
import srewire.rewiring.host as host
from srewire.models import SparseConv2d, SparseLinear
from srewire.rewiring import Rewirer
from srewire.rewiring.rewirer import handover_slots
from srewire.rewiring.search import _claim

from test_rewiring import brute_force_check


def layers_at(density: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    layers = [SparseConv2d(8, 16), SparseLinear(64, 32)]
    for layer in layers:
        layer.reset_sparse(density, g)
    return layers, g


def walk(layers, g, scale=0.05):
    """A random walk on the connected thetas: some connections die every step."""
    with torch.no_grad():
        for layer in layers:
            t = layer.theta.detach()
            t.add_(scale * torch.randn(t.shape, generator=g) * (t > 0))


def on_device(strategy, slots=256, layers=None, density=0.09, connectivity=0.1, **kw):
    if layers is None:
        layers, g = layers_at(density)
    else:
        g = torch.Generator().manual_seed(1)
    rewirer = Rewirer(layers, connectivity, strategy=strategy, seed=0, rng="device",
                      device_slots=slots, **kw)
    rewirer.step(0.1)  # the initial fill: a host step
    for _ in range(5):  # and the steps while its revivals die again
        if rewirer.on_device:
            break
        rewirer.step(0.1)
    assert rewirer.on_device, "the revivals fit in half the slots here"
    return layers, g, rewirer


def counters(rewirer):
    d = rewirer.device_step
    return {k: int(getattr(d, k)) for k in ("fallbacks", "inexact", "overflow")}


class Spy:
    """Records, per device step, theta before the refill, the slots' layers and activity, the
    sources, and the claimed cells (``last``: the dump index where a slot placed nothing)."""

    def __init__(self, monkeypatch):
        self.steps = []
        split, sources = device.DeviceStep._split, device.DeviceStep._sources
        spy = self

        def spy_split(self, active, room):
            layer, act, rank = split(self, active, room)
            spy.steps.append({"theta": self.r.flat.clone(), "layer": layer, "active": act})
            return layer, act, rank

        def spy_sources(self, *args):
            src = sources(self, *args)
            spy.steps[-1]["src"] = src
            return src

        monkeypatch.setattr(device.DeviceStep, "_split", spy_split)
        monkeypatch.setattr(device.DeviceStep, "_sources", spy_sources)

    def claimed(self, rewirer):
        self.steps[-1]["target"] = rewirer.device_step.last.clone()


def oracle_claims(rewirer, record, tie_break="lowest"):
    """The host step's exact greedy search for the device step's sources, in slot order."""
    act = record["active"]
    src, lid = record["src"][act], record["layer"][act]
    return _claim(rewirer.space, record["theta"][:rewirer.n], src, lid, None, "euclidean",
                  tie_break), act


# -- the budget and the counters --------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_budget_exact_over_hundreds_of_steps(strategy):
    layers, g, rewirer = on_device(strategy, slots=128)
    for _ in range(200):
        walk(layers, g, 0.02)
        stats = rewirer.step(0.1)
        assert isinstance(stats.revived, torch.Tensor)  # a device step: nothing read back
        assert rewirer.connected_count() == rewirer.budget
    listed = rewirer.device_step.conn
    assert torch.equal(listed[:rewirer.budget].sort().values,
                       (rewirer.flat[:rewirer.n] > 0).nonzero().squeeze(1)), \
        "the list holds exactly the connections"
    assert bool((listed[rewirer.budget:] == rewirer.n).all())
    rewirer.canonicalize()
    assert counters(rewirer) == {"fallbacks": 0, "inexact": 0, "overflow": 0}
    assert rewirer.missed_crossings == 0
    assert rewirer.steps == 201


def test_host_steps_until_the_deficit_fits_the_slots():
    """The large deficit of the first steps goes to the host step, explicitly."""
    layers, g = layers_at(0.0)  # everything is filled at the first step: 320 revivals
    rewirer = Rewirer(layers, 0.1, strategy="structured", seed=0, rng="device",
                      device_slots=200, noise_std=0.0)
    stats = rewirer.step(0.1)
    assert isinstance(stats.revived, int) and stats.revived == rewirer.budget
    assert not rewirer.on_device  # 320 > 200 // 2
    rewirer.step(0.1)  # nothing died: a host step with no revival
    assert rewirer.on_device
    walk(layers, g)
    stats = rewirer.step(0.1)
    assert isinstance(stats.revived, torch.Tensor)
    assert rewirer.connected_count() == rewirer.budget


def test_automatic_slots_follow_the_revivals():
    """Without device_slots the hand-over waits until the revivals stop halving and sizes
    the slots at twice them: a run whose steady state revives many (weight-based at lr 0.1)
    is handed over instead of waiting for a count it never reaches."""
    budget = 490_000
    assert handover_slots(200_000, None, 1, budget, None) is None      # the initial fill
    assert handover_slots(100_000, 200_000, 2, budget, None) is None   # still halving
    slots = handover_slots(32_000, 33_000, 5, budget, None)            # settled
    assert slots is not None and slots >= 64_000 and slots % 64 == 0
    assert handover_slots(32_000, 33_000, 5, budget, 30_656) is None   # fixed: 32k > 15,328
    assert handover_slots(5_000, 40_000, 3, budget, None) == budget // 32  # small: early


# -- exact claims against the host step's search ---------------------------------------------

def full_size_layer(connectivity, clusters: int, seed=0):
    """One 512 x 512 x 3 x 3 layer a little below ``connectivity``; with ``clusters``, the
    largest thetas fill dense 6 x 6 x 3 x 3 blocks, so that the windows of the largest-theta
    sources (weight_based) are full and the wide window must place their claims."""
    layer = SparseConv2d(512, 512)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        theta = layer.theta.detach()
        theta.copy_(torch.where(torch.rand(theta.shape, generator=g) < connectivity * 0.97,
                                0.01 * torch.rand(theta.shape, generator=g) + 1e-3, -1.0))
        for k in range(clusters):
            block = theta[100 * k + 50:100 * k + 56, 200:206]
            block.copy_(1.0 + torch.rand(block.shape, generator=g))
    return [layer]


CLUSTERS_OPEN = pytest.mark.xfail(
    strict=True, reason="dense clusters of top sources make claim chains longer than the "
    "settling rounds that fit in 300 aten ops; such claims are counted (inexact, fallbacks), "
    "not hidden; open work")


@pytest.mark.parametrize("connectivity, strategy, clusters, steps", [
    pytest.param(0.05, "weight_based", 3, 100, marks=CLUSTERS_OPEN),
    pytest.param(0.01, "weight_based", 3, 100, marks=CLUSTERS_OPEN),
    (0.05, "weight_based", 0, 30), (0.05, "structured", 0, 30), (0.01, "structured", 0, 30)])
def test_claims_equal_the_host_search_on_full_size_layers(monkeypatch, connectivity, strategy,
                                                          clusters, steps):
    """Every device claim is exactly the host step's greedy claim for the same sources
    (tie_break="lowest" makes it unique), nothing is deferred, and with dense clusters of top
    sources the wide window is what places some of them."""
    layers = full_size_layer(connectivity, clusters)
    spy = Spy(monkeypatch)
    _, g, rewirer = on_device(strategy, slots=4096, layers=layers,
                              connectivity=connectivity, tie_break="lowest")
    far = claims = 0
    r2 = rewirer.device_step.window.r2[0]
    for _ in range(steps):
        spy.steps.clear()
        walk(layers, g, 0.0003)
        rewirer.step(0.1)
        spy.claimed(rewirer)
        assert rewirer.connected_count() == rewirer.budget
        record = spy.steps[-1]
        expected, act = oracle_claims(rewirer, record)
        assert torch.equal(record["target"][act], expected)
        src = record["src"][act]
        zero = torch.zeros_like(src)
        far += int((rewirer.space.coords(expected, zero) - rewirer.space.coords(src, zero))
                   .pow(2).sum(1).gt(r2).sum())
        claims += int(act.sum())
    assert claims > 100 * steps
    assert counters(rewirer) == {"fallbacks": 0, "inexact": 0, "overflow": 0}
    if clusters:
        assert far > 0, "some claims lie beyond the first window: the wide window placed them"


@pytest.mark.parametrize("strategy", ["structured", "weight_based"])
def test_random_ties_are_nearest_claims(strategy, monkeypatch):
    """With random tie-breaks every claim is a nearest still-free cell of its source in
    claim order (exhaustive check per claim)."""
    spy = Spy(monkeypatch)
    layers, g, rewirer = on_device(strategy)
    spy.steps.clear()
    for _ in range(6):
        walk(layers, g)
        rewirer.step(0.1)
        spy.claimed(rewirer)
    claims = 0
    for s in spy.steps:
        placed = s["target"] < rewirer.n
        assert torch.equal(placed, s["active"]), "every active slot is placed"
        for i, (base, size) in enumerate(zip(rewirer.bases, rewirer.sizes)):
            sel = placed & (s["layer"] == i)  # slot order is claim order
            connected = (s["theta"][base:base + size] > 0).view(layers[i].theta.shape)
            brute_force_check(connected, s["src"][sel] - base, s["target"][sel] - base)
            claims += int(sel.sum())
    assert claims > 50


@pytest.mark.parametrize("strategy", ["structured", "weight_based"])
def test_sources_are_distinct_connections_or_the_largest_theta(strategy, monkeypatch):
    spy = Spy(monkeypatch)
    layers, g, rewirer = on_device(strategy)
    spy.steps.clear()
    for _ in range(4):
        walk(layers, g)
        rewirer.step(0.1)
    checked = 0
    for s in spy.steps:
        theta = s["theta"]
        for i, (base, size) in enumerate(zip(rewirer.bases, rewirer.sizes)):
            take = s["src"][s["active"] & (s["layer"] == i)]
            conn = theta[base:base + size] > 0
            if take.numel() == 0:
                continue
            assert take.numel() <= int(conn.sum()), "fewer slots than connections here"
            assert bool((theta[take] > 0).all()), "sources are connected coordinates"
            assert len(set(take.tolist())) == take.numel(), "distinct sources"
            if strategy == "weight_based":
                top = theta[base:base + size][conn].topk(take.numel()).values
                assert torch.equal(theta[take], top)
            checked += take.numel()
    assert checked > 30


# -- distributions ---------------------------------------------------------------------------

def revive_counts(rewirer, template, trials, n_cells):
    """Reset theta to ``template`` before every step and count the revived cells."""
    counts = torch.zeros(n_cells, dtype=torch.long)
    for _ in range(trials):
        rewirer.flat[:n_cells].copy_(template)
        rewirer.steps = 0  # theta was replaced: recount without the tracking check
        rewirer.canonicalize()
        rewirer.steps = 1
        before = rewirer.flat[:n_cells] > 0
        rewirer.step(0.0)
        counts += (rewirer.flat[:n_cells] > 0) & ~before
    return counts


@pytest.mark.parametrize("rng", ["host", "device"])
def test_split_and_random_revival_are_uniform_chi_square(rng):
    """Fixed seeds; chi-square against the size-proportional split and against a uniform
    choice among each layer's dormant cells (a wrong proportion fails at these counts)."""
    layers, _ = layers_at(0.0)
    n = sum(l.theta.numel() for l in layers)
    template = torch.zeros(n)
    template[::10] = 1.0
    template[::80] = 0.0  # 280 connections, budget 320: 40 revivals per trial
    rewirer = Rewirer(layers, 0.1, strategy="random", seed=3, rng=rng, device_slots=200,
                      noise_std=0.0, crossing="track")
    rewirer.flat[:n].copy_(template)
    rewirer.canonicalize()
    rewirer.step(0.0)  # the hand-over to the device step (when rng="device")
    assert rng == "host" or rewirer.on_device
    counts = revive_counts(rewirer, template, 400, n)
    dormant = template <= 0
    assert int(counts[~dormant].sum()) == 0
    per_layer = torch.stack([counts[b:b + s].sum() for b, s in zip(rewirer.bases,
                                                                    rewirer.sizes)])
    sizes = torch.tensor(rewirer.sizes, dtype=torch.float64)
    expected = per_layer.sum() * sizes / sizes.sum()
    assert chisquare(per_layer.double(), expected).pvalue > 1e-3, per_layer.tolist()
    for base, size in zip(rewirer.bases, rewirer.sizes):
        cells = counts[base:base + size][dormant[base:base + size]].double()
        assert chisquare(cells).pvalue > 1e-3


@pytest.mark.parametrize("rng", ["host", "device"])
def test_structured_sources_are_uniform_chi_square(rng, monkeypatch):
    layer = SparseLinear(40, 40)
    layer.reset_sparse(0.0)
    template = torch.zeros(1600)
    template[torch.arange(0, 1600, 41)] = 1.0  # 40 connections on the diagonal, far apart
    template[0] = 0.0  # 39 connected, budget 48: deficit 9 per trial
    rewirer = Rewirer([layer], 0.03, strategy="structured", seed=5, rng=rng, noise_std=0.0,
                      device_slots=40, crossing="track")
    rewirer.flat[:1600].copy_(template)
    rewirer.canonicalize()
    rewirer.step(0.0)
    assert rng == "host" or rewirer.on_device
    picked = torch.zeros(1600, dtype=torch.long)
    if rng == "device":
        original = device.DeviceStep._sources

        def spy(self, *args):
            src = original(self, *args)
            picked.index_add_(0, src[:9], torch.ones(9, dtype=torch.long))  # active slots
            return src
        monkeypatch.setattr(device.DeviceStep, "_sources", spy)
    else:
        original = host._claim

        def spy(space, values, sources, lid, *rest):
            picked.index_add_(0, sources, torch.ones_like(sources))
            return original(space, values, sources, lid, *rest)
        monkeypatch.setattr(host, "_claim", spy)
    revive_counts(rewirer, template, 300, 1600)
    connected = template > 0
    assert int(picked.sum()) == 300 * 9 and int(picked[~connected].sum()) == 0
    assert chisquare(picked[connected].double()).pvalue > 1e-3


# -- no read-back, checkpoints ----------------------------------------------------------------

# Graph nodes that read a value back to the host (or make a data-dependent shape).
HOST_READS = ("item", "tolist", "nonzero", "_local_scalar_dense", "__bool__", "__int__",
              "unique", "masked_select")


def to_meta(rewirer):
    """A copy of the rewirer whose state lives on the meta device: there, every host read
    (.item(), bool(), nonzero, ...) raises, because a meta tensor has no data."""
    import copy
    clone = copy.deepcopy(rewirer)
    clone.generator = None  # meta tensors draw without a generator
    for obj in (clone, clone.space, clone.device_step, clone.device_step.window,
                clone.device_step.wide_window):
        for key, value in vars(obj).items():
            if isinstance(value, torch.Tensor):
                setattr(obj, key, value.to("meta"))
    return clone


@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_device_step_reads_nothing_back(strategy):
    """Run on meta tensors, where any host read (.item(), bool(), nonzero) raises."""
    layers, g, rewirer = on_device(strategy)
    walk(layers, g)
    to_meta(rewirer).device_step.step(0.1, None)


def test_the_meta_check_catches_a_host_read_back(monkeypatch):
    layers, g, rewirer = on_device("structured")
    original = device.DeviceStep._rank

    def syncing(self, layer, active):
        int(active.sum().item())  # a host read-back
        return original(self, layer, active)

    monkeypatch.setattr(device.DeviceStep, "_rank", syncing)
    walk(layers, g)
    with pytest.raises(Exception, match="(?i)meta|data"):
        to_meta(rewirer).device_step.step(0.1, None)


def test_device_step_state_round_trip():
    layers, g, rewirer = on_device("structured")
    for _ in range(3):
        walk(layers, g)
        rewirer.step(0.1)
    rewirer.canonicalize()
    saved = (rewirer.flat.clone(), rewirer.state_dict())
    masks = []
    for _ in range(2):
        rewirer.flat.copy_(saved[0])
        rewirer.load_state_dict(saved[1])
        walker = torch.Generator().manual_seed(11)
        for _ in range(3):
            walk(layers, walker)
            rewirer.step(0.1)
        masks.append(rewirer.flat > 0)
    assert torch.equal(masks[0], masks[1])
    assert rewirer.steps == 7


def test_device_step_rejects_eq3():
    layers, _ = layers_at(0.05)
    with pytest.raises(ValueError, match="metric='euclidean' only"):
        Rewirer(layers, 0.1, strategy="structured", metric="eq3", rng="device")
