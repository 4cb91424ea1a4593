"""CIFAR-10 loading, verification, subsets, augmentation (issue: engine, data)."""

import pickle
import shutil

import numpy as np
import pytest
import torch

from srewire.data import (CIFAR10_SHA256, DataError, augment, batches, data_identity, load_data,
                          write_synthetic)


def test_synthetic_round_trip(synthetic_root):
    data = load_data(synthetic_root, allow_synthetic=True)
    assert data.name == "synthetic"
    assert data.x_train.shape == (640, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.x_test.shape == (256, 3, 32, 32)
    assert set(data.y_train.unique().tolist()) == set(range(10))


def test_subsets_are_seeded_and_balanced(synthetic_root):
    a = load_data(synthetic_root, n_train=100, n_test=50, data_seed=3, allow_synthetic=True)
    b = load_data(synthetic_root, n_train=100, n_test=50, data_seed=3, allow_synthetic=True)
    c = load_data(synthetic_root, n_train=100, n_test=50, data_seed=4, allow_synthetic=True)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.bincount(a.y_train, minlength=10).tolist() == [10] * 10
    assert torch.bincount(a.y_test, minlength=10).tolist() == [5] * 10


def test_missing_data_message(tmp_path):
    with pytest.raises(DataError, match="not found.*SREWIRE_DATA"):
        load_data(tmp_path / "nowhere")


@pytest.mark.real_data
def test_real_cifar10_loads_despite_other_file_checksums(cifar10_root):
    root = cifar10_root  # the real CIFAR-10
    data = load_data(root, n_train=1000, n_test=500)
    assert data.name == "cifar10"
    assert torch.bincount(data.y_train).tolist() == [100] * 10
    full = load_data(root)
    assert full.x_train.shape == (50_000, 3, 32, 32) and full.x_test.shape == (10_000, 3, 32, 32)
    assert full.sha256 == CIFAR10_SHA256 == data_identity(root)[1]  # the recorded identity
    # the first test images are the familiar cat, ship, ship, airplane, frog
    assert full.y_test[:5].tolist() == [3, 8, 8, 0, 6]


@pytest.mark.real_data
def test_corrupt_copy_fails_the_content_check(tmp_path, cifar10_root):
    root = cifar10_root
    copy = tmp_path / "cifar-10-batches-py"
    shutil.copytree(root / "cifar-10-batches-py", copy)
    with open(copy / "test_batch", "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    batch["data"] = np.array(batch["data"])
    batch["data"][17, 5] ^= 1  # one pixel off by one
    with open(copy / "test_batch", "wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(DataError, match="content check"):
        load_data(tmp_path)


def test_wrong_layout_is_reported(tmp_path):
    folder = write_synthetic(tmp_path, n_train=50, n_test=20)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({"data": np.zeros((3, 10), dtype=np.uint8), "labels": [0, 1, 2]}, f)
    with pytest.raises(DataError, match="wrong layout"):
        load_data(tmp_path, allow_synthetic=True)


def test_synthetic_marking_is_honoured_only_when_asked_for(tmp_path, synthetic_root):
    """The marker in batches.meta skips the content check, so it is no pass by itself."""
    with pytest.raises(DataError, match=r"marked synthetic .*accepted only on the smoke profile "
                                        r"or when asked for explicitly \(allow_synthetic=True"):
        load_data(synthetic_root)
    a = load_data(synthetic_root, allow_synthetic=True)
    other = load_data(write_synthetic(tmp_path, n_train=640, n_test=256, seed=5).parent,
                      allow_synthetic=True)
    assert a.name == other.name == "synthetic"
    assert len(a.sha256) == 64 and a.sha256 != other.sha256  # the content's own hash


@pytest.mark.parametrize("mode", ["shift", "crop", "none"])
def test_augmentation_shape_range_and_determinism(mode):
    x = torch.rand(16, 3, 32, 32)
    a = augment(x, torch.Generator().manual_seed(1), mode)
    b = augment(x, torch.Generator().manual_seed(1), mode)
    assert a.shape == x.shape and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    if mode == "none":
        assert torch.equal(a, x)
    else:
        assert not torch.equal(a, x)


def test_crop_is_an_edge_padded_translation():
    x = torch.rand(64, 3, 32, 32)
    out = augment(x, torch.Generator().manual_seed(0), "crop")
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="replicate")
    for i in range(64):  # every output is some 32x32 window of the padded image, maybe flipped
        windows = padded[i].unfold(1, 32, 1).unfold(2, 32, 1)  # (3, 9, 9, 32, 32)
        found = any(torch.equal(windows[:, r, c], out[i]) or
                    torch.equal(windows[:, r, c].flip(-1), out[i])
                    for r in range(9) for c in range(9))
        assert found


def test_shift_moves_content_by_at_most_ten_percent():
    x = torch.zeros(200, 1, 32, 32)
    x[:, :, 16, 16] = 1.0  # a single bright pixel in the centre
    out = augment(x.expand(200, 3, 32, 32).contiguous(), torch.Generator().manual_seed(0),
                  "shift")[:, 0]
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    mass = out.sum((1, 2))
    cy, cx = (out * ys).sum((1, 2)) / mass, (out * xs).sum((1, 2)) / mass
    assert float((cy - 16).abs().max()) <= 3.2 + 1e-4
    assert float(torch.minimum((cx - 16).abs(), (cx - 15).abs()).max()) <= 3.2 + 1e-4
    assert float((cy - 16).abs().max()) > 2.0  # shifts really are up to ~3.2 px


def test_batches_drop_last_and_cover_a_permutation():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 32, 32).contiguous()
    y = torch.arange(10)
    seen = [yb for _, yb in batches(x, y, 3, torch.Generator().manual_seed(0), "none")]
    assert len(seen) == 3  # 10 // 3, incomplete batch dropped
    flat = torch.cat(seen)
    assert len(set(flat.tolist())) == 9
