"""Rewiring: nearest_dormant against brute force, and the Rewirer's invariants (Thesis §3.2)."""

import copy

import pytest
import torch
import torch.nn.functional as F

import srewire.rewiring.arrays as arrays
import srewire.rewiring.host as host
import srewire.rewiring.rewirer as rewirer_module
import srewire.rewiring.sampling as sampling
import srewire.rewiring.search as search
from srewire.models import SparseConv2d, SparseLinear, VGG11, sparse_layers
from srewire.rewiring import Rewirer, nearest_dormant
from srewire.train import SGDW


# ---------------------------------------------------------------------------------------------
# nearest_dormant
# ---------------------------------------------------------------------------------------------

def brute_force_check(connected, sources, claims, metric="euclidean", lowest=False):
    """Each claim is a dormant coordinate at minimum distance among those still free (with
    ``lowest``: the lowest flat index among them)."""
    shape = connected.shape
    free = ~connected.reshape(-1).clone()
    grid = torch.stack(torch.unravel_index(torch.arange(free.numel()), shape), -1)
    assert claims.shape == sources.shape
    assert len(set(claims.tolist())) == claims.numel(), "claims must be distinct"
    for s, c in zip(sources.tolist(), claims.tolist()):
        assert free[c], "claimed a coordinate that is connected or already claimed"
        p = grid[s]
        if metric == "euclidean":
            d = ((grid - p) ** 2).sum(1)
        else:
            d = (p * p - grid * grid).abs().sum(1)
        assert d[c] == d[free].min(), f"source {s}: claimed distance {d[c]} > {d[free].min()}"
        if lowest:
            assert c == int((free & (d == d[c])).nonzero()[0]), f"source {s}: not the lowest"
        free[c] = False


def random_case(g, max_side=9):
    ndim = int(torch.randint(1, 5, (1,), generator=g))
    side = {1: 60, 2: 25, 3: 12, 4: max_side}[ndim]
    shape = tuple(int(x) for x in torch.randint(1, side + 1, (ndim,), generator=g))
    density = float(torch.rand(1, generator=g)) ** 2 if ndim % 2 else float(torch.rand(1, generator=g))
    connected = torch.rand(shape, generator=g) < density
    return connected


@pytest.mark.parametrize("metric", ["euclidean", "eq3"])
def test_nearest_dormant_matches_brute_force_on_random_masks(metric):
    g = torch.Generator().manual_seed(123 if metric == "euclidean" else 321)
    checked = 0
    while checked < 150:
        connected = random_case(g)
        flat = connected.reshape(-1)
        n_conn, n_dorm = int(flat.sum()), int((~flat).sum())
        if n_conn == 0 or n_dorm == 0:
            continue
        # sources with repeats, up to every dormant coordinate (full neighbourhoods included)
        n = int(torch.randint(0, n_dorm + 1, (1,), generator=g))
        conn_idx = flat.nonzero().squeeze(1)
        sources = conn_idx[torch.randint(0, n_conn, (n,), generator=g)]
        claims = nearest_dormant(connected, sources, generator=g, metric=metric)
        brute_force_check(connected, sources, claims, metric)
        checked += 1


@pytest.mark.parametrize("density", [0.001, 0.02, 0.98, 0.999])
def test_nearest_dormant_nearly_empty_and_nearly_full(density):
    g = torch.Generator().manual_seed(7)
    connected = torch.rand(16, 12, 3, 3, generator=g) < density
    flat = connected.reshape(-1)
    flat[0] = True   # at least one connection
    flat[-1] = False  # at least one dormant coordinate
    conn_idx = flat.nonzero().squeeze(1)
    n_dorm = int((~flat).sum())
    n = min(n_dorm, 3 * conn_idx.numel())
    sources = conn_idx[torch.randint(0, conn_idx.numel(), (n,), generator=g)]
    claims = nearest_dormant(connected, sources, generator=g)
    brute_force_check(connected, sources, claims)
    if n == n_dorm:  # every dormant coordinate claimed exactly once
        assert sorted(claims.tolist()) == (~flat).nonzero().squeeze(1).tolist()


def test_nearest_dormant_full_neighbourhood_uses_exact_search():
    # A 60x60 block of connections: sources in the middle have no free cell within the
    # offset windows (squared radius > 1000 in 2-D would be needed), so the exact path runs.
    connected = torch.zeros(80, 80, dtype=torch.bool)
    connected[10:70, 10:70] = True
    centre = torch.tensor([40 * 80 + 40, 41 * 80 + 39])
    claims = nearest_dormant(connected, centre, generator=torch.Generator().manual_seed(0))
    brute_force_check(connected, centre, claims)


def test_nearest_dormant_ties_are_uniform_and_lowest_is_deterministic():
    connected = torch.zeros(5, 5, dtype=torch.bool)
    connected[2, 2] = True
    source = torch.tensor([12])
    g = torch.Generator().manual_seed(0)
    picks = torch.stack([nearest_dormant(connected, source, generator=g) for _ in range(4000)])
    counts = torch.bincount(picks.view(-1), minlength=25)[[7, 11, 13, 17]]
    assert int(counts.sum()) == 4000  # always one of the four neighbours at distance 1
    assert bool(((counts > 850) & (counts < 1150)).all()), counts.tolist()
    lowest = nearest_dormant(connected, source, tie_break="lowest")
    assert lowest.tolist() == [7]


def test_nearest_dormant_greedy_order_matters():
    # 1-D: sources at 2 and 3 both want cell 1 or 4; the first source in order claims first.
    connected = torch.tensor([False, False, True, True, False, False])
    claims = nearest_dormant(connected, torch.tensor([2, 2, 2]), tie_break="lowest")
    assert claims.tolist() == [1, 0, 4]
    claims = nearest_dormant(connected, torch.tensor([3, 2]), tie_break="lowest")
    assert claims.tolist() == [4, 1]


def test_eq3_differs_from_euclidean():
    # Equation 3 prefers moves towards index 0: from (5, 5), (4, 5) costs 9 and (6, 5) costs 11.
    connected = torch.zeros(12, 12, dtype=torch.bool)
    connected[5, 5] = True
    source = torch.tensor([5 * 12 + 5])
    eq3 = nearest_dormant(connected, source, metric="eq3", tie_break="lowest")
    assert eq3.tolist() == [4 * 12 + 5]
    g = torch.Generator().manual_seed(0)
    eucl = {int(nearest_dormant(connected, source, generator=g)) for _ in range(200)}
    assert eucl == {4 * 12 + 5, 6 * 12 + 5, 5 * 12 + 4, 5 * 12 + 6}


def test_nearest_dormant_bad_input():
    connected = torch.tensor([True, False, False])
    with pytest.raises(ValueError, match="only 2"):
        nearest_dormant(connected, torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match="bool"):
        nearest_dormant(connected.float(), torch.tensor([0]))
    with pytest.raises(ValueError, match="1 to 4 dimensions"):
        nearest_dormant(torch.ones(1, 1, 1, 1, 2, dtype=torch.bool), torch.tensor([0]))
    with pytest.raises(ValueError, match="connected coordinates"):
        nearest_dormant(connected, torch.tensor([1]))
    with pytest.raises(ValueError, match="flat indices in"):
        nearest_dormant(connected, torch.tensor([5]))
    with pytest.raises(ValueError, match="metric"):
        nearest_dormant(connected, torch.tensor([0]), metric="manhattan")
    assert nearest_dormant(connected, torch.tensor([], dtype=torch.long)).numel() == 0


# ---------------------------------------------------------------------------------------------
# Rewirer
# ---------------------------------------------------------------------------------------------

def churn(model, opt, steps, rewirer, lr=0.5, seed=0, check=None):
    """Train on random data with a high learning rate, so that connections die every step."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.rand(16, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (16,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        before = [layer.theta.detach().clone() for layer in sparse_layers(model)]
        stats = rewirer.step(lr, opt)
        if check is not None:
            check(before, stats)


def small(strategy, sparsity=0.9, seed=0, **kw):
    torch.manual_seed(seed)
    model = VGG11(1 - sparsity, width=0.125, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    rewirer = Rewirer(sparse_layers(model), 1 - sparsity, strategy=strategy, seed=seed, **kw)
    return model, opt, rewirer


@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_budget_exact_signs_fixed_revived_at_epsilon(strategy):
    model, opt, rewirer = small(strategy, noise_std=0.0)
    signs = [layer.sign.clone() for layer in sparse_layers(model)]
    totals = {"died": 0, "revived": 0}

    def check(before, stats):
        layers = sparse_layers(model)
        assert rewirer.connected_count() == rewirer.budget
        revived = 0
        for layer, old in zip(layers, before):
            theta = layer.theta.detach()
            new = (old <= 0) & (theta > 0)
            assert bool((theta[new] == 1e-12).all()), "revived theta must be exactly 1e-12"
            assert bool(torch.equal(theta[~new], old[~new]))  # nothing else touched
            revived += int(new.sum())
        assert revived == stats.revived
        totals["died"] += stats.died
        totals["revived"] += stats.revived

    churn(model, opt, 150, rewirer, check=check)
    assert totals["died"] > 500, "the test must actually exercise rewiring"
    for layer, s in zip(sparse_layers(model), signs):
        assert torch.equal(layer.sign, s)


@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_budget_exact_with_noise_and_momentum_reset(strategy):
    model, opt, rewirer = small(strategy, sparsity=0.95, reset_momentum=True)

    def check(before, stats):
        assert rewirer.connected_count() == rewirer.budget
        for layer in sparse_layers(model):
            revived = layer.theta.detach() == 1e-12
            buf = opt.state[layer.theta]["momentum_buffer"]
            assert bool((buf[revived] == 0).all())

    churn(model, opt, 60, rewirer, check=check)


def test_weight_based_samples_are_the_top_n(monkeypatch):
    model, opt, rewirer = small("weight_based")
    seen = []
    original = host._claim

    def spy(space, values, sources, lid, generator, metric, tie_break):
        for layer in lid.unique().tolist():
            src = sources[lid == layer]
            a, n = space.bases[layer], space.sizes[layer]
            theta = values[a:a + n]
            connected = (theta > 0).nonzero().squeeze(1) + a
            if src.numel() <= connected.numel():
                expected = values[connected].topk(src.numel()).values
                assert torch.equal(values[src], expected)  # the n largest, decreasing
                seen.append(src.numel())
        return original(space, values, sources, lid, generator, metric, tie_break)

    monkeypatch.setattr(host, "_claim", spy)
    churn(model, opt, 20, rewirer)
    assert sum(seen) > 50


def test_structured_claims_are_nearest_to_sampled_connections(monkeypatch):
    model, opt, rewirer = small("structured")
    calls = []
    original = host._claim

    def spy(space, values, sources, lid, generator, metric, tie_break):
        claims = original(space, values, sources, lid, generator, metric, tie_break)
        for layer in lid.unique().tolist():
            sel = lid == layer
            a, n = space.bases[layer], space.sizes[layer]
            shape = sparse_layers(model)[layer].theta.shape
            connected = (values[a:a + n] > 0).view(shape).clone()
            calls.append((connected, sources[sel] - a, claims[sel] - a))
        return claims

    monkeypatch.setattr(host, "_claim", spy)
    churn(model, opt, 10, rewirer)
    assert calls
    for connected, sources, claims in calls[:30]:
        assert bool(connected.reshape(-1)[sources].all())
        brute_force_check(connected, sources, claims)


@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_same_seed_identical_connectivity(strategy):
    masks = []
    for seed in (5, 5, 6):
        model, opt, rewirer = small(strategy, seed=0)
        rewirer = Rewirer(sparse_layers(model), 0.1, strategy=strategy, seed=seed)
        churn(model, opt, 25, rewirer)
        masks.append(torch.cat([l.connected().reshape(-1) for l in sparse_layers(model)]))
    assert torch.equal(masks[0], masks[1])
    assert not torch.equal(masks[0], masks[2])


@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_layer_without_room_passes_revivals_on(strategy):
    # A nearly full layer beside a large empty one, with a budget the small layer cannot hold.
    small_layer, big_layer = SparseLinear(4, 4), SparseConv2d(8, 8)
    small_layer.reset_sparse(1.0)
    big_layer.reset_sparse(0.0)
    with torch.no_grad():
        small_layer.theta.view(-1)[:2] = 0  # two dormant coordinates only
    layers = [small_layer, big_layer]
    rewirer = Rewirer(layers, connectivity=0.5, strategy=strategy, seed=1)
    stats = rewirer.step(0.1)
    assert rewirer.connected_count() == rewirer.budget == int(0.5 * (16 + 576))
    assert stats.revived == rewirer.budget - 14
    # ~8 of the 282 revivals are drawn for the small layer (16/592 of them); it takes its two
    # dormant coordinates and passes the rest on
    assert int(small_layer.connected().sum()) == 16
    assert int(big_layer.connected().sum()) == rewirer.budget - 16


def test_structured_with_more_revivals_than_connections():
    layer = SparseConv2d(4, 4)
    layer.reset_sparse(0.0)
    with torch.no_grad():
        layer.theta.view(-1)[17] = 1.0  # a single connection that must seed everything
    rewirer = Rewirer([layer], connectivity=0.2, strategy="structured", seed=0)
    rewirer.step(0.1)
    assert rewirer.connected_count() == int(0.2 * 144)


@pytest.mark.parametrize("strategy", ["random", "structured"])
def test_tracked_crossings_equal_full_scan_with_sgdw(strategy):
    """With SGDW, watching noise-killed coordinates finds every zero crossing a scan finds."""
    masks, crossings, per_step = [], [], []
    for crossing in ("scan", "track"):
        torch.manual_seed(0)
        model = VGG11(0.1, width=0.125, seed=0)
        opt = SGDW(model.parameters(), lr=0.5, weight_decay=5e-4)
        # a large noise makes noise deaths (and later crossings) frequent
        rewirer = Rewirer(sparse_layers(model), 0.1, strategy=strategy, crossing=crossing,
                          noise_std=2e-3, seed=0)
        seen = []

        def check(before, stats):
            assert rewirer.connected_count() == rewirer.budget
            seen.append(sum(int(((old <= 0) & (l.theta.detach() > 0) &
                                 (l.theta.detach() != 1e-12)).sum())
                            for l, old in zip(sparse_layers(model), before)))

        churn(model, opt, 120, rewirer, check=check)
        rewirer.canonicalize()
        masks.append(torch.cat([l.connected().reshape(-1) for l in sparse_layers(model)]))
        crossings.append(sum(w.numel() for w in rewirer._watch))
        per_step.append(seen)
    assert torch.equal(masks[0], masks[1])
    assert per_step[0] == per_step[1], "the same crossings, step by step"
    assert sum(per_step[1]) > 0, "the test must produce crossings back above zero"
    assert crossings[1] > 0, "the test must produce noise deaths to watch"


def test_rewirer_bad_arguments():
    layer = SparseLinear(4, 4)
    with pytest.raises(ValueError, match="strategy"):
        Rewirer([layer], 0.1, strategy="magnitude")
    with pytest.raises(ValueError, match="connectivity"):
        Rewirer([layer], 1.5)
    with pytest.raises(ValueError, match="metric"):
        Rewirer([layer], 0.1, metric="l1")
    with pytest.raises(ValueError, match="rng must be one of"):
        Rewirer([layer], 0.1, rng="gpu")


def test_state_dict_round_trip_continues_identically():
    model, opt, rewirer = small("structured")
    churn(model, opt, 5, rewirer)
    rewirer.canonicalize()
    saved = copy.deepcopy((model.state_dict(), opt.state_dict(), rewirer.state_dict()))
    churn(model, opt, 5, rewirer, seed=9)
    first = torch.cat([l.connected().reshape(-1) for l in sparse_layers(model)])
    model.load_state_dict(saved[0])
    opt.load_state_dict(saved[1])
    rewirer.load_state_dict(saved[2])
    churn(model, opt, 5, rewirer, seed=9)
    second = torch.cat([l.connected().reshape(-1) for l in sparse_layers(model)])
    assert torch.equal(first, second)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_runs_on_cuda(strategy):
    model = VGG11(0.05, width=0.25).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    rewirer = Rewirer(sparse_layers(model), 0.05, strategy=strategy)
    x, y = torch.rand(8, 3, 32, 32, device="cuda"), torch.randint(0, 10, (8,), device="cuda")
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        rewirer.step(0.5, opt)
        assert rewirer.connected_count() == rewirer.budget
    connected = torch.rand(6, 5, 3, 3, device="cuda") < 0.1
    src = connected.reshape(-1).nonzero().squeeze(1)
    claims = nearest_dormant(connected, src)
    assert claims.device.type == "cuda"
    brute_force_check(connected.cpu(), src.cpu(), claims.cpu())


# Fingerprints of the host-RNG stream, per torch version (the random streams of torch's
# sampling functions differ between versions). Record a new version's with
# ``python -c "from tests.test_rewiring import fingerprint; print(fingerprint('random'))"``.
GOLDEN_BY_TORCH = {"2.14": {"random": "15c2e706fdac3175", "structured": "0c63eb0790523122",
                            "weight_based": "52b0310b5b2d7f3a"}}
GOLDEN = GOLDEN_BY_TORCH["2.14"]  # the torch version that produced the committed results
TORCH_MINOR = ".".join(torch.__version__.split(".")[:2])


def fingerprint(strategy: str, device: str = "cpu", big: bool = False) -> str:
    """Connectivity after 200 steps of a random walk with rewiring, hashed (``big``: larger
    layers at 5 % connectivity for 30 steps, which draw revivals from random candidates)."""
    import hashlib

    g = torch.Generator().manual_seed(0)
    layers = ([SparseConv2d(128, 128), SparseLinear(512, 256)] if big else
              [SparseConv2d(8, 16), SparseLinear(64, 32)])
    for layer in layers:
        layer.reset_sparse(0.05, g)
        layer.to(device)
    rewirer = Rewirer(layers, 0.05 if big else 0.1, strategy=strategy, seed=0)
    for _ in range(30 if big else 200):
        with torch.no_grad():
            for layer in layers:
                t = layer.theta.detach()
                t.add_(0.05 * torch.randn(t.shape, generator=g).to(device) * (t > 0))
        rewirer.step(0.1)
        assert rewirer.connected_count() == rewirer.budget
    mask = torch.cat([layer.connected().reshape(-1) for layer in layers]).cpu()
    return hashlib.sha256(mask.numpy().tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("strategy", sorted(GOLDEN))
def test_connectivity_is_the_same_as_in_the_committed_results(strategy):
    """A regression fingerprint: the rewiring's random choices must not change between
    versions of srewire (the committed results were produced with these semantics). The
    dynamics are a plain random walk with elementwise arithmetic, so the fingerprint does not
    depend on convolution kernels or the CPU, but it does depend on torch's version: a
    version without a recorded fingerprint is skipped, and the stream-independent test
    below runs on every version."""
    if TORCH_MINOR not in GOLDEN_BY_TORCH:
        pytest.skip(f"no fingerprint recorded for torch {TORCH_MINOR} (recorded: "
                    f"{sorted(GOLDEN_BY_TORCH)}); see GOLDEN_BY_TORCH to add one")
    assert fingerprint(strategy) == GOLDEN_BY_TORCH[TORCH_MINOR][strategy]


@pytest.mark.parametrize("strategy", sorted(GOLDEN))
def test_fingerprint_dynamics_invariants_on_any_torch(strategy):
    """What the fingerprint run must show whatever the random stream: the budget after every
    step (asserted inside ``fingerprint``), revivals at exactly 1e-12 on dormant coordinates,
    and, for the structured strategies, revivals next to a connection (distance 1) while the
    random strategy scatters them."""
    g = torch.Generator().manual_seed(0)
    layer = SparseLinear(64, 32)
    layer.reset_sparse(0.05, g)
    rewirer = Rewirer([layer], 0.1, strategy=strategy, seed=0, noise_std=0.0)
    adjacent = revived = 0
    for _ in range(40):
        with torch.no_grad():
            t = layer.theta.detach()
            t.add_(0.05 * torch.randn(t.shape, generator=g) * (t > 0))
        before = layer.theta.detach().clone()
        rewirer.step(0.1)
        after = layer.theta.detach()
        assert rewirer.connected_count() == rewirer.budget
        new = (before <= 0) & (after > 0)
        assert bool((after[new] == 1e-12).all())
        conn = (before > 0).float()[None, None]
        near = F.conv2d(conn, torch.tensor([[[[0., 1, 0], [1, 0, 1], [0, 1, 0]]]]),
                        padding=1)[0, 0] > 0
        adjacent += int((new & near).sum())
        revived += int(new.sum())
    assert revived > 300
    share = adjacent / revived
    assert share > 0.95 if strategy != "random" else share < 0.5, share


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("strategy", sorted(GOLDEN))
def test_cuda_repeats_the_cpu_fingerprint(strategy):
    """With host randomness (the default) a GPU makes the CPU's random choices; elementwise
    float32 arithmetic is exact on both, so the connectivity is bit for bit the CPU's."""
    assert fingerprint(strategy, device="cuda") == fingerprint(strategy)


@pytest.mark.parametrize("strategy", sorted(GOLDEN))
def test_torch_operations_make_the_numpy_choices(strategy, monkeypatch):
    """On a CPU the step sorts, filters and compacts with NumPy; on a GPU with torch. Forcing
    the torch operations on the CPU must give the same connectivity, bit for bit."""
    calls = []
    for name in ("_unique", "_sorted", "_compress", "_true_positions"):
        helper = getattr(arrays, name)
        for module in (host, rewirer_module, sampling, search):  # every module importing it
            if hasattr(module, name):
                monkeypatch.setattr(module, name,
                                    lambda *a, _h=helper, _n=name: calls.append(_n) or _h(*a))
    with_numpy = fingerprint(strategy, big=True)
    exercised = {"_sorted", "_compress", "_true_positions"} | \
        ({"_unique"} if strategy != "weight_based" else set())  # random candidates
    assert exercised <= set(calls)
    monkeypatch.setattr(arrays, "NUMPY_ON_CPU", False)
    assert fingerprint(strategy, big=True) == with_numpy


@pytest.mark.parametrize("density", [0.0, 0.03, 0.5, 0.97, 1.0])
def test_numpy_helpers_equal_torch(density):
    """Each NumPy helper returns exactly what its torch operation returns, at mask densities
    that take either branch of ``_compress`` (boolean indexing or np.compress)."""
    g = torch.Generator().manual_seed(int(density * 100))
    x = torch.randint(0, 1 << 40, (5000,), generator=g)
    x[::7] = x[3]  # repeats, for unique
    mask = torch.rand(5000, generator=g) < density
    for values in (x, x.float()):
        assert torch.equal(arrays._compress(values, mask), values[mask])
    assert torch.equal(arrays._true_positions(mask), mask.nonzero().squeeze(1))
    assert torch.equal(arrays._sorted(x[mask]), x[mask].sort().values)
    assert torch.equal(arrays._unique(x[mask]), torch.unique(x[mask]))
