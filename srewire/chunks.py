"""A folder in chunks: packed into tar parts of at most ``max_mib`` MiB with a manifest of
sha256 checksums, and put back together only after every part and the whole were verified.

For a GPU machine that receives the data set (CIFAR-10's python folder is 178 MiB) in pieces:

    python -m srewire.chunks make data/cifar-10-batches-py chunks/ --max-mib 50
    python -m srewire.chunks join chunks/ data      # prints data

``join`` extracts the folder under the destination (``data/cifar-10-batches-py``), so the
destination is what ``--data`` / ``SREWIRE_DATA`` take. ``scripts/gpu_window.sh`` runs it when
``SREWIRE_DATA_CHUNKS`` names a chunk folder.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["MANIFEST", "ChunkError", "make_chunks", "join_chunks"]

MANIFEST = "chunks.json"
_BLOCK = 1 << 20


class ChunkError(ValueError):
    """A chunk folder is missing a part, or a part or the whole fails its checksum."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_chunks(folder: str | Path, out: str | Path, max_mib: float = 50) -> list[Path]:
    """Pack ``folder`` (a tar with the folder's own name at the top) into parts of at most
    ``max_mib`` MiB in ``out``, with ``chunks.json`` holding each part's and the whole's
    sha256. Returns the files written, manifest last."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise ChunkError(f"folder: {folder} is not a folder")
    if not max_mib > 0:
        raise ChunkError(f"max_mib must be a positive number of MiB; got {max_mib!r}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder, arcname=folder.name)
    whole = buffer.getvalue()
    size = max(1, int(max_mib * _BLOCK))
    out.mkdir(parents=True, exist_ok=True)
    written, parts = [], []
    for i in range(0, len(whole), size):
        part = whole[i:i + size]
        path = out / f"{folder.name}.tar.part{len(parts):03d}"
        path.write_bytes(part)
        parts.append({"file": path.name, "bytes": len(part), "sha256": _sha256(part)})
        written.append(path)
    manifest = {"name": folder.name, "bytes": len(whole), "sha256": _sha256(whole),
                "parts": parts}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return written + [out / MANIFEST]


def join_chunks(chunks: str | Path, dest: str | Path) -> Path:
    """Verify every part listed in ``chunks/chunks.json`` and the reassembled whole, then
    extract the folder under ``dest``; returns ``dest``. Raises :class:`ChunkError` naming the
    part that is missing or wrong, before anything is extracted."""
    chunks, dest = Path(chunks), Path(dest)
    try:
        manifest = json.loads((chunks / MANIFEST).read_text())
        parts = manifest["parts"]
    except (OSError, ValueError, KeyError) as exc:
        raise ChunkError(f"chunks: {chunks / MANIFEST} cannot be read ({exc})") from None
    whole = bytearray()
    for part in parts:
        path = chunks / part["file"]
        if not path.is_file():
            raise ChunkError(f"chunks: part {part['file']} is missing from {chunks}")
        data = path.read_bytes()
        if len(data) != part["bytes"] or _sha256(data) != part["sha256"]:
            raise ChunkError(f"chunks: part {part['file']} fails its sha256 check (damaged or "
                             f"incomplete copy)")
        whole += data
    if len(whole) != manifest["bytes"] or _sha256(bytes(whole)) != manifest["sha256"]:
        raise ChunkError("chunks: the reassembled archive fails its sha256 check")
    with tarfile.open(fileobj=io.BytesIO(bytes(whole))) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if (name.is_absolute() or ".." in name.parts or name.parts[0] != manifest["name"]
                    or not (member.isfile() or member.isdir())):
                raise ChunkError(f"chunks: refusing archive member {member.name!r}")
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest) as tmp:  # extract, then move in place
            tar.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") \
                else tar.extractall(tmp)
            target = dest / manifest["name"]
            if target.exists():
                raise ChunkError(f"dest: {target} already exists")
            (Path(tmp) / manifest["name"]).rename(target)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m srewire.chunks", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="pack a folder into verified chunks")
    make.add_argument("folder")
    make.add_argument("out")
    make.add_argument("--max-mib", type=float, default=50)
    join = sub.add_parser("join", help="verify chunks and extract the folder under DEST")
    join.add_argument("chunks")
    join.add_argument("dest")
    args = p.parse_args(argv)
    try:
        if args.command == "make":
            for path in make_chunks(args.folder, args.out, args.max_mib):
                print(path)
        else:
            print(join_chunks(args.chunks, args.dest))
    except ChunkError as exc:
        print(f"srewire.chunks: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
