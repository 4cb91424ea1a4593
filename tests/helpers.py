"""Shared test helpers: a tiny synthetic CIFAR-10 and the real one when it is around, and a
notebook source with the Colab setup cell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from srewire.colab import REPO_URL, setup_cell
from srewire.data import write_synthetic

REPO = Path(__file__).resolve().parents[1]


def real_data_root() -> Path | None:
    """Folder holding the real CIFAR-10, from ``$SREWIRE_DATA`` only (no other place is
    searched, so a run without that variable has no real data whatever the machine holds)."""
    root = os.environ.get("SREWIRE_DATA")
    if root and (Path(root) / "cifar-10-batches-py" / "test_batch").is_file():
        return Path(root)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``real_data`` need the real CIFAR-10 at $SREWIRE_DATA; skipped without."""
    if item.get_closest_marker("real_data") is not None and real_data_root() is None:
        pytest.skip("needs the real CIFAR-10: set SREWIRE_DATA to the folder holding "
                    "cifar-10-batches-py")


@pytest.fixture
def cifar10_root(request) -> Path:
    """The real CIFAR-10 for a test marked ``real_data`` (conftest skips those without it)."""
    if request.node.get_closest_marker("real_data") is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the real CIFAR-10: mark it "
                                "@pytest.mark.real_data")
    root = real_data_root()
    assert root is not None  # conftest skipped the test otherwise
    return root


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(root, n_train=640, n_test=256, seed=0)
    return root


def notebook_with_colab_cell(path: Path, cells: list[str]) -> Path:
    """Write to ``path`` a paired notebook source: a markdown cell "A page", the Colab setup
    cell (its ``%pip`` commented out, so the file parses as Python) and one code cell per
    entry of ``cells``."""
    body = setup_cell(REPO_URL).replace("%pip", "# %pip")
    code = "".join(f"\n\n# %%\n{c}" for c in cells)
    path.write_text(f"# %% [markdown]\n# A page\n\n# %% tags=[\"remove-cell\"]\n{body}{code}\n")
    return path
