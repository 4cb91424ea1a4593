"""Shared test helpers: a tiny synthetic CIFAR-10 and the real one when it is around."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from srewire.data import write_synthetic

REPO = Path(__file__).resolve().parents[1]


def real_data_root() -> Path | None:
    """Folder holding the real CIFAR-10 (``$SREWIRE_DATA`` or ``../shared/data``), if any."""
    for root in (os.environ.get("SREWIRE_DATA"), REPO.parent / "shared" / "data"):
        if root and (Path(root) / "cifar-10-batches-py" / "test_batch").is_file():
            return Path(root)
    return None


def require_real_data() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("real CIFAR-10 not available here (set SREWIRE_DATA); CI provides it")
    return root


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(root, n_train=640, n_test=256, seed=0)
    return root
