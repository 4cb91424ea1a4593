"""What a captured CUDA graph needs, checked on the CPU: every tensor the device step and the
training step read or write keeps its storage (a graph replays the addresses it recorded), and
the device step stays cheap (a bounded number of aten operations per step)."""

import pytest
import torch

from srewire.config import make_config
from srewire.models import VGG11, sparse_layers
from srewire.opcount import count_ops
from srewire.rewiring import Rewirer
from srewire.train import SGDW, TrainStep


def tensors_of(*objects):
    """Every tensor attribute (and tensors in lists and dicts) of the objects, by name."""
    out = {}
    for name, obj in objects:
        for key, value in vars(obj).items():
            items = (value.items() if isinstance(value, dict) else
                     enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)])
            for sub, v in items:
                if isinstance(v, torch.Tensor) and v.device.type != "meta":
                    out[f"{name}.{key}" + ("" if sub is None else f"[{sub}]")] = v
    return out


def pointers(named):
    return {k: v.data_ptr() for k, v in named.items()}


def trainer(objective, strategy):
    model = VGG11(0.1, width=1 / 16, seed=0)
    opt = SGDW(model.parameters(), lr=0.1, weight_decay=5e-4)
    rewirer = Rewirer(sparse_layers(model), 0.1, strategy=strategy, seed=0, rng="device",
                      crossing="track", device_slots=256)
    cfg = make_config("smoke", objective, 0.9, strategy, train_attack_steps=1,
                      precision="fp32", batch_size=8)
    t = TrainStep(model, opt, rewirer, cfg, generator=torch.Generator().manual_seed(1))
    t.lr.fill_(0.1)  # written in place before each replay, as the captured loop does
    t.weight_decay.fill_(5e-4)
    return t


@pytest.mark.parametrize("objective, strategy", [("natural", "random"),
                                                 ("natural", "structured"),
                                                 ("natural", "weight_based"),
                                                 ("trades", "structured")])
def test_no_tensor_of_a_step_moves_over_100_steps_and_an_epoch_end(objective, strategy):
    t = trainer(objective, strategy)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
    t.reset_sums(120)
    while not t.rewirer.on_device:  # the host steps of the initial fill
        t.body(x, y)
    t.prepare()
    r = t.rewirer
    watched = lambda: tensors_of(("step", t), ("rewirer", r), ("device", r.device_step),  # noqa
                                 ("space", r.space)) | {
        f"param{i}": p for i, p in enumerate(t.params)} | {
        f"momentum{i}": b for i, b in enumerate(t.bufs)}
    before = pointers(watched())
    assert len(before) > 30
    for i in range(100):
        t.body(x, y)
        if i == 50:  # an epoch boundary, as the training loop runs it
            r.canonicalize()
            t.reset_sums(120)
    after = pointers(watched())
    moved = sorted(k for k in before if after.get(k) != before[k])
    assert not moved, f"storage moved: {moved}"
    assert r.connected_count() == r.budget
    assert int(t.log_pos) == 49  # steps after the epoch boundary, logged on the device


def test_a_reallocating_step_is_caught(monkeypatch):
    """The check fails when the device step assigns a new tensor instead of writing in place."""
    import srewire.rewiring.device as device
    original = device.DeviceStep._step

    kept = []  # the replaced tensors stay alive, so the allocator cannot hand their memory back

    def reallocating(self, lr):
        out = original(self, lr)
        kept.append(self.last)
        self.last = self.last.clone()
        return out

    monkeypatch.setattr(device.DeviceStep, "_step", reallocating)
    with pytest.raises(AssertionError, match="storage moved.*device.last"):
        test_no_tensor_of_a_step_moves_over_100_steps_and_an_epoch_end("natural", "random")


# The most aten operations one device step may dispatch (each is at least one kernel launch
# on a GPU). Measured on this code (width 1/16, 512 slots): random 161, structured 295,
# weight_based 299.
MAX_OPS = 300


@pytest.mark.parametrize("strategy", ["random", "structured", "weight_based"])
def test_device_step_dispatches_at_most_300_ops(strategy):
    model = VGG11(0.05, width=1 / 16, seed=0)
    opt = SGDW(model.parameters(), lr=0.1, weight_decay=5e-4)
    rewirer = Rewirer(sparse_layers(model), 0.05, strategy=strategy, seed=0, rng="device",
                      crossing="track", device_slots=512)
    g = torch.Generator().manual_seed(1)
    for _ in range(12):
        with torch.no_grad():
            for layer in sparse_layers(model):
                t = layer.theta.detach()
                t.add_(0.01 * torch.randn(t.shape, generator=g) * (t > 0))
        rewirer.step(0.1, opt)
    assert rewirer.on_device
    counted = count_ops(lambda: rewirer.step(0.1, opt))
    assert 50 < counted.total <= MAX_OPS, dict(counted.ops)
    # O(budget): no operation makes a tensor of the network's size (as a scan of theta would)
    assert not {rewirer.n, rewirer.n + 1} & counted.numels
    assert rewirer.connected_count() == rewirer.budget
