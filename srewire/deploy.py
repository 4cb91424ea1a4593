"""Inference models that compute a trained sparse VGG11's function in five ways.

The thesis's promise (Thesis §3.1, §3.3) is that structured rewiring leaves whole
lowest-dimensional vectors empty, so that "the largest part could be completely left out" at
deployment. This module turns a trained network (a result folder, or a :class:`~srewire.models.VGG11`) into
inference models that compute the same function, so that the benchmark
``benchmarks/bench_deploy.py`` can time what each representation buys:

* ``dense`` — the baseline: every layer as trained, a dense convolution / matrix product with
  the zeros stored (BatchNorm folded into the convolution, as any inference export does);
* ``channels`` — what a channel pruner gives: input channels and output filters that are empty
  everywhere are removed (with their BatchNorm), the rest stays a dense convolution;
* ``compact`` — fibre-compacted: on top of ``channels``, every zero fibre along the output axis
  (a (c_in, kh, kw) position that no output filter uses, i.e. one im2col row) is left out: the
  needed input patches are gathered and multiplied by a smaller dense matrix. For the dense
  layers the zero input columns are dropped. This is the speed-up the thesis argues for;
* ``csr`` — unstructured sparse: ``torch.sparse`` CSR matrices for the dense layers and for the
  im2col'd convolutions (what a user reaches for on a CPU);
* ``condensed`` — SRigL's constant fan-in representation (Lasby et al., ICLR 2024): for every
  output the indices and values of its inputs, padded to the layer's largest fan-in where the
  fan-ins differ (the networks here were not trained with a constant fan-in; the padding is
  reported by :func:`condensed_report`).

An output filter with no connection still produces a constant channel (its BatchNorm shift
after the ReLU). ``channels`` and ``compact`` drop such a channel too and add its constant
contribution to the next layer's bias (a per-position map for a padded convolution), so the
function stays the same. The chain is plain (conv-BN-ReLU[-pool] ..., flatten, linear ...),
so the channel bookkeeping is a single pass and needs no dependency-graph pruner.

All five agree with the masked model up to fp32 rounding (``tests/test_deploy.py``).
:func:`multiply_adds` counts each representation's multiply-adds per image, layer by layer.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import from_dict
from .models import VGG11, SparseConv2d, SparseLinear, layer_names, sparse_layers

__all__ = ["VARIANTS", "LayerSpec", "extract", "build", "multiply_adds", "condensed_report",
           "load_network", "set_masks", "DeployedNet"]

VARIANTS: tuple[str, ...] = ("dense", "channels", "compact", "csr", "condensed")
_CHUNK = 1 << 23  # elements of one gathered block of the condensed layers


@dataclass
class LayerSpec:
    """One sparse layer of the chain with its BatchNorm folded in (inference form).

    ``weight`` is the effective weight (zeros where dormant) times the BatchNorm scale,
    ``bias`` the BatchNorm shift (or the linear bias); ``size`` the input's spatial size of a
    convolution; ``pool`` whether a 2x2 max-pool follows the ReLU; ``relu`` whether one does.
    """

    name: str
    kind: str                    # conv | linear
    weight: torch.Tensor         # (O, C, kh, kw) or (O, I)
    bias: torch.Tensor           # (O,)
    relu: bool
    pool: bool = False
    size: tuple[int, int] = (1, 1)
    padding: int = 0
    flatten: bool = False        # the first linear layer: input is (N, C, H, W), (h, w, c) order
    in_shape: tuple[int, int, int] = field(default=(0, 0, 0))  # (C, H, W) feeding a flatten


@torch.no_grad()
def extract(model: VGG11, image_size: int = 32) -> list[LayerSpec]:
    """The chain of folded layers of an eval-mode VGG11 (``srewire.models.VGG11`` layout)."""
    specs: list[LayerSpec] = []
    names = iter(layer_names(model))
    blocks = list(model.features)
    h = w = image_size
    channels = blocks[0].theta.shape[1]
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if isinstance(block, nn.MaxPool2d):
            specs[-1].pool = True
            h, w = h // 2, w // 2
            i += 1
            continue
        if not isinstance(block, SparseConv2d) or not isinstance(blocks[i + 1], nn.BatchNorm2d):
            raise ValueError(f"model: unexpected block {type(block).__name__} in features")
        bn = blocks[i + 1]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        weight = block.weight().detach() * scale[:, None, None, None]
        specs.append(LayerSpec(next(names), "conv", weight.float().clone(), shift.float().clone(),
                               relu=True, size=(h, w), padding=block.padding))
        channels = weight.shape[0]
        i += 3  # conv, BN, ReLU
    n = len(model.classifier)
    for j, layer in enumerate(model.classifier):
        assert isinstance(layer, SparseLinear)
        specs.append(LayerSpec(next(names), "linear", layer.weight().detach().float().clone(),
                               layer.bias.detach().float().clone(), relu=j < n - 1,
                               flatten=j == 0, in_shape=(channels, h, w)))
    return specs


def _act(spec: LayerSpec, y: torch.Tensor) -> torch.Tensor:
    if spec.relu:
        y = F.relu(y)
    if spec.pool and y.shape[1] == 0:  # no channel left (max_pool2d refuses an empty one)
        return y.new_zeros(y.shape[0], 0, y.shape[2] // 2, y.shape[3] // 2)
    if spec.pool:
        y = F.max_pool2d(y, 2)
    return y


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x


class _Dense(nn.Module):
    """Dense conv / linear with the zeros stored (the baseline)."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if s.kind == "conv":
            return _act(s, F.conv2d(x, s.weight, s.bias, padding=s.padding))
        return _act(s, F.linear(_flatten(x) if s.flatten else x, s.weight, s.bias))


def _im2col(x: torch.Tensor, spec: LayerSpec) -> tuple[torch.Tensor, int, int]:
    kh, kw = spec.weight.shape[2:]
    return F.unfold(x, (kh, kw), padding=spec.padding), x.shape[2], x.shape[3]


class _CSR(nn.Module):
    """Unstructured sparse: a CSR weight times the im2col matrix (or the features)."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec
        with warnings.catch_warnings():  # torch flags its CSR support as beta, once
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.weight = spec.weight.reshape(spec.weight.shape[0], -1).to_sparse_csr()
        self.bias = spec.bias[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if s.kind == "conv":
            cols, h, w = _im2col(x, s)                         # (N, C*kh*kw, L)
            n, k, length = cols.shape
            flat = cols.transpose(0, 1).reshape(k, n * length)
            y = (self.weight @ flat).view(-1, n, length) + self.bias[:, :, None]
            y = y.transpose(0, 1)
            return _act(s, y.reshape(n, -1, h, w))
        x = _flatten(x) if s.flatten else x
        return _act(s, (self.weight @ x.t() + self.bias).t())


def _fan_in_table(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Indices and values of every output's inputs, padded to the largest fan-in (value 0)."""
    w2 = weight.reshape(weight.shape[0], -1)
    nz = w2 != 0
    counts = nz.sum(1)
    k = max(1, int(counts.max()))
    order = torch.argsort((~nz).to(torch.int8), dim=1, stable=True)[:, :k]  # nonzeros first
    values = torch.gather(w2, 1, order)
    values = torch.where(torch.arange(k)[None, :] < counts[:, None], values, 0.0)
    return order.contiguous(), values.contiguous(), counts.tolist()


class _Condensed(nn.Module):
    """SRigL's condensed layer: ``y[o] = sum_j values[o, j] * x[indices[o, j]]``."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.indices, self.values, self.counts = _fan_in_table(spec.weight)

    def _contract(self, cols: torch.Tensor) -> torch.Tensor:
        """(N, I, L) -> (N, O, L): gather each output's k input rows of the (I, N * L)
        matrix, then one batched (1 x k) @ (k x N * L) product per output; outputs in chunks
        of at most ``_CHUNK`` gathered elements."""
        n, i, length = cols.shape
        flat = cols.transpose(0, 1).reshape(i, n * length)
        o, k = self.indices.shape
        step = max(1, _CHUNK // max(1, k * n * length))
        parts = []
        for j in range(0, o, step):
            idx, val = self.indices[j:j + step], self.values[j:j + step]
            g = flat.index_select(0, idx.reshape(-1)).view(len(idx), k, n * length)
            parts.append(torch.bmm(val[:, None, :], g)[:, 0])
        y = torch.cat(parts) if len(parts) > 1 else parts[0]
        return y.view(o, n, length).transpose(0, 1) + self.spec.bias[None, :, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if s.kind == "conv":
            cols, h, w = _im2col(x, s)
            return _act(s, self._contract(cols).view(x.shape[0], -1, h, w))
        x = _flatten(x) if s.flatten else x
        return _act(s, self._contract(x[:, :, None])[:, :, 0])


@dataclass
class _Plan:
    """Channel bookkeeping of one layer: which outputs are computed and which inputs read."""

    live_out: torch.Tensor       # indices of computed outputs
    live_in: torch.Tensor        # indices (into the previous layer's outputs) of read inputs
    weight: torch.Tensor         # weight restricted to (live_out, live_in)
    bias: torch.Tensor           # (O',) or (O', H, W): bias plus constant inputs' contribution


@torch.no_grad()
def _plans(specs: list[LayerSpec]) -> list[_Plan]:
    """Drop outputs nobody reads or that are constant, fold constants into the next bias."""
    nonempty = [s.weight.reshape(s.weight.shape[0], -1).ne(0).any(1) for s in specs]
    # channels of layer i that layer i + 1 reads (the last layer's outputs are all read)
    needed = []
    for i, s in enumerate(specs):
        if i + 1 == len(specs):
            needed.append(torch.ones(s.weight.shape[0], dtype=torch.bool))
            continue
        nxt = specs[i + 1]
        reads = nxt.weight.ne(0).any(0)
        if nxt.kind == "conv":
            reads = reads.flatten(1).any(1)
        elif nxt.flatten:  # features in (h, w, c) order
            c, h, w = nxt.in_shape
            reads = reads.view(h, w, c).any(0).any(0)
        needed.append(reads)
    plans: list[_Plan] = []
    first = specs[0].weight.ne(0).any(0)
    live_prev = torch.nonzero(first.flatten(1).any(1) if first.dim() == 3 else first).flatten()
    const_prev: dict[int, float] = {}
    for i, s in enumerate(specs):
        live_out = torch.nonzero(needed[i] & nonempty[i]).flatten()
        w = s.weight[live_out]
        if s.kind == "linear" and s.flatten:
            c, h, wd = s.in_shape
            feat = torch.arange(c * h * wd).view(h, wd, c)
            cols = feat[:, :, live_prev].reshape(-1)
            weight = w[:, cols]
            bias = s.bias[live_out].clone()
            for ch, value in const_prev.items():
                bias += value * w[:, feat[:, :, ch].reshape(-1)].sum(1)
        elif s.kind == "linear":
            weight = w[:, live_prev]
            bias = s.bias[live_out].clone()
            for ch, value in const_prev.items():
                bias += value * w[:, ch]
        else:
            weight = w[:, live_prev]
            bias = s.bias[live_out].clone()
            if const_prev and live_out.numel():  # (a layer with no filter left has no map)
                z = torch.zeros(1, s.weight.shape[1], *s.size)
                for ch, value in const_prev.items():
                    z[0, ch] = value
                bias = bias[:, None, None] + F.conv2d(z, w, padding=s.padding)[0]
        plans.append(_Plan(live_out, live_prev, weight.contiguous(), bias.contiguous()))
        # outputs of this layer that are read but empty: constant relu(shift)
        const = torch.nonzero(needed[i] & ~nonempty[i]).flatten().tolist()
        values = F.relu(s.bias) if s.relu else s.bias
        const_prev = {ch: float(values[ch]) for ch in const if float(values[ch]) != 0.0}
        live_prev = live_out
    return plans


class _Channels(nn.Module):
    """Channel-pruned dense layer (empty inputs/filters removed, constants folded)."""

    def __init__(self, spec: LayerSpec, plan: _Plan, first: bool) -> None:
        super().__init__()
        self.spec, self.plan = spec, plan
        full = spec.weight.shape[1] if spec.kind == "conv" else 0
        self.select = (None if not first or len(plan.live_in) == full else plan.live_in)
        self.map_bias = plan.bias.dim() == 3

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.select is None else x.index_select(1, self.select)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, p = self.spec, self.plan
        if s.kind == "conv":
            x = self._input(x)
            if p.weight.numel() == 0:  # no filter or no input left: the layer is its bias
                y = x.new_zeros(x.shape[0], p.weight.shape[0], *s.size)
                y = y + (p.bias if self.map_bias else p.bias[:, None, None])
            elif self.map_bias:
                y = F.conv2d(x, p.weight, None, padding=s.padding) + p.bias
            else:
                y = F.conv2d(x, p.weight, p.bias, padding=s.padding)
            return _act(s, y)
        return _act(s, F.linear(_flatten(x) if s.flatten else x, p.weight, p.bias))


class _Compact(_Channels):
    """Fibre-compacted layer: only the used im2col rows are gathered and multiplied."""

    def __init__(self, spec: LayerSpec, plan: _Plan, first: bool) -> None:
        super().__init__(spec, plan, first)
        w = plan.weight
        if spec.kind == "conv":
            o, c, kh, kw = w.shape
            rows = torch.nonzero(w.ne(0).any(0).reshape(-1)).flatten()   # (c, kh, kw) order
            self.weight = w.reshape(o, c * kh * kw)[:, rows].contiguous()
            h, wd = spec.size
            hp, wp = h + 2 * spec.padding, wd + 2 * spec.padding
            ch, r = rows // (kh * kw), rows % (kh * kw)
            dy, dx = r // kw, r % kw
            yy, xx = torch.meshgrid(torch.arange(h), torch.arange(wd), indexing="ij")
            offset = (ch * hp * wp + dy * wp + dx)[:, None]
            self.index = (offset + (yy * wp + xx).reshape(1, -1)).reshape(-1)
            self.rows = len(rows)
            self.bias = plan.bias if self.map_bias else plan.bias[:, None, None]
        else:
            cols = torch.nonzero(w.ne(0).any(0)).flatten()
            self.cols = None if len(cols) == w.shape[1] else cols
            self.weight = w if self.cols is None else w[:, cols].contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if s.kind == "conv":
            x = self._input(x)
            n = x.shape[0]
            h, wd = s.size
            xp = F.pad(x, (s.padding,) * 4).flatten(1)
            cols = xp.index_select(1, self.index).view(n, self.rows, h * wd)
            y = torch.matmul(self.weight, cols).view(n, self.weight.shape[0], h, wd) + self.bias
            return _act(s, y)
        x = _flatten(x) if s.flatten else x
        if self.cols is not None:
            x = x.index_select(1, self.cols)
        return _act(s, F.linear(x, self.weight, self.plan.bias))


class DeployedNet(nn.Module):
    """One inference representation: a chain of stages, one per sparse layer (conv stages
    include their ReLU and pool, the first linear stage the (h, w, c) flatten)."""

    def __init__(self, variant: str, stages: list[nn.Module], names: list[str]) -> None:
        super().__init__()
        self.variant = variant
        self.stages = nn.ModuleList(stages)
        self.names = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x

    @torch.no_grad()
    def stage_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input of every stage for input ``x`` (for per-layer timing)."""
        inputs = []
        for stage in self.stages:
            inputs.append(x)
            x = stage(x)
        return inputs


def build(source: VGG11 | list[LayerSpec], variant: str) -> DeployedNet:
    """The inference model of ``variant`` (one of ``VARIANTS``) for an eval-mode model or
    its extracted layers."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    specs = extract(source) if isinstance(source, nn.Module) else source
    names = [s.name for s in specs]
    if variant == "dense":
        return DeployedNet(variant, [_Dense(s) for s in specs], names)
    if variant == "csr":
        return DeployedNet(variant, [_CSR(s) for s in specs], names)
    if variant == "condensed":
        return DeployedNet(variant, [_Condensed(s) for s in specs], names)
    plans = _plans(specs)
    cls = _Channels if variant == "channels" else _Compact
    return DeployedNet(variant, [cls(s, p, i == 0) for i, (s, p) in
                                 enumerate(zip(specs, plans))], names)


def _positions(spec: LayerSpec) -> int:
    return spec.size[0] * spec.size[1] if spec.kind == "conv" else 1


@torch.no_grad()
def multiply_adds(specs: list[LayerSpec]) -> dict[str, dict[str, int]]:
    """Multiply-adds per image of every layer, for every variant plus ``"nonzero"`` (the floor:
    one multiply-add per connection and output position). BatchNorm, ReLU, pools, biases and
    gathers are not counted. Returns ``{variant: {layer: count}}``."""
    plans = _plans(specs)
    out: dict[str, dict[str, int]] = {v: {} for v in (*VARIANTS, "nonzero")}
    for s, p in zip(specs, plans):
        pos = _positions(s)
        nnz = int(s.weight.ne(0).sum())
        out["dense"][s.name] = s.weight.numel() * pos
        out["channels"][s.name] = p.weight.numel() * pos
        if s.kind == "conv":
            rows = int(p.weight.ne(0).any(0).sum())
            out["compact"][s.name] = len(p.live_out) * rows * pos
        else:
            out["compact"][s.name] = len(p.live_out) * int(p.weight.ne(0).any(0).sum())
        out["csr"][s.name] = nnz * pos
        k = max(1, int(s.weight.reshape(s.weight.shape[0], -1).ne(0).sum(1).max()))
        out["condensed"][s.name] = s.weight.shape[0] * k * pos
        out["nonzero"][s.name] = nnz * pos
    return out


def condensed_report(specs: list[LayerSpec]) -> dict[str, dict]:
    """Per layer: whether the fan-in is constant (SRigL's condition), its min/max, and the
    padding overhead (stored entries / connections) of the condensed form."""
    report = {}
    for s in specs:
        counts = s.weight.reshape(s.weight.shape[0], -1).ne(0).sum(1)
        nnz, k = int(counts.sum()), max(1, int(counts.max()))
        report[s.name] = {"constant_fan_in": bool((counts == counts[0]).all()),
                          "fan_in_min": int(counts.min()), "fan_in_max": int(counts.max()),
                          "padding_overhead": (s.weight.shape[0] * k / nnz) if nnz else None}
    return report


# --------------------------------------------------------------------------------------------
# networks from result folders
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def set_masks(model: VGG11, masks: dict[str, np.ndarray], seed: int = 0) -> VGG11:
    """Give ``model`` the connectivity ``masks`` ({layer name: bool array}) with fresh random
    magnitudes (absolute values of a seeded normal draw); signs are the model's. For speed only the masks matter."""
    g = torch.Generator().manual_seed(seed)
    for name, layer in zip(layer_names(model), sparse_layers(model)):
        if name not in masks:
            raise ValueError(f"masks: no mask for layer {name}")
        mask = torch.as_tensor(np.asarray(masks[name]), dtype=torch.bool)
        if mask.shape != layer.theta.shape:
            raise ValueError(f"masks: {name} has shape {tuple(mask.shape)}, the model "
                             f"{tuple(layer.theta.shape)}")
        scale = (2.0 / layer.fan_in) ** 0.5
        magnitude = torch.randn(layer.theta.shape, generator=g).abs() * scale + 1e-6
        layer.theta.copy_(magnitude * mask)
    return model


def load_network(folder: str | os.PathLike, *, seed: int = 0) -> tuple[VGG11, dict]:
    """The network of a result folder and its ``result.json``: the trained weights when
    ``weights.npz`` is there, else the trained masks (``masks.npz``) with random magnitudes
    (:func:`set_masks`). The model is in eval mode."""
    from .runs import MASKS, RESULT, WEIGHTS, load_masks, load_weights

    folder = Path(folder)
    if not (folder / RESULT).is_file():
        raise FileNotFoundError(f"folder: no {RESULT} in {folder}")
    result = json.loads((folder / RESULT).read_text())
    cfg = from_dict(result["config"])
    if (folder / WEIGHTS).is_file():
        return load_weights(folder / WEIGHTS, cfg), result
    if not (folder / MASKS).is_file():
        raise FileNotFoundError(f"folder: neither {WEIGHTS} nor {MASKS} in {folder}")
    model = VGG11(cfg.connectivity, head=cfg.head, width=cfg.width, seed=cfg.seed)
    set_masks(model, load_masks(folder / MASKS), seed=seed)
    return model.eval(), result
