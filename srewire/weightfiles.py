"""The compact files a run leaves besides ``result.json``: ``masks.npz`` and ``weights.npz``.

* ``masks.npz`` — the final connectivity of every sparse layer, bit-packed and compressed.
* ``weights.npz`` — the trained weights, exactly: for every sparse layer the
  connectivity bits, theta of the connected coordinates as float32 and the fixed signs of all
  coordinates as bits; every other parameter and buffer as float32. Reloading gives back the
  connectivity of ``masks.npz`` bit for bit and every sign, including coordinates revived at
  ``revive_value`` = 1e-12 in the last step (the first format, float16 sign * theta, turned
  every theta below about 3e-8 into a dormant coordinate with sign +1; such files still load,
  with a warning).

Nothing here unpickles: ``np.load`` runs with ``allow_pickle=False``.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .config import Config
from .files import atomic_write
from .models import VGG11, layer_names, sparse_layers

__all__ = ["save_masks", "load_masks", "save_weights", "load_weights", "WEIGHTS_FORMAT"]

WEIGHTS_FORMAT = 2  # 1 (no "format" entry): float16 sign * theta of the connected coordinates


class ApproximateWeightsWarning(UserWarning):
    """A weights file in the first format (float16): the weights reload approximately."""


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def save_masks(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Bit-packed, compressed connectivity of every sparse layer."""
    arrays = {}
    for name, layer in zip(layer_names(model), sparse_layers(model)):
        mask = layer.connected().cpu().numpy()
        arrays[name] = np.packbits(mask.reshape(-1))
        arrays[name + "_shape"] = np.array(mask.shape)
    _savez(Path(path), arrays)


def load_masks(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{layer name: bool array in PyTorch layout} from a ``masks.npz``."""
    with np.load(path, allow_pickle=False) as z:
        names = [k for k in z.files if not k.endswith("_shape")]
        out = {}
        for name in names:
            shape = tuple(z[name + "_shape"])
            out[name] = np.unpackbits(z[name], count=math.prod(shape)).astype(bool).reshape(shape)
    return out


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Exact, compact weights (see the module docstring for the layout)."""
    arrays: dict[str, np.ndarray] = {"format": np.array(WEIGHTS_FORMAT)}
    sparse = {id(layer) for layer in sparse_layers(model)}
    for name, module in model.named_modules():
        if id(module) in sparse:
            mask = module.connected().reshape(-1).cpu()
            theta = module.theta.detach().reshape(-1).cpu().float()
            arrays[f"{name}.mask"] = np.packbits(mask.numpy())
            arrays[f"{name}.theta_connected"] = theta[mask].numpy().astype(np.float32)
            arrays[f"{name}.sign_negative"] = np.packbits(module.sign.reshape(-1).cpu().numpy() < 0)
    for key, value in model.state_dict().items():
        if key.endswith(".theta") or key.endswith(".sign"):
            continue
        arrays[key] = value.cpu().numpy()
    _savez(Path(path), arrays)


def load_weights(path: str | os.PathLike, config: Config) -> VGG11:
    """A VGG11 rebuilt from :func:`save_weights` output, in eval mode."""
    model = VGG11(config.connectivity, head=config.head, width=config.width, seed=config.seed)
    state = model.state_dict()
    sparse = {name: m for name, m in model.named_modules() if m in sparse_layers(model)}
    with np.load(path, allow_pickle=False) as z:
        version = int(z["format"]) if "format" in z.files else 1
        if version not in (1, WEIGHTS_FORMAT):
            raise ValueError(f"{path}: weights format {version} is newer than this srewire "
                             f"reads ({WEIGHTS_FORMAT}); update srewire or rerun the run")
        if version == 1:
            warnings.warn(f"{path} is in the first weights format (float16): coordinates with "
                          f"theta below about 3e-8 reload as dormant with sign +1; rerun the "
                          f"run to get an exact file", ApproximateWeightsWarning, stacklevel=2)
        for key in state:
            if key in z.files:
                state[key] = torch.from_numpy(z[key]).reshape(state[key].shape)
        for name, layer in sparse.items():
            n = layer.size
            mask = torch.from_numpy(np.unpackbits(z[f"{name}.mask"], count=n).astype(bool))
            theta = torch.zeros(n)
            sign = state[f"{name}.sign"].reshape(-1).clone()
            if version == 1:
                values = torch.from_numpy(z[f"{name}.values"].astype(np.float32))
                theta[mask] = values.abs()
                sign[mask] = torch.where(values >= 0, 1.0, -1.0)
            else:
                theta[mask] = torch.from_numpy(z[f"{name}.theta_connected"])
                negative = np.unpackbits(z[f"{name}.sign_negative"], count=n).astype(bool)
                sign = torch.where(torch.from_numpy(negative), -1.0, 1.0)
            state[f"{name}.theta"] = theta.reshape(layer.theta.shape)
            state[f"{name}.sign"] = sign.reshape(layer.theta.shape)
    model.load_state_dict(state)
    return model.eval()
