"""Sparse layers with the predecessor's sign * theta parameterisation, and sparse VGG11.

Every sparse weight is ``W = sign * relu(theta)`` (Thesis §2.2.2; Özdenizci & Legenstein 2021):

* ``theta`` is trainable. A coordinate is *connected* when ``theta > 0`` and *dormant* when
  ``theta <= 0`` (the predecessor's rule; Algorithm 1 prints ``< 0`` for "unconnected", see the
  book's "Deviations and decisions").
* ``sign`` is drawn once (+1/-1 with equal probability) and never changes.
* ``relu`` gives exactly zero gradient to dormant coordinates, including ``theta == 0``.

``theta`` starts as ``|He-normal|`` computed with the *dense* fan-in (Keras ``he_normal``: normal
truncated at two standard deviations) under a random mask with exactly ``int(density * size)``
ones. Biases and BatchNorm stay dense and do not count towards the connection budget.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SparseLayer",
    "SparseConv2d",
    "SparseLinear",
    "layer_shapes",
    "LayerShape",
    "VGG11",
    "VGG11_CONFIG",
    "sparse_layers",
    "layer_names",
    "initial_densities",
]

# Keras' he_normal divides by this factor to undo the variance lost by truncation at 2 sigma.
_TRUNCATION_CORRECTION = 0.87962566103423978

Head = Literal["predecessor", "classic"]


class SparseLayer(nn.Module):
    """Common base of the sparse layers: holds ``theta`` and the fixed ``sign``.

    ``axis_names`` names the axes of ``theta`` in PyTorch layout; ``"out"`` is the axis the
    thesis's structure metric runs along (Thesis §4.1, see :mod:`srewire.metrics`).
    """

    axis_names: tuple[str, ...] = ()

    def __init__(self, shape: Sequence[int], fan_in: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(*shape))
        self.register_buffer("sign", torch.ones(*shape))
        self.fan_in = fan_in

    @property
    def size(self) -> int:
        """Number of coordinates (the dense parameter count of the weight)."""
        return self.theta.numel()

    def weight(self) -> torch.Tensor:
        """Effective weight ``sign * max(theta, 0)``."""
        return F.relu(self.theta) * self.sign

    def connected(self) -> torch.Tensor:
        """Boolean mask of connected coordinates (``theta > 0``)."""
        return self.theta.detach() > 0

    @torch.no_grad()
    def reset_sparse(self, density: float, generator: torch.Generator | None = None) -> None:
        """Draw signs and ``|He-normal|`` magnitudes; keep exactly ``int(density * size)``."""
        theta, dev = self.theta, self.theta.device
        std = math.sqrt(2.0 / self.fan_in) / _TRUNCATION_CORRECTION
        magnitude = torch.empty(theta.shape)
        nn.init.trunc_normal_(magnitude, 0.0, std, -2 * std, 2 * std, generator=generator)
        signs = torch.where(torch.randn(theta.shape, generator=generator) >= 0, 1.0, -1.0)
        keep = int(density * self.size)
        mask = torch.zeros(self.size, dtype=torch.bool)
        mask[torch.randperm(self.size, generator=generator)[:keep]] = True
        theta.copy_((magnitude.abs() * mask.view(theta.shape)).to(dev))
        self.sign.copy_(signs.to(dev))


class SparseConv2d(SparseLayer):
    """3x3 (or k x k) convolution without bias whose weight is ``sign * relu(theta)``."""

    axis_names = ("out", "in", "kh", "kw")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 padding: int = 1) -> None:
        super().__init__((out_channels, in_channels, kernel_size, kernel_size),
                         fan_in=in_channels * kernel_size * kernel_size)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), None, padding=self.padding)


class SparseLinear(SparseLayer):
    """Fully connected layer with a dense bias (initialised to 0) and a sparse weight."""

    axis_names = ("out", "in")

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__((out_features, in_features), fan_in=in_features)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.bias)


def sparse_layers(model: nn.Module) -> list[SparseLayer]:
    """All sparse layers of ``model`` in definition order (the rewiring's layer list)."""
    return [m for m in model.modules() if isinstance(m, SparseLayer)]


def layer_names(model: nn.Module) -> list[str]:
    """Short names of the sparse layers in order: conv1..convK, then dense1..denseM."""
    names, counts = [], {"conv": 0, "dense": 0}
    for layer in sparse_layers(model):
        kind = "conv" if isinstance(layer, SparseConv2d) else "dense"
        counts[kind] += 1
        names.append(f"{kind}{counts[kind]}")
    return names


# VGG11 conv configuration; "M" is a 2x2 max-pool. The predecessor's VGG drops the fifth pool.
VGG11_CONFIG: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512)


def initial_densities(n_conv: int, n_dense: int, connectivity: float) -> list[float]:
    """Per-layer initial densities: the predecessor's VGG16 rule transposed to VGG11.

    First conv 0.6, second conv 0.2, further convs 0.5*p, hidden dense 0.5*p, classifier 0.6
    (anchor ``models/sparse_vgg16.py``; book page "Deviations and decisions").
    """
    conv = [0.6, 0.2][:n_conv] + [0.5 * connectivity] * max(0, n_conv - 2)
    dense = [0.5 * connectivity] * (n_dense - 1) + [0.6]
    return conv + dense


class LayerShape(NamedTuple):
    """One sparse layer of a :class:`VGG11`: its :func:`layer_names` name, its kind
    (``"conv"`` or ``"dense"``), its outputs (the length of its output-axis fibres) and its
    number of weights."""

    name: str
    kind: str
    outputs: int
    weights: int


def layer_shapes(*, width: float = 1.0, head: Head = "predecessor", num_classes: int = 10,
                 hidden: int = 256) -> list[LayerShape]:
    """Every sparse layer of a :class:`VGG11` built with these arguments, in
    :func:`sparse_layers` order, from the configuration alone: what a budget or a fibre
    length is read from without building the network."""
    cfg = list(VGG11_CONFIG) + (["M"] if head == "classic" else [])
    out, channels = [], 3
    for item in cfg:
        if item != "M":
            c_out = max(1, round(int(item) * width))
            out.append(LayerShape(f"conv{len(out) + 1}", "conv", c_out, c_out * channels * 9))
            channels = c_out
    flat = channels * (1 if head == "classic" else 4)
    h = max(1, round(hidden * width))
    dense = [(flat, num_classes)] if head == "classic" else [(flat, h), (h, h), (h, num_classes)]
    return out + [LayerShape(f"dense{i}", "dense", n_out, n_in * n_out)
                  for i, (n_in, n_out) in enumerate(dense, 1)]


class VGG11(nn.Module):
    """Sparse VGG11 for 32x32 inputs in [0, 1] (Thesis §4; predecessor layout by default).

    ``head="predecessor"``: conv stack without the fifth pool (2x2x512 = 2048 features), then
    2048 -> 256 -> 256 -> classes with ReLU and no dropout. ``head="classic"``: fifth pool and a
    single 512 -> classes classifier. ``width`` multiplies every channel count (tests and
    reduced profiles use ``width < 1``). Features are flattened in (h, w, c) order, as the
    TensorFlow predecessor does, so that neighbouring inputs of the first dense layer match.
    """

    def __init__(self, connectivity: float, *, head: Head = "predecessor", width: float = 1.0,
                 num_classes: int = 10, hidden: int = 256, seed: int = 0) -> None:
        super().__init__()
        if head not in ("predecessor", "classic"):
            raise ValueError(f"head must be 'predecessor' or 'classic', got {head!r}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width!r}")
        self.head = head
        cfg = list(VGG11_CONFIG) + (["M"] if head == "classic" else [])
        blocks: list[nn.Module] = []
        channels = 3
        for item in cfg:
            if item == "M":
                blocks.append(nn.MaxPool2d(2))
                continue
            out = max(1, round(int(item) * width))
            blocks += [SparseConv2d(channels, out), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.features = nn.Sequential(*blocks)
        spatial = 1 if head == "classic" else 2
        flat = channels * spatial * spatial
        if head == "classic":
            dense = [SparseLinear(flat, num_classes)]
        else:
            h = max(1, round(hidden * width))
            dense = [SparseLinear(flat, h), SparseLinear(h, h), SparseLinear(h, num_classes)]
        self.classifier = nn.ModuleList(dense)
        generator = torch.Generator().manual_seed(seed)
        n_conv = sum(isinstance(m, SparseConv2d) for m in self.features)
        for layer, density in zip(sparse_layers(self),
                                  initial_densities(n_conv, len(dense), connectivity)):
            layer.reset_sparse(density, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.permute(0, 2, 3, 1).flatten(1)  # (h, w, c) order, as in the TF predecessor
        for i, layer in enumerate(self.classifier):
            x = layer(x)
            if i < len(self.classifier) - 1:
                x = F.relu(x)
        return x
