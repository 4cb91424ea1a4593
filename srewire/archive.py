"""Result archives: bring finished runs from one machine to another.

:func:`pack` writes the finished runs of a profile (``result.json``, ``masks.npz`` and
``weights.npz`` where present) into one ``.tar.gz``; :func:`unpack` merges such an archive into
a results folder. Both check every run before anything is written:

* a run's folder is named ``run_name(config)`` of the config in its ``result.json``, and it
  sits in the folder of that config's profile;
* an archive holds regular files only, each named ``<profile>/<run_name>/<file>`` with one of
  the three expected file names (no absolute paths, no ``..``, no links or devices, no
  duplicates), of bounded size; ``masks.npz`` and ``weights.npz`` open without pickles;
* an existing result that differs from the archive's is never replaced unless asked for.

An archive is untrusted input: its members are read into memory and written by this module,
never extracted by ``tarfile``, so nothing lands outside the target folder.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .config import PROFILES, ConfigError, from_dict

__all__ = ["ArchiveError", "pack", "unpack", "RUN_FILES", "MAX_MEMBER_BYTES",
           "MAX_ARCHIVE_BYTES"]

RESULT, MASKS, WEIGHTS = "result.json", "masks.npz", "weights.npz"
RUN_FILES = (RESULT, MASKS, WEIGHTS)
MAX_MEMBER_BYTES = 64 * 2**20  # a paper run's files are a few MiB at most
MAX_ARCHIVE_BYTES = 2**30  # all members together, unpacked


class ArchiveError(RuntimeError):
    """An archive or a results folder fails a check; nothing was written."""


@dataclass(frozen=True)
class _Run:
    profile: str
    name: str
    files: dict[str, bytes]  # file name -> contents


def _run_name(config: dict) -> str:
    from .runs import run_name  # runs imports torch; keep this module light

    return run_name(from_dict(config))


def _check_run(where: str, profile: str, name: str, files: dict[str, bytes]) -> _Run:
    """The run's result.json names this run and profile, and its arrays hold no pickles."""
    if RESULT not in files:
        raise ArchiveError(f"{where}: {profile}/{name} has no {RESULT}")
    try:
        result = json.loads(files[RESULT])
        config = result["config"]
        expected = _run_name(config)
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise ArchiveError(f"{where}: {profile}/{name}/{RESULT} is not a valid result "
                           f"({type(exc).__name__}: {exc})") from None
    if name != expected:
        raise ArchiveError(f"{where}: folder {profile}/{name} holds the result of {expected} "
                           f"(the folder name must equal run_name(config))")
    if config.get("profile") != profile:
        raise ArchiveError(f"{where}: {profile}/{name} holds a result of profile "
                           f"{config.get('profile')!r} (it must sit in results/"
                           f"{config.get('profile')}/)")
    for array_file in (MASKS, WEIGHTS):
        if array_file in files:
            try:
                with np.load(io.BytesIO(files[array_file]), allow_pickle=False) as z:
                    for key in z.files:
                        z[key]
            except (ValueError, OSError, EOFError) as exc:
                raise ArchiveError(f"{where}: {profile}/{name}/{array_file} cannot be read "
                                   f"without pickles ({exc})") from None
    return _Run(profile, name, dict(files))


def _finished_runs(results: Path, profile: str) -> list[_Run]:
    folder = results / profile
    runs = []
    for result in sorted(folder.glob(f"*/{RESULT}")):
        run_dir = result.parent
        files = {f: (run_dir / f).read_bytes() for f in RUN_FILES if (run_dir / f).is_file()}
        runs.append(_check_run("pack", profile, run_dir.name, files))
    return runs


def pack(results: str | os.PathLike, profile: str, archive: str | os.PathLike) -> list[str]:
    """Write every finished run of ``results/profile`` into the ``.tar.gz`` ``archive``.

    Returns the packed run names. Raises :class:`ArchiveError` (nothing written) when a run
    folder's name or profile does not match its result's config, or when no run is finished.
    """
    if profile not in PROFILES:
        raise ArchiveError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    runs = _finished_runs(Path(results), profile)
    if not runs:
        raise ArchiveError(f"pack: no finished run in {Path(results) / profile}")
    archive = Path(archive)
    tmp = archive.with_name(archive.name + ".tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for run in runs:
                for file, data in run.files.items():
                    info = tarfile.TarInfo(f"{run.profile}/{run.name}/{file}")
                    info.size, info.mode, info.mtime = len(data), 0o644, 0
                    tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, archive)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveError(f"pack: cannot write {archive} ({exc.strerror or exc})") from None
    return [run.name for run in runs]


def _member_path(where: str, member: tarfile.TarInfo) -> tuple[str, str, str]:
    """(profile, run name, file) of a member, or :class:`ArchiveError` for any other name."""
    name = member.name
    if not member.isfile():
        kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                else "a folder" if member.isdir() else "a device or other special file")
        raise ArchiveError(f"{where}: member {name!r} is {kind}; an archive holds regular "
                           f"files only")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or ".." in parts or len(parts) != 3 \
            or any(p in ("", ".") for p in name.split("/")):
        raise ArchiveError(f"{where}: member {name!r} is not named <profile>/<run_name>/"
                           f"<file> (no absolute paths, no '..'); refused")
    profile, run, file = parts
    if profile not in PROFILES or file not in RUN_FILES:
        raise ArchiveError(f"{where}: member {name!r}: expected a profile in "
                           f"{', '.join(PROFILES)} and a file in {', '.join(RUN_FILES)}")
    if member.size > MAX_MEMBER_BYTES:
        raise ArchiveError(f"{where}: member {name!r} is {member.size} bytes (at most "
                           f"{MAX_MEMBER_BYTES})")
    return profile, run, file


def _read_archive(archive: Path) -> list[_Run]:
    where = f"unpack {archive.name}"
    grouped: dict[tuple[str, str], dict[str, bytes]] = {}
    total = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                profile, run, file = _member_path(where, member)
                total += member.size
                if total > MAX_ARCHIVE_BYTES:
                    raise ArchiveError(f"{where}: more than {MAX_ARCHIVE_BYTES} bytes unpacked; "
                                       f"refused")
                files = grouped.setdefault((profile, run), {})
                if file in files:
                    raise ArchiveError(f"{where}: member {member.name!r} appears twice")
                extracted = tar.extractfile(member)
                files[file] = extracted.read() if extracted else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{where}: not a readable .tar.gz archive ({exc})") from None
    if not grouped:
        raise ArchiveError(f"{where}: the archive holds no runs")
    return [_check_run(where, p, r, files) for (p, r), files in sorted(grouped.items())]


def unpack(archive: str | os.PathLike, results: str | os.PathLike = "results", *,
           replace: bool = False) -> dict[str, list[str]]:
    """Merge the runs of ``archive`` into ``results``; returns the run folders (relative to
    ``results``) per outcome: ``added``, ``unchanged`` (identical files already there) and
    ``replaced`` (only with ``replace``).

    Every member and run is checked before anything is written; a run whose existing files
    differ from the archive's is refused unless ``replace`` is set. Raises
    :class:`ArchiveError`.
    """
    archive, results = Path(archive), Path(results)
    if not archive.is_file():
        raise ArchiveError(f"unpack: {archive} is not a file")
    runs = _read_archive(archive)
    where = f"unpack {archive.name}"
    root = results.resolve()
    plan: list[tuple[_Run, Path, str]] = []
    for run in runs:
        target = results / run.profile / run.name
        resolved = target.resolve()
        if resolved.parent.parent != root or (target.exists() and target.is_symlink()):
            raise ArchiveError(f"{where}: {target} is a link or leads outside {results}; "
                               f"refused")
        existing = {f: (target / f).read_bytes() for f in RUN_FILES if (target / f).is_file()}
        if not existing or RESULT not in existing:
            outcome = "added"
        elif existing == run.files:
            outcome = "unchanged"
        elif replace:
            outcome = "replaced"
        else:
            raise ArchiveError(f"{where}: {run.profile}/{run.name} already holds a different "
                               f"result; nothing written (move it away or pass --replace)")
        plan.append((run, target, outcome))
    done: dict[str, list[str]] = {"added": [], "unchanged": [], "replaced": []}
    for run, target, outcome in plan:
        if outcome != "unchanged":
            target.mkdir(parents=True, exist_ok=True)
            if outcome == "replaced":
                for stale in set(RUN_FILES) - set(run.files):
                    (target / stale).unlink(missing_ok=True)
            for file in sorted(run.files, key=lambda f: f == RESULT):  # result.json last
                tmp = target / (file + ".tmp")
                tmp.write_bytes(run.files[file])
                os.replace(tmp, target / file)
        done[outcome].append(f"{run.profile}/{run.name}")
    return done
