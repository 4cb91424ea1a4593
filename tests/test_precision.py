"""Mixed precision and the capturable training step, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch._dynamo
import torch.nn.functional as F

from srewire import precision as P
from srewire.attacks import robustness
from srewire.config import ConfigError, make_config
from srewire.models import VGG11, layer_names, sparse_layers
from srewire.rewiring import RewireStats
from srewire.runs import run
from srewire.train import SGDW, TrainStep, sgdw_update

CPU = torch.device("cpu")


class NullRewirer:
    """Stands in for a device rewirer: does nothing, returns its counts as device tensors."""

    def step(self, lr, optimizer=None) -> RewireStats:
        zero = torch.zeros((), dtype=torch.long)
        return RewireStats(zero, zero, zero, zero)


def tiny(seed: int = 0, width: float = 0.125) -> VGG11:
    return VGG11(0.1, width=width, seed=seed)


def batch(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


# -- resolution -------------------------------------------------------------------------------

@pytest.mark.parametrize("cpu_bf16, cuda_bf16, expect", [
    (True, True, {"cpu": "bf16", "cuda": "bf16", "meta": "fp32"}),
    (False, False, {"cpu": "fp32", "cuda": "fp16", "meta": "fp32"}),
    (True, False, {"cpu": "bf16", "cuda": "fp16", "meta": "fp32"}),
])
def test_auto_resolves_per_device_as_documented(monkeypatch, cpu_bf16, cuda_bf16, expect):
    monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: cpu_bf16)
    monkeypatch.setattr(P, "cuda_has_native_bf16", lambda device: cuda_bf16)
    for device, name in expect.items():
        assert P.resolve_precision("auto", device) == name
    for explicit in ("fp32", "bf16", "fp16"):  # explicit choices are never changed
        assert P.resolve_precision(explicit, "cpu") == explicit
        assert P.resolve_precision(explicit, "cuda") == explicit


def test_bad_precision_names_the_parameter():
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, fp16; "
                                          "got 'half'"):
        P.resolve_precision("half", "cpu")
    with pytest.raises(ConfigError, match="eval_precision must be one of"):
        make_config("smoke", eval_precision="int8")


def test_cpu_probe_agrees_with_the_kernels_flags(tmp_path):
    flags = P._cpuinfo_flags()
    if flags:  # Linux: torch's probe and /proc/cpuinfo must say the same
        assert P.cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n")
    assert P._cpuinfo_flags(str(fake)) >= {"avx512_bf16", "avx512f"}
    assert P._cpuinfo_flags(str(tmp_path / "missing")) == set()


def test_fp32_is_the_model_itself_and_reduced_wraps_with_float32_logits():
    model = tiny()
    assert P.get_precision("fp32", CPU).wrap(model) is model
    x, _ = batch(4)
    for name in ("bf16", "fp16"):
        net = P.get_precision(name, CPU).wrap(model)
        seen = {}
        hook = model.features[0].register_forward_hook(
            lambda m, i, o: seen.update(dtype=o.dtype, cl=i[0].is_contiguous(
                memory_format=torch.channels_last)))
        out = net(x)
        hook.remove()
        assert out.dtype == torch.float32
        assert seen == {"dtype": P._DTYPES[name], "cl": True}
        assert all(p.dtype == torch.float32 for p in model.parameters())


# -- the revived coordinate -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["fp32", "bf16", "fp16"])
def test_revived_theta_gets_a_finite_nonzero_gradient(name):
    """theta = 1e-12 (a revival): relu'(theta) = 1 is taken in float32, so the coordinate gets
    its gradient in every precision, although in fp16 the cast weight is exactly 0."""
    model = tiny()
    layers = sparse_layers(model)
    picks = []
    for layer in (layers[0], layers[3], layers[-1]):  # first conv, a middle conv, classifier
        flat = layer.theta.data.view(-1)
        i = int((flat <= 0).nonzero()[0])
        flat[i] = 1e-12
        picks.append((layer, i))
    opt = SGDW(model.parameters(), lr=0.05, weight_decay=5e-4)
    cfg = make_config("smoke", "natural", 0.9, "random", precision=name)
    trainer = TrainStep(model, opt, NullRewirer(), cfg, generator=torch.Generator())
    assert trainer.precision.name == name and (trainer.scaler is not None) == (name == "fp16")
    x, y = batch(32)
    ref = tiny()
    for layer_ref, (layer, i) in zip((sparse_layers(ref)[k] for k in (0, 3, -1)), picks):
        layer_ref.theta.data.view(-1)[i] = 1e-12
    F.cross_entropy(ref(x), y).backward()
    trainer.eager(x, y, lr=0.05, weight_decay=5e-4)
    for k, (layer, i) in zip((0, 3, -1), picks):
        g = layer.theta.grad.view(-1)[i]
        g_ref = sparse_layers(ref)[k].theta.grad.view(-1)[i]
        assert layer.theta.dtype == layer.theta.grad.dtype == torch.float32
        assert torch.isfinite(g) and g != 0, (name, k)
        if name == "fp32":  # the reference is the plain model's own gradient
            assert g == g_ref
        # (one coordinate's gradient is a sum over batch and positions with much
        # cancellation; in reduced precision its sign is not stable, so it is not compared)
        assert layer.theta.view(-1)[i] != 1e-12  # and the optimiser moved it
        assert opt.state[layer.theta]["momentum_buffer"].dtype == torch.float32


def test_one_step_in_bf16_is_close_to_fp32_but_not_equal():
    """Same weights, same batch: bf16 keeps 8 significant bits (unit roundoff 2^-9 = 0.2 %);
    through 11 layers the logits stay within a few percent. The gradient at initialisation is
    a small residual of large cancelling sums (per layer ~30 % relative error measured at this
    size, cosine 0.96 overall), far below the noise of the mini-batch itself: it must still
    point the same way (cosine > 0.9; a wrong backward gives ~0)."""
    x, y = batch(32)
    out, grads = {}, {}
    for name in ("fp32", "bf16"):
        model = tiny()
        logits = P.get_precision(name, CPU).wrap(model)(x)
        F.cross_entropy(logits, y).backward()
        out[name] = logits.detach()
        grads[name] = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    diff = (out["bf16"] - out["fp32"]).norm() / out["fp32"].norm()
    assert 0 < diff < 0.05, float(diff)
    cos = F.cosine_similarity(grads["bf16"], grads["fp32"], dim=0)
    assert cos > 0.9, float(cos)


# -- whole runs -------------------------------------------------------------------------------

def revivals_after_first_step(result: dict, steps_per_epoch: int) -> float:
    """Connections revived by the rewiring after the first step (whose fill is fixed by the
    initialisation), from the run's per-epoch means."""
    stats = result["rewiring_stats"]
    return (steps_per_epoch * sum(stats["revived_per_step_mean"])
            - stats["revived_per_step_first_epoch"][0])


def density_tolerance(size: int, total: int, revived: float) -> float:
    """How far one layer's density may differ between two runs whose rewiring streams have
    decorrelated. Each revival lands in this layer with probability size/total (the
    size-proportional split of the predecessor's sampling, Thesis §2.2.2), so its revivals are binomial with standard
    deviation sqrt(R p (1 - p)); two independent runs differ by sqrt(2) times that. Four
    standard deviations, in density, plus 0.001 for the two stored values' rounding to three
    decimals. For the smoke model this is ~0.01 for the large conv layers and ~0.1 for the
    320-weight classifier (where 0.016, five connections, was seen on an AVX2 CPU)."""
    p = size / total
    return 4 * (2 * revived * p * (1 - p)) ** 0.5 / size + 0.001


def test_smoke_runs_in_fp32_and_bf16_agree(tmp_path, synthetic_root):
    """Two epochs (16 steps of 32) from the same seed. Tolerances: the one-step logits differ
    by ~1 % (test above), so near ln 10 = 2.30 the epoch-mean loss may move by ~0.02; 0.05 in
    loss. Accuracies over 256 training / 128 test images have a binomial standard deviation of
    ~3-4 points, and the two trajectories slowly decorrelate: within 10 points. The rewiring's
    random stream shifts as soon as one count differs, so *which* coordinates revive differs;
    what must agree: the first step's fill (set by the initialisation, up to weights within
    rounding of zero), the budget, the
    per-layer densities (within the bound of ``density_tolerance``) and the revivals per step
    (within 10 %)."""
    res = {}
    for name in ("fp32", "bf16"):
        cfg = make_config("smoke", "natural", 0.9, "structured", seed=0, epochs=2,
                          n_train=256, precision=name)
        res[name] = run(cfg, tmp_path / name, data_root=synthetic_root, quiet=True)
        assert res[name]["provenance"]["precision"] == {
            "requested": name, "resolved": name, "eval": {"requested": "fp32",
                                                          "resolved": "fp32"}}
    a, b = res["fp32"], res["bf16"]
    assert a["curves"] != b["curves"]  # bf16 really ran
    for la, lb in zip(a["curves"]["train_loss"], b["curves"]["train_loss"]):
        assert abs(la - lb) < 0.05
    for key in ("train_accuracy", "test_accuracy"):
        for va, vb in zip(a["curves"][key], b["curves"][key]):
            assert abs(va - vb) <= 10.0, key
    assert a["sparsity"]["connections"] == b["sparsity"]["connections"]
    sizes = dict(zip(layer_names(tiny()), (layer.theta.numel() for layer in sparse_layers(tiny()))))
    revived = max(revivals_after_first_step(r, steps_per_epoch=256 // 32) for r in (a, b))
    for layer, da in a["sparsity"]["per_layer"].items():
        tol = density_tolerance(sizes[layer], sum(sizes.values()), revived)
        assert abs(da - b["sparsity"]["per_layer"][layer]) <= tol, (layer, tol)
    ra, rb = (r["rewiring_stats"]["revived_per_step_first_epoch"] for r in (a, b))
    # the first step's fill is the initial deficit (the same) plus the weights that crossed
    # zero in the first optimiser step, which fp32 and bf16 gradients may decide differently
    # for weights within rounding of zero: a handful, against thousands (7233 vs 7234 seen)
    assert abs(ra[0] - rb[0]) <= 0.01 * ra[0]
    for va, vb in zip(ra[1:], rb[1:]):
        assert abs(va - vb) <= 0.1 * va


def test_auto_is_recorded_as_requested_and_resolved(tmp_path, synthetic_root, monkeypatch):
    monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: False)
    cfg = make_config("smoke", "natural", 0.9, "random", n_train=64)
    assert cfg.precision == "auto"
    result = run(cfg, tmp_path / "run", data_root=synthetic_root, quiet=True)
    assert result["provenance"]["precision"]["requested"] == "auto"
    assert result["provenance"]["precision"]["resolved"] == "fp32"


def test_eval_precision_drives_the_attack_and_not_the_clean_count():
    model = tiny().eval()
    x, y = batch(16)
    calls: list[bool] = []
    model.register_forward_hook(lambda m, i, o: calls.append(torch.is_autocast_enabled("cpu")))
    for name in ("fp32", "bf16"):
        calls.clear()
        rob = robustness(model, x, y, eps=8 / 255, steps=2, restarts=1, batch_size=16,
                         backend="native", precision=name)
        assert rob["attack"]["precision"] == name
        assert calls[0] is False  # the clean forward pass: always float32
        assert set(calls[1:]) == {name == "bf16"}  # every attack forward pass


# -- the capturable step ----------------------------------------------------------------------

def test_sgdw_with_tensor_lr_matches_the_float_path():
    g = torch.Generator().manual_seed(0)
    p = [torch.randn(50, generator=g) for _ in range(3)]
    grads = [torch.randn(50, generator=g) for _ in range(3)]
    bufs = [torch.randn(50, generator=g) for _ in range(3)]
    q, qb = [t.clone() for t in p], [t.clone() for t in bufs]
    sgdw_update(p, grads, bufs, lr=0.1, weight_decay=5e-4, momentum=0.9)
    sgdw_update(q, grads, qb, lr=torch.tensor(0.1), weight_decay=torch.tensor(5e-4),
                momentum=0.9)
    for a, b in zip(p + bufs, q + qb):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def _generator_free_draw(fn, *args, generator, device, **kwargs):
    # torch.compile cannot trace a torch.Generator argument; the draw itself is one
    # asynchronous kernel (no read-back), so the check draws from the global generator
    return fn(*args, device=device, **kwargs)


def _trainer(objective: str, name: str, rewirer) -> TrainStep:
    model = tiny(width=1 / 16)
    opt = SGDW(model.parameters(), lr=0.1, weight_decay=5e-4)
    cfg = make_config("smoke", objective, 0.9, "random", train_attack_steps=2, precision=name)
    t = TrainStep(model, opt, rewirer, cfg, generator=torch.Generator().manual_seed(1))
    t.lr.fill_(0.1)
    t.weight_decay.fill_(5e-4)
    return t


def _compiled(body):
    torch._dynamo.reset()
    return torch.compile(body, fullgraph=True, backend="eager")


@pytest.mark.parametrize("objective, name", [("natural", "fp32"), ("natural", "bf16"),
                                             ("trades", "bf16")])
def test_captured_step_has_no_host_read_back(monkeypatch, objective, name):
    """The step a CUDA graph records (forward, backward, SGDW, rewiring) compiles as ONE graph
    (any .item(), bool(tensor), .tolist() or data-dependent shape breaks it) and updates the
    parameters as the same body run eagerly."""
    monkeypatch.setattr("srewire.trades.draw", _generator_free_draw)
    x, y = batch(8)
    eager, comp = _trainer(objective, name, NullRewirer()), _trainer(objective, name,
                                                                     NullRewirer())
    comp.reset_sums(4)
    torch.manual_seed(5)
    eager.body(x, y)
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        torch.manual_seed(5)
        _compiled(comp.body)(x, y)
    for p, q in zip(eager.params, comp.params):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert float(comp.sums["loss"]) == pytest.approx(float(eager.sums["loss"]), rel=1e-5)
    assert int(comp.log_pos) == 1 and comp.revived_per_step() == [0]
    assert any(not torch.equal(p, q) for p, q in zip(comp.params, tiny(width=1 / 16)
                                                       .parameters()))  # it did train


def test_the_read_back_check_catches_a_host_sync():
    class SyncingRewirer(NullRewirer):
        def step(self, lr, optimizer=None):
            if float(lr) > 0:  # a host read-back
                return super().step(lr, optimizer)
            return super().step(lr, optimizer)

    t = _trainer("natural", "fp32", SyncingRewirer())
    x, y = batch(8)
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        with pytest.raises(Exception, match="(?i)data-dependent|item|graph break|unsupported"):
            _compiled(t.body)(x, y)


def test_graphs_are_refused_off_cuda():
    model = tiny(width=1 / 16)
    opt = SGDW(model.parameters(), lr=0.1)
    cfg = make_config("smoke", "natural", 0.9, "random", precision="fp32")
    with pytest.raises(ValueError, match="graphs: CUDA graphs need a CUDA device"):
        TrainStep(model, opt, NullRewirer(), cfg, generator=torch.Generator(), graphs=True)


def test_a_captured_step_refuses_what_a_graph_cannot_replay():
    """A CPU generator for a captured TRADES step, or a host-rng rewirer, raise (naming the
    parameter) instead of being dropped or syncing inside the graph."""
    from srewire.train import _check_capturable

    class DeviceRewirer(NullRewirer):
        rng = "device"

    cuda = torch.device("cuda")  # the check itself touches no CUDA device
    with pytest.raises(ValueError, match="generator: a captured TRADES step.*got a cpu"):
        _check_capturable(cuda, "bf16", DeviceRewirer(), torch.Generator(), "trades")
    with pytest.raises(ValueError, match="rng: a captured step needs the device rewiring"):
        rewirer = DeviceRewirer()
        rewirer.rng = "host"
        _check_capturable(cuda, "bf16", rewirer, torch.Generator(), "natural")
    with pytest.raises(ValueError, match="graphs: .*fp16"):
        _check_capturable(cuda, "fp16", DeviceRewirer(), torch.Generator(), "natural")
    _check_capturable(cuda, "bf16", DeviceRewirer(), torch.Generator(), "natural")  # no draw


def test_eager_loop_counts_device_tensor_stats(synthetic_root):
    """A rewirer that returns its counts as device tensors (the device rewiring) is summed on
    the device and read back once."""
    from srewire.data import load_data
    from srewire.train import train_epoch

    class Counting(NullRewirer):
        def step(self, lr, optimizer=None):
            one = torch.ones((), dtype=torch.long)
            return RewireStats(one, one, 2 * one, one)

    class Handover(Counting):  # host ints for two steps, then device tensors (rng=device)
        calls = 0

        def step(self, lr, optimizer=None):
            self.calls += 1
            return RewireStats(0, 0, 5, 0) if self.calls <= 2 else super().step(lr, optimizer)

    data = load_data(synthetic_root, n_train=128, allow_synthetic=True)
    model = tiny(width=1 / 16)
    opt = SGDW(model.parameters(), lr=0.1)
    cfg = make_config("smoke", "natural", 0.9, "random", precision="fp32", n_train=128)
    stats = train_epoch(model, opt, Counting(), data.x_train[:128], data.y_train[:128], cfg,
                        step=0, total_steps=4, generator=torch.Generator())
    assert (stats.revived, stats.died, stats.revived_then_died) == (8, 4, 4)
    assert stats.revived_per_step == [2, 2, 2, 2]
    stats = train_epoch(model, opt, Handover(), data.x_train[:128], data.y_train[:128], cfg,
                        step=0, total_steps=4, generator=torch.Generator())
    assert stats.revived_per_step == [5, 5, 2, 2] and stats.revived == 14
    assert np.isfinite(stats.loss)
