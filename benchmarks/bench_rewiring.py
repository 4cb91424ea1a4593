"""Benchmark: cost of rewiring and of the sparse parameterisation (issue: srewire core).

Prints, measured in one run on this machine (times are medians over interleaved steps, so
that machine noise hits every variant alike):

* the natural training step (forward + backward + optimiser + rewiring) of sparse VGG11 at
  batch 128 for each strategy, at sparsity 0.99 and 0.95, the rewiring alone, and within it
  the noise phase that every strategy shares (``Rewirer._add_noise``);
* ratios: rewiring / step, structured / random, masked-sparse step / dense PyTorch step;
* the time of ``nearest_dormant`` against layer size at fixed density (should stay flat);
* on a CPU, what the NumPy array helpers of :mod:`srewire.rewiring` save: the structured
  step once more with torch operations only (``NUMPY_ON_CPU = False``; it must end with the
  same connectivity), and each helper against its torch equivalent at a step's sizes;
* the rewiring step alone with the host step and with the device step (``rng="device"``), and
  the aten operations one device step dispatches (``--ops``: only these, quickly).

    python benchmarks/bench_rewiring.py [--data DIR] [--warmup 15] [--steps 15]
    python benchmarks/bench_rewiring.py --ops [--width 0.25] [--sparsity 0.95]

Data: real CIFAR-10 from --data / $SREWIRE_DATA when it loads, else random images.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import srewire.rewiring.arrays as arrays

from srewire.config import STRATEGIES
from srewire.data import DataError, batches, load_data
from srewire.models import VGG11, VGG11_CONFIG, sparse_layers
from srewire.rewiring import Rewirer, nearest_dormant
from srewire.train import SGDW


def dense_vgg11() -> nn.Module:
    """The same network with ordinary dense nn.Conv2d / nn.Linear layers."""
    layers: list[nn.Module] = []
    c = 3
    for item in VGG11_CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, int(item), 3, padding=1, bias=False),
                       nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
            c = int(item)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(2048, 256), nn.ReLU(),
                         nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def batch_stream(data_root: str | None):
    g = torch.Generator().manual_seed(0)
    try:
        d = load_data(data_root, n_train=5000, n_test=10)
        print(f"data: real CIFAR-10 ({d.name}), 5000 training images")
        while True:
            yield from batches(d.x_train, d.y_train, 128, g)
    except DataError:
        print("data: random images (CIFAR-10 not found)")
        while True:
            yield torch.rand(128, 3, 32, 32, generator=g), torch.randint(0, 10, (128,), generator=g)


TORCH_ONLY = "structured, torch ops"  # the structured step with NUMPY_ON_CPU = False


class Variant:
    def __init__(self, name: str, sparsity: float | None):
        self.name = name
        strategy = "structured" if name == TORCH_ONLY else name
        if sparsity is None:
            self.model, self.rewirer = dense_vgg11(), None
        else:
            self.model = VGG11(1 - sparsity, seed=0)
            self.rewirer = (Rewirer(sparse_layers(self.model), 1 - sparsity, strategy=strategy,
                                    crossing="track", seed=0)
                            if strategy in STRATEGIES else None)
        self.opt = SGDW(self.model.parameters(), lr=0.1, weight_decay=5e-4)
        self.step_times: list[float] = []
        self.rewire_times: list[float] = []
        self.noise_times: list[float] = []
        self._noise_time = 0.0
        if self.rewirer is not None:  # time the strategy-independent noise phase on its own
            add_noise = self.rewirer._add_noise

            def timed_noise(lr: float):
                t = time.perf_counter()
                out = add_noise(lr)
                self._noise_time = time.perf_counter() - t
                return out
            self.rewirer._add_noise = timed_noise

    def step(self, x, y, record: bool) -> None:
        t0 = time.perf_counter()
        loss = F.cross_entropy(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        t1 = time.perf_counter()
        if self.rewirer is not None:
            arrays.NUMPY_ON_CPU = self.name != TORCH_ONLY
            try:
                self.rewirer.step(0.1, self.opt)
            finally:
                arrays.NUMPY_ON_CPU = True
        t2 = time.perf_counter()
        if record:
            self.step_times.append(t2 - t0)
            self.rewire_times.append(t2 - t1)
            self.noise_times.append(self._noise_time)

    @property
    def step_ms(self) -> float:
        return 1e3 * statistics.median(self.step_times)

    @property
    def rewire_ms(self) -> float:
        return 1e3 * statistics.median(self.rewire_times)

    @property
    def noise_ms(self) -> float:
        return 1e3 * statistics.median(self.noise_times)


def bench_training(sparsity: float, stream, warmup: int, steps: int) -> None:
    variants = [Variant(s, sparsity) for s in STRATEGIES]
    if next(variants[0].model.parameters()).device.type == "cpu":
        variants.append(Variant(TORCH_ONLY, sparsity))
    variants += [Variant("masked, no rewiring", sparsity), Variant("dense PyTorch", None)]
    for v in variants:
        v.model.train()
    for i in range(warmup + steps):
        x, y = next(stream)
        for v in variants:  # interleaved: every variant sees the same batch and machine state
            v.step(x, y, record=i >= warmup)
    by = {v.name: v for v in variants}
    print(f"\nsparsity {sparsity} (batch 128, {steps} timed steps after {warmup} warm-up, "
          f"medians)")
    print(f"{'variant':22s} {'step ms':>9s} {'rewire ms':>10s} {'rewire/step':>12s} "
          f"{'noise ms':>9s} {'noise/step':>11s}")
    for v in variants:
        cols = (f"{v.rewire_ms:10.2f} {100 * v.rewire_ms / v.step_ms:11.2f}% "
                f"{v.noise_ms:9.2f} {100 * v.noise_ms / v.step_ms:10.2f}%") if v.rewirer else ""
        print(f"{v.name:22s} {v.step_ms:9.1f} {cols}")
    print("(noise: the Langevin noise on every connection, gather + draw + put, which every "
          "strategy runs; it is part of 'rewire')")
    rnd = by["random"]
    for s in ("structured", "weight_based"):
        print(f"{s}/random: step {by[s].step_ms / rnd.step_ms:.3f}x, "
              f"rewiring alone {by[s].rewire_ms / rnd.rewire_ms:.2f}x")
    if TORCH_ONLY in by:
        same = torch.equal(by[TORCH_ONLY].rewirer.flat > 0, by["structured"].rewirer.flat > 0)
        print(f"structured rewiring with torch operations only / with the NumPy helpers: "
              f"{by[TORCH_ONLY].rewire_ms / by['structured'].rewire_ms:.2f}x "
              f"(same connectivity: {same})")
    dense = by["dense PyTorch"].step_ms
    print(f"masked-sparse step (no rewiring) / dense step: "
          f"{by['masked, no rewiring'].step_ms / dense:.3f}x; "
          f"with random rewiring: {rnd.step_ms / dense:.3f}x")


def bench_nearest_dormant(density: float = 0.05, n_sources: int = 200, reps: int = 20) -> None:
    print(f"\nnearest_dormant against layer size (density {density}, {n_sources} sources, "
          f"median of {reps} calls)")
    g = torch.Generator().manual_seed(0)
    for shape in [(64, 32, 3, 3), (128, 128, 3, 3), (256, 256, 3, 3), (512, 512, 3, 3),
                  (1024, 1024, 3, 3), (256, 2048), (2048, 4096)]:
        connected = torch.rand(shape, generator=g) < density
        conn = connected.reshape(-1).nonzero().squeeze(1)
        times = []
        for _ in range(reps):
            src = conn[torch.randperm(conn.numel(), generator=g)[:n_sources]]
            t = time.perf_counter()
            nearest_dormant(connected, src, generator=g)
            times.append(time.perf_counter() - t)
        n = connected.numel()
        print(f"  shape {str(shape):22s} size {n:>10,d}: {1e3 * statistics.median(times):7.2f} ms")


def _median_ms(fn, reps: int = 30) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def bench_helpers() -> None:
    """Each NumPy helper against the torch operation it replaces on a CPU, at the sizes of a
    VGG11 step at sparsity 0.95 (490 k connections, 16 k revivals)."""
    g = torch.Generator().manual_seed(0)
    ints = torch.randint(0, 9_810_112, (16_000,), generator=g)
    conn = torch.randint(0, 9_810_112, (490_000,), generator=g)
    alive = torch.rand(490_000, generator=g) > 0.03
    cases = [
        ("sort 16 k integers", lambda: arrays._sorted(ints), lambda: ints.sort().values),
        ("unique 16 k integers", lambda: arrays._unique(ints), lambda: torch.unique(ints)),
        ("positions of 3 % True in 490 k", lambda: arrays._true_positions(~alive),
         lambda: (~alive).nonzero().squeeze(1)),
        ("keep 97 % of 490 k", lambda: arrays._compress(conn, alive), lambda: conn[alive]),
    ]
    print("\nNumPy helpers on a CPU (median of 30 calls; torch / NumPy)")
    for name, ours, theirs in cases:
        assert torch.equal(ours(), theirs())
        a, b = _median_ms(ours), _median_ms(theirs)
        print(f"  {name:32s} NumPy {a:6.3f} ms  torch {b:6.3f} ms  {b / a:5.2f}x")


def bench_device_step(width: float = 0.25, sparsity: float = 0.95, steps: int = 5) -> None:
    """The rewiring step alone, host step against device step (rng="device"), on the same
    random walk of VGG11's thetas at ``width``; medians of interleaved steps. On a CPU the
    device step does more arithmetic (static shapes: all slots, the whole offset window);
    what it buys is a step with no host synchronisation, which only pays on a GPU."""
    print(f"\nrewiring step alone, host vs device step (VGG11 width {width}, sparsity "
          f"{sparsity}, median of {steps} steps)")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for strategy in STRATEGIES:
        rewirers, times = {}, {"host": [], "device": []}
        for rng in times:
            model = VGG11(1 - sparsity, width=width, seed=0).to(dev)
            rewirers[rng] = Rewirer(sparse_layers(model), 1 - sparsity, strategy=strategy,
                                    seed=0, rng=rng, noise_std=0.0)
            for _ in range(40):  # past the first steps' large deficit (host steps)
                _walk(rewirers[rng])
                rewirers[rng].step(0.1)
                if rng == "device" and rewirers[rng].on_device:
                    break
        if not rewirers["device"].on_device:
            print(f"  {strategy:13s} the device step did not take over; skipped")
            continue
        for _ in range(steps):
            for rng, rw in rewirers.items():
                _walk(rw)
                if dev == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                rw.step(0.1)
                if dev == "cuda":
                    torch.cuda.synchronize()
                times[rng].append(time.perf_counter() - t)
        h, d = (1e3 * statistics.median(times[k]) for k in ("host", "device"))
        print(f"  {strategy:13s} host {h:8.2f} ms  device {d:8.2f} ms  device / host "
              f"{d / h:5.2f}x")


def bench_device_ops(width: float = 0.25, sparsity: float = 0.95) -> None:
    """aten operations of one device step per strategy (deterministic; each is at least one
    kernel launch on a GPU), with the step's largest new tensor against the network's size
    (O(budget), not O(network)), counted with :mod:`srewire.opcount` after the hand-over."""
    from srewire.opcount import count_ops

    print(f"\naten operations per device step (VGG11 width {width}, sparsity {sparsity})")
    for strategy in STRATEGIES:
        model = VGG11(1 - sparsity, width=width, seed=0)
        opt = SGDW(model.parameters(), lr=0.1, weight_decay=5e-4)
        rw = Rewirer(sparse_layers(model), 1 - sparsity, strategy=strategy, seed=0,
                     rng="device", crossing="track")
        for _ in range(40):
            if rw.on_device:
                break
            _walk(rw)
            rw.step(0.1, opt)
        _walk(rw)
        counted = count_ops(lambda: rw.step(0.1, opt))
        print(f"  {strategy:13s} {counted.total:5d} ops  largest new tensor "
              f"{counted.largest:>9,d} elements  (network {rw.n:,d}, budget {rw.budget:,d}, "
              f"slots {rw.device_step.slots:,d})")


def _walk(rewirer: Rewirer, scale: float = 0.002) -> None:
    """Kill a few connections, as an optimiser step would."""
    with torch.no_grad():
        flat = rewirer.flat
        flat.sub_(scale * (flat > 1e-9) * torch.rand_like(flat))  # revivals survive


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None)
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--sparsity", type=float, nargs="+", default=[0.99, 0.95])
    p.add_argument("--ops", action="store_true",
                   help="only the device step: aten operations per step, host vs device time")
    p.add_argument("--width", type=float, default=0.25, help="VGG11 width for --ops")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.ops:
        for s in args.sparsity:
            bench_device_ops(args.width, s)
        bench_device_step(args.width)
        return
    stream = batch_stream(args.data)
    for s in args.sparsity:
        bench_training(s, stream, args.warmup, args.steps)
    bench_nearest_dormant()
    bench_helpers()
    bench_device_ops()
    bench_device_step()


if __name__ == "__main__":
    main()
