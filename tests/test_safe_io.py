"""Files read back are untrusted: pickles, checkpoints, npz files and archives
cannot run code or write outside their folder."""

import builtins
import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from srewire.archive import ArchiveError, pack, unpack
from srewire.config import make_config
from srewire.data import DataError, _CifarUnpickler, load_data, write_synthetic
from srewire.models import VGG11
from srewire.runs import load_masks, load_weights, run, run_name, save_weights


class WritesMarker:
    """Unpickling this calls ``call(*args)``: e.g. os.system("touch marker")."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def payloads(marker: Path):
    return {"os.system": WritesMarker(os.system, f"touch {marker}"),
            "builtins.open": WritesMarker(builtins.open, str(marker), "w")}


@pytest.mark.parametrize("kind", ["os.system", "builtins.open"])
@pytest.mark.parametrize("file", ["test_batch", "data_batch_3", "batches.meta"])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, kind, file):
    folder = write_synthetic(tmp_path / "data", n_train=50, n_test=20)
    marker = tmp_path / "marker"
    evil = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1],
            "srewire_synthetic": True, "x": payloads(marker)[kind]}
    with open(folder / file, "wb") as f:
        pickle.dump(evil, f, protocol=2)
    with pytest.raises(DataError) as info:
        load_data(tmp_path / "data", allow_synthetic=True)  # past the marking, to the batches
    message = str(info.value)
    function = kind.split(".")[1]  # os.system pickles as posix.system, builtins.open as io.open
    assert str(folder / file) in message and f".{function}" in message and "refused" in message
    assert not marker.exists(), "the pickle's code ran"
    # the payload is real: an ordinary pickle.load runs it
    with open(folder / file, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_codecs_encode_only_for_latin1(tmp_path):
    # protocol-2 bytes are _codecs.encode(text, "latin1"); any other codec is refused
    data = pickle.dumps(b"\x00\xff", protocol=2)
    assert _CifarUnpickler(io.BytesIO(data), tmp_path / "x").load() == b"\x00\xff"
    forged = data.replace(b"latin1", b"rot_13")
    with pytest.raises(pickle.UnpicklingError, match="rot_13"):
        _CifarUnpickler(io.BytesIO(forged), tmp_path / "x").load()


def test_synthetic_batches_still_load(tmp_path):
    write_synthetic(tmp_path, n_train=50, n_test=20)
    data = load_data(tmp_path, allow_synthetic=True)
    assert data.x_train.shape == (50, 3, 32, 32) and data.name == "synthetic"


def test_a_checkpoint_holding_an_object_is_refused(tmp_path, synthetic_root):
    cfg = make_config("smoke", "natural", 0.9, "random", n_train=64, n_test=64)
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "marker"
    torch.save({"config": cfg.to_dict(), "model": payloads(marker)["os.system"]},
               out / "checkpoint.pt")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global|checkpoint"):
        run(cfg, out, data_root=synthetic_root, quiet=True)
    assert not marker.exists()
    assert not (out / "result.json").exists()


def test_npz_with_object_arrays_is_refused(tmp_path):
    path = tmp_path / "masks.npz"
    np.savez(path, conv1=np.array([{"a": 1}], dtype=object), conv1_shape=np.array([1]))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_masks(path)
    # a weight file whose arrays (whatever their names) are all object arrays
    cfg = make_config("smoke", "trades", 0.95, "random")
    model = VGG11(cfg.connectivity, head=cfg.head, width=cfg.width, seed=cfg.seed)
    save_weights(model, tmp_path / "weights.npz")
    with np.load(tmp_path / "weights.npz") as z:
        names = list(z.files)
    np.savez(tmp_path / "weights.npz", **{k: np.array([{k: 1}], dtype=object) for k in names})
    with pytest.raises(ValueError, match="allow_pickle"):
        load_weights(tmp_path / "weights.npz", cfg)


# --------------------------------------------------------------------------------------------
# archives
# --------------------------------------------------------------------------------------------

def fake_result(results: Path, cfg, name: str | None = None) -> Path:
    folder = results / cfg.profile / (name or run_name(cfg))
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"config": cfg.to_dict(),
                                                    "clean_accuracy": 10.0}))
    np.savez_compressed(folder / "masks.npz", conv1=np.packbits(np.ones(8, bool)),
                        conv1_shape=np.array([8]))
    return folder


def tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file()}


@pytest.fixture
def good_run(tmp_path):
    cfg = make_config("smoke", "natural", 0.99, "random")
    src = tmp_path / "src"
    fake_result(src, cfg)
    prefix = f"smoke/{run_name(cfg)}/"
    files = {f: (src / prefix / f).read_bytes() for f in ("result.json", "masks.npz")}
    return prefix, files


@pytest.mark.parametrize("bad", [
    ("../outside.txt", tarfile.REGTYPE, ""),
    ("smoke/../../outside.txt", tarfile.REGTYPE, ""),
    ("/abs/smoke/x/result.json", tarfile.REGTYPE, ""),
    ("smoke/run/evil.sh", tarfile.REGTYPE, ""),
    ("smoke/run/result.json/extra", tarfile.REGTYPE, ""),
    ("LINK", tarfile.SYMTYPE, "../../outside.txt"),
    ("LINK", tarfile.LNKTYPE, "/etc/passwd"),
    ("LINK", tarfile.CHRTYPE, ""),
    ("LINK", tarfile.DIRTYPE, ""),
])
def test_unpack_refuses_unsafe_members_and_writes_nothing(tmp_path, good_run, bad):
    prefix, files = good_run
    name, kind, target = bad
    if name == "LINK":
        name = prefix + "masks.npz"
        good = [(member(prefix + "result.json"), files["result.json"])]
    else:
        good = [(member(prefix + f), data) for f, data in files.items()]
    archive = tar_with(tmp_path / "a.tar.gz", good + [(member(name, kind, target), b"x")])
    results = tmp_path / "deep" / "results"
    results.mkdir(parents=True)
    before = snapshot(tmp_path)
    with pytest.raises(ArchiveError, match="refused|regular files|expected a profile"):
        unpack(archive, results)
    assert snapshot(tmp_path) == before, "something was written"
    assert not list(results.iterdir())


def test_unpack_refuses_object_arrays_and_duplicates(tmp_path, good_run):
    prefix, files = good_run
    buf = io.BytesIO()
    np.savez(buf, conv1=np.array([object()], dtype=object))
    archive = tar_with(tmp_path / "a.tar.gz", [(member(prefix + "result.json"),
                                                files["result.json"]),
                                               (member(prefix + "masks.npz"), buf.getvalue())])
    with pytest.raises(ArchiveError, match="without pickles"):
        unpack(archive, tmp_path / "results")
    twice = tar_with(tmp_path / "b.tar.gz", [(member(prefix + "result.json"),
                                              files["result.json"])] * 2)
    with pytest.raises(ArchiveError, match="twice"):
        unpack(twice, tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_pack_and_unpack_round_trip(tmp_path):
    src = tmp_path / "src"
    cfgs = [make_config("smoke", o, s, "structured") for o, s in (("natural", 0.99),
                                                                   ("trades", 0.95))]
    for cfg in cfgs:
        fake_result(src, cfg)
    (src / "smoke" / run_name(cfgs[0]) / "checkpoint.pt").write_bytes(b"not packed")
    assert pack(src, "smoke", tmp_path / "a.tar.gz") == sorted(run_name(c) for c in cfgs)
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert all(not n.endswith("checkpoint.pt") for n in tar.getnames())
    dst = tmp_path / "dst"
    assert sorted(unpack(tmp_path / "a.tar.gz", dst)["added"]) == sorted(
        f"smoke/{run_name(c)}" for c in cfgs)
    for cfg in cfgs:
        for f in ("result.json", "masks.npz"):
            a, b = src / "smoke" / run_name(cfg) / f, dst / "smoke" / run_name(cfg) / f
            assert a.read_bytes() == b.read_bytes()
    assert len(unpack(tmp_path / "a.tar.gz", dst)["unchanged"]) == 2


def test_unpack_refuses_oversized_members(tmp_path, good_run, monkeypatch):
    import srewire.archive as archive_module

    prefix, files = good_run
    archive = tar_with(tmp_path / "a.tar.gz", [(member(prefix + f), data)
                                               for f, data in files.items()])
    monkeypatch.setattr(archive_module, "MAX_MEMBER_BYTES", 16)
    with pytest.raises(ArchiveError, match="at most 16"):
        unpack(archive, tmp_path / "results")
    monkeypatch.setattr(archive_module, "MAX_MEMBER_BYTES", 2**20)
    monkeypatch.setattr(archive_module, "MAX_ARCHIVE_BYTES", len(files["result.json"]))
    with pytest.raises(ArchiveError, match="bytes unpacked"):
        unpack(archive, tmp_path / "results")
    assert not (tmp_path / "results").exists()
