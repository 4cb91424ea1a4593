"""Atomic file writes: a file is either its old version or its complete new one.

Every file the package writes goes through :func:`atomic_write`: the content goes to a
temporary file in the target's own folder (so that the final rename stays on one file
system), is flushed and fsync-ed, the file is closed, and ``os.replace`` puts it in place; the
folder is fsync-ed too, so that the rename itself survives a power cut. A writer that fails
leaves the old file untouched and no temporary file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_json"]


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Write ``path`` atomically; ``write`` receives the open binary temporary file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(f.fileno(), _mode(path))  # mkstemp's 0600 is not what open() gives
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(path.parent)
    return path


def _mode(path: Path) -> int:
    """The permissions of the file being replaced, else what the umask leaves of 0666."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (one trailing newline) atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=1) + "\n")
