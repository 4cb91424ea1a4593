"""Data in chunks for a GPU machine: made, verified, reassembled; damage is refused."""

import subprocess
import sys
from pathlib import Path

import pytest

from srewire.chunks import ChunkError, join_chunks, make_chunks

ROOT = Path(__file__).resolve().parents[1]


def fake_folder(tmp_path):
    folder = tmp_path / "src" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"data_batch_{i}").write_bytes(bytes(range(256)) * (1000 + 300 * i))
    (folder / "batches.meta").write_text("meta")
    return folder


def test_chunks_round_trip_with_parts_under_the_limit(tmp_path):
    folder = fake_folder(tmp_path)
    files = make_chunks(folder, tmp_path / "chunks", max_mib=0.25)
    parts = [f for f in files if ".part" in f.name]
    assert len(parts) >= 3 and all(f.stat().st_size <= 0.25 * 2**20 for f in parts)
    dest = join_chunks(tmp_path / "chunks", tmp_path / "data")
    for f in folder.iterdir():
        assert (dest / folder.name / f.name).read_bytes() == f.read_bytes()


def test_a_damaged_or_missing_part_is_refused_before_extracting(tmp_path):
    folder = fake_folder(tmp_path)
    files = make_chunks(folder, tmp_path / "chunks", max_mib=0.25)
    part = files[1]
    data = bytearray(part.read_bytes())
    data[10] ^= 1
    part.write_bytes(bytes(data))
    with pytest.raises(ChunkError, match=f"part {part.name} fails its sha256"):
        join_chunks(tmp_path / "chunks", tmp_path / "data")
    part.unlink()
    with pytest.raises(ChunkError, match=f"part {part.name} is missing"):
        join_chunks(tmp_path / "chunks", tmp_path / "data")
    assert not (tmp_path / "data" / folder.name).exists()


def test_gpu_window_reassembles_chunks_before_training(tmp_path):
    """The script's data step on its own: a chunk folder that does not verify stops the
    window with a message naming the variable, before any training."""
    folder = fake_folder(tmp_path)
    files = make_chunks(folder, tmp_path / "chunks", max_mib=0.25)
    files[0].write_bytes(b"damaged")
    env = {"SREWIRE_DATA_CHUNKS": str(tmp_path / "chunks"), "OUT": str(tmp_path / "out"),
           "PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_window.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "SREWIRE_DATA_CHUNKS" in done.stderr and "fails its sha256" in done.stderr
