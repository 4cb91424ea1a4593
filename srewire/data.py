"""CIFAR-10: verified loading, seeded subsets, device-resident batches and augmentation.

The images stay on the training device as uint8 and every batch is cut, converted to [0, 1]
and augmented there, so a GPU is never fed from Python worker processes (no normalisation:
the model sees [0, 1] inputs, as in the predecessor).

A copy of CIFAR-10 is accepted when its *contents* are right, whatever its file checksums: the
pixel and label arrays of every batch are hashed and compared with the official release's.
That admits rebuilt copies such as the one in ``../shared/data`` (pixel-exact, other
placeholder file names). ``write_synthetic`` makes a tiny dataset in the same on-disk format
for tests.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .files import atomic_write
from .rng import draw

__all__ = ["DataError", "Data", "data_root", "load_data", "data_identity", "write_synthetic",
           "download", "batches", "augment", "AUGMENTATIONS", "CLASSES", "CIFAR10_SHA256"]

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
AUGMENTATIONS = ("shift", "crop", "none")
# SHA-256 of each batch's pixel bytes (uint8, 10000 x 3072) followed by its labels (int64).
CONTENT_SHA256 = {
    "data_batch_1": "54b2ed21fbd6a52cfc507fb5af63b8610e1938828f3017b159e69e87bb1965db",
    "data_batch_2": "a860ea80505c3e017d336ca80eca64bdc58099bf285ae8650980ed6c846f5e53",
    "data_batch_3": "701e5e97f12252a2ec703b29fe275315471b883e27926ec8e9d3b08ca81b2fab",
    "data_batch_4": "6c9358a56fb97959b9b494683c1c1ef9f0c4f291f3686302835e08a0b0ab2f47",
    "data_batch_5": "c2108fec4d9d07a51c26c680b5886f54ff810c859a3f7ba7efe3a4a82a838293",
    "test_batch": "2c33b053d1cd726af8d86e174a96dd89d7000ba1412add026d68142375b89d51",
}
# The identity of a whole dataset: SHA-256 of its batches' content hashes, in file order. A
# copy that passes the content check is, by construction, this.
CIFAR10_SHA256 = hashlib.sha256("".join(CONTENT_SHA256[n] for n in TRAIN_FILES + TEST_FILES)
                                .encode()).hexdigest()
_HOW_TO_GET = ("Get CIFAR-10 with `python -m srewire data --download --data DIR` (needs "
               "internet; uses torchvision), or point --data / the SREWIRE_DATA environment "
               "variable at a folder that contains cifar-10-batches-py/.")


class DataError(RuntimeError):
    """CIFAR-10 is missing or fails its content check."""


@dataclass
class Data:
    """A dataset resident on one device: uint8 images (N, 3, 32, 32) and int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str  # "cifar10" or "synthetic"
    sha256: str = ""  # the whole dataset's content hash (see CIFAR10_SHA256)

    def to(self, device: torch.device | str) -> "Data":
        return Data(self.x_train.to(device), self.y_train.to(device),
                    self.x_test.to(device), self.y_test.to(device), self.name, self.sha256)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root``, else ``$SREWIRE_DATA``, else ``./data``."""
    return Path(root if root is not None else os.environ.get("SREWIRE_DATA", "data"))


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """What ``_codecs.encode`` does in a protocol-2 pickle of bytes, and nothing else."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r} "
                                     f"(a CIFAR-10 batch uses only latin1)")
    return text.encode("latin1")


def _numpy_reconstruct() -> object:
    try:
        from numpy._core.multiarray import _reconstruct  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# Every global a CIFAR-10 batch refers to: the NumPy array reconstruction (under its NumPy 1
# and NumPy 2 module names) and, in files written with protocol 2, bytes built from latin1 text.
_PICKLE_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, bytes, numbers and NumPy arrays.

    Any other global (``os.system``, ``builtins.eval``, a class with ``__reduce__`` ...) is
    refused (:class:`DataError` naming the file) before it is looked up, so a crafted file
    cannot run code when it is read.
    """

    def __init__(self, file, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> object:
        allowed = _PICKLE_GLOBALS.get((module, name))
        if allowed is None:
            raise DataError(f"{self.path} refers to {module}.{name}, which a CIFAR-10 file "
                            f"never holds (allowed: NumPy arrays, dicts, lists, strings, bytes, "
                            f"numbers); refused to load it, since it could run code")
        return allowed


def _unpickle(path: Path) -> object:
    """The contents of a CIFAR-10 pickle file, read with :class:`_CifarUnpickler`."""
    with open(path, "rb") as f:
        return _CifarUnpickler(f, path).load()


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise pickle.UnpicklingError("not a dict with 'data' and 'labels'")
    return np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)


def _content_hash(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    h.update(labels.tobytes())
    return h.hexdigest()


def _load_split(folder: Path, files: list[str], synthetic: bool
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys, hashes = [], [], []
    for name in files:
        path = folder / name
        if not path.is_file():
            raise DataError(f"CIFAR-10 not found: {path} is missing. {_HOW_TO_GET}")
        try:
            images, labels = _read_batch(path)
        except Exception as exc:  # unreadable pickle
            raise DataError(f"CIFAR-10 file {path} cannot be read ({exc}). Delete the folder "
                            f"and fetch it again. {_HOW_TO_GET}") from exc
        if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3072 \
                or len(labels) != len(images) or (len(labels) and labels.max() > 9) \
                or (len(labels) and labels.min() < 0):
            raise DataError(f"CIFAR-10 file {path} has the wrong layout (expected uint8 "
                            f"N x 3072 images and labels 0-9). {_HOW_TO_GET}")
        digest = _content_hash(images, labels)
        if not synthetic and digest != CONTENT_SHA256[name]:
            raise DataError(f"CIFAR-10 file {path} failed its content check (pixels or labels "
                            f"differ from the official release). Delete the folder and fetch "
                            f"it again. {_HOW_TO_GET}")
        xs.append(images)
        ys.append(labels)
        hashes.append(digest)
    return np.concatenate(xs).reshape(-1, 3, 32, 32), np.concatenate(ys), hashes


def _is_synthetic(folder: Path) -> bool:
    meta = folder / "batches.meta"
    if not meta.is_file():
        raise DataError(f"CIFAR-10 not found: {meta} is missing. {_HOW_TO_GET}")
    meta_dict = _unpickle(meta)
    return isinstance(meta_dict, dict) and bool(meta_dict.get("srewire_synthetic", False))


def _synthetic_refused(folder: Path) -> DataError:
    return DataError(f"{folder} is marked synthetic (srewire_synthetic in batches.meta): a "
                     f"stand-in for tests, not CIFAR-10. It is accepted only on the smoke profile "
                     f"or when asked for explicitly (allow_synthetic=True; CLI: "
                     f"--allow-synthetic). {_HOW_TO_GET}")


def _stratified(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded subset of ``n`` items with (as nearly as possible) equal classes."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    rank = np.empty(len(labels), dtype=np.int64)
    for c in range(10):  # rank of each item within its class, in the permuted order
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    keys = rank * len(labels) + np.argsort(order)  # round-robin over classes
    return np.sort(np.argsort(keys, kind="stable")[:n])


def load_data(root: str | os.PathLike | None = None, *, n_train: int | None = None,
              n_test: int | None = None, data_seed: int = 0,
              device: torch.device | str = "cpu", allow_synthetic: bool = False) -> Data:
    """Load and verify CIFAR-10 (or a synthetic copy) from ``root/cifar-10-batches-py``.

    ``n_train`` / ``n_test`` select seeded, class-balanced subsets (all images when None).
    A folder marked synthetic skips the content check and is therefore accepted only with
    ``allow_synthetic``; the result's ``name`` says "synthetic" and ``sha256``
    hashes its actual content.
    Raises :class:`DataError` with instructions when the data is missing or corrupt.
    """
    folder = data_root(root) / FOLDER
    if not folder.is_dir():
        raise DataError(f"CIFAR-10 not found: {folder} does not exist. {_HOW_TO_GET}")
    synthetic = _is_synthetic(folder)
    if synthetic and not allow_synthetic:
        raise _synthetic_refused(folder)
    x_tr, y_tr, h_tr = _load_split(folder, TRAIN_FILES, synthetic)
    x_te, y_te, h_te = _load_split(folder, TEST_FILES, synthetic)
    if not synthetic:
        for labels, per_class in ((y_tr, 5000), (y_te, 1000)):
            if not (np.bincount(labels, minlength=10) == per_class).all():
                raise DataError(f"CIFAR-10 in {folder} has unexpected class counts. "
                                f"{_HOW_TO_GET}")
    tr, te = _stratified(y_tr, n_train, data_seed), _stratified(y_te, n_test, data_seed + 1)
    data = Data(torch.from_numpy(x_tr[tr].copy()), torch.from_numpy(y_tr[tr].copy()),
                torch.from_numpy(x_te[te].copy()), torch.from_numpy(y_te[te].copy()),
                "synthetic" if synthetic else "cifar10", _dataset_hash(h_tr + h_te))
    return data.to(device)


def _dataset_hash(batch_hashes: list[str]) -> str:
    return hashlib.sha256("".join(batch_hashes).encode()).hexdigest()


_IDENTITY_CACHE: dict[tuple, tuple[str, str]] = {}


def data_identity(root: str | os.PathLike | None = None) -> tuple[str, str] | None:
    """``(name, sha256)`` of the dataset :func:`load_data` would load from ``root``, without
    loading it for real CIFAR-10, or None when there is no dataset there.

    An unmarked folder can only ever train as the official release (its content check would
    refuse anything else), so it is ``("cifar10", CIFAR10_SHA256)``; a folder marked synthetic
    has its content hashed (remembered per file size and modification time).
    """
    folder = data_root(root) / FOLDER
    if not (folder / "batches.meta").is_file():
        return None
    if not _is_synthetic(folder):
        return "cifar10", CIFAR10_SHA256
    files = [folder / n for n in TRAIN_FILES + TEST_FILES]
    try:
        key = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    except OSError:
        return None
    if key not in _IDENTITY_CACHE:
        hashes = (_load_split(folder, TRAIN_FILES, True)[2]
                  + _load_split(folder, TEST_FILES, True)[2])
        _IDENTITY_CACHE[key] = ("synthetic", _dataset_hash(hashes))
    return _IDENTITY_CACHE[key]


def download(root: str | os.PathLike | None = None) -> Path:
    """Download CIFAR-10 with torchvision into ``root`` and verify it."""
    from torchvision.datasets import CIFAR10

    path = data_root(root)
    CIFAR10(str(path), train=True, download=True)
    load_data(path, n_train=10, n_test=10)
    return path / FOLDER


def write_synthetic(root: str | os.PathLike, n_train: int = 500, n_test: int = 200,
                    seed: int = 0) -> Path:
    """Write a small learnable CIFAR-10 look-alike in the same pickle format.

    Each class has its own smooth colour pattern; images are that pattern plus noise.
    ``batches.meta`` carries ``srewire_synthetic: True``: the loader skips the content check
    and accepts the folder only where synthetic data is asked for (``allow_synthetic``).
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    coarse = rng.uniform(0, 255, size=(10, 3, 4, 4))
    patterns = np.kron(coarse, np.ones((1, 1, 8, 8)))  # (10, 3, 32, 32)

    def make(n: int) -> tuple[np.ndarray, list[int]]:
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        noise = rng.normal(0, 40, size=(n, 3, 32, 32))
        images = np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)
        return images.reshape(n, 3072), labels.tolist()

    splits = np.array_split(np.arange(n_train), len(TRAIN_FILES))
    train_images, train_labels = make(n_train)
    for i, (name, part) in enumerate(zip(TRAIN_FILES, splits)):
        _write_pickle(folder / name, {
            "batch_label": f"training batch {i + 1} of 5", "data": train_images[part],
            "labels": [train_labels[j] for j in part],
            "filenames": [f"synthetic_{j:05d}.png" for j in part]})
    test_images, test_labels = make(n_test)
    _write_pickle(folder / "test_batch", {
        "batch_label": "testing batch 1 of 1", "data": test_images, "labels": test_labels,
        "filenames": [f"synthetic_test_{j:05d}.png" for j in range(n_test)]})
    _write_pickle(folder / "batches.meta", {
        "label_names": list(CLASSES), "num_cases_per_batch": len(splits[0]), "num_vis": 3072,
        "srewire_synthetic": True})
    return folder


def _write_pickle(path: Path, obj: dict) -> None:
    atomic_write(path, lambda f: pickle.dump(obj, f, protocol=2))


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1]; a floating-point tensor is taken to be scaled
    already and is returned as it is."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def augment(x: torch.Tensor, generator: torch.Generator, mode: str = "shift") -> torch.Tensor:
    """Random translation plus horizontal flip of a float batch (B, 3, H, W), on its device.

    ``shift`` is the predecessor's Keras augmentation: a continuous shift of up to 10 % of the
    image in each direction, bilinear, edges extended (fill mode "nearest").
    ``crop`` is RandomCrop(32, padding=4, edge padding). ``none`` returns ``x`` unchanged.
    """
    if mode == "none":
        return x
    b, _, h, w = x.shape
    dev = x.device
    if mode == "shift":
        fraction = (draw(torch.rand, b, 2, generator=generator, device=dev) * 2 - 1) * 0.1
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        # shift in pixels, then in grid units (plain Python scalars: no copy to the device)
        theta[:, 0, 2] = 2 * (fraction[:, 0] * w) / (w - 1)
        theta[:, 1, 2] = 2 * (fraction[:, 1] * h) / (h - 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    elif mode == "crop":
        pad = 4
        padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        off = draw(torch.randint, 0, 2 * pad + 1, (b, 2), generator=generator, device=dev)
        rows = (off[:, 0, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (off[:, 1, None] + torch.arange(w, device=dev))[:, None, None, :]
        x = padded[torch.arange(b, device=dev)[:, None, None, None],
                   torch.arange(3, device=dev)[None, :, None, None], rows, cols]
    else:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {mode!r}")
    flip = draw(torch.rand, b, generator=generator, device=dev) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator,
            augmentation: str = "shift"):
    """One epoch of shuffled, augmented training batches (drop_last, as the predecessor)."""
    order = draw(torch.randperm, len(x), generator=generator, device=x.device)
    for i in range(len(x) // batch_size):
        idx = order[i * batch_size:(i + 1) * batch_size]
        yield augment(to_float(x[idx]), generator, augmentation), y[idx]


def save_sample(path: str | os.PathLike, root: str | os.PathLike | None = None,
                n: int = 32) -> Path:
    """Save the first ``n`` CIFAR-10 test images and labels (uint8, npz) for demonstrations
    that should run without the dataset (the book's introduction)."""
    data = load_data(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez_compressed(
        f, images=data.x_test[:n].cpu().numpy(), labels=data.y_test[:n].cpu().numpy(),
        source=np.array(data.name)))
    return path


def load_sample(path: str | os.PathLike, n: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [0, 1] and labels saved by :func:`save_sample`; the first ``n`` of them
    (None: all)."""
    with np.load(path, allow_pickle=False) as z:
        images, labels = z["images"][:n], z["labels"][:n]
    return to_float(torch.from_numpy(images)), torch.from_numpy(labels).long()
