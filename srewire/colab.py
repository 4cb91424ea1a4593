"""A notebook of the book opened alone on Google Colab: what it needs from the repository.

On Colab a notebook arrives without the repository beside it: no ``results/``, no sample data,
no srewire. Its first code cell (the *setup cell*, :func:`setup_cell`) therefore

1. installs srewire itself with ``pip install --no-deps "srewire @ git+URL"``, which leaves
   Colab's own PyTorch alone, and then calls :func:`setup`, which
2. installs the dependencies of srewire that the runtime lacks (Foolbox, EagerPy, ...), with
   the installed ``torch`` and ``torchvision`` held at their versions by a pip constraint,
3. fetches the committed results and the sample data from the repository (a shallow, sparse
   ``git clone`` of :data:`FETCHED` into a cache folder), and
4. changes the working directory to that clone's ``notebooks/`` folder, so the notebook's
   relative paths (``../results``, ``../book/data/...``) find what they read, exactly as in a
   checkout. Nothing is trained: every result the notebook reads is committed.

PyTorch uses Colab's GPU when the runtime has one: a run that has to be trained picks CUDA
by itself (:func:`srewire.runs.run`); :func:`setup` reports which device that is.

The repository's URL is :data:`REPO_URL`; the environment variable ``SREWIRE_REPO`` overrides
it with any URL that both ``pip install git+URL`` and ``git clone URL`` accept, for example a
fork, or ``file:///path/to/clone`` for the Colab simulation of ``scripts/test.sh``. The setup
cell must name the URL before srewire can be imported, so each notebook holds a copy of it:
the cell is the text :func:`setup_cell` makes (``tools/colab_cell.py`` writes it into every
notebook), and ``tests/test_book_config.py`` checks that every notebook's setup cell and the
``repository.url`` of ``_config.yml`` agree with :data:`REPO_URL`.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["REPO_URL", "REPO_ENV", "CACHE_ENV", "FETCHED", "repo_url", "on_colab",
           "pages_url", "setup_cell", "missing_requirements", "install_missing", "fetch", "setup"]

#: The repository's URL; the one place it is written (see the module docstring).
REPO_URL = "https://github.com/srewire/srewire"
#: Environment variable that overrides :data:`REPO_URL` (any git URL pip and git accept).
REPO_ENV = "SREWIRE_REPO"
#: Environment variable naming the cache folder of the clone (default ``~/.cache/srewire``).
CACHE_ENV = "SREWIRE_CACHE"
#: What the notebooks read from the repository: the committed results and the sample data.
FETCHED = ("results", "book/data")
#: Packages that Colab brings and that must stay as they are.
_KEPT = ("torch", "torchvision")


class ColabError(RuntimeError):
    """The setup on Colab failed; the message says which step and why."""


def pages_url(url: str = REPO_URL) -> str:
    """Where GitHub Pages publishes the book of the repository at ``url``
    (``https://github.com/OWNER/NAME`` -> ``https://OWNER.github.io/NAME/``)."""
    parts = url.rstrip("/").removesuffix(".git").split("/")
    if len(parts) < 5 or parts[2] != "github.com":
        raise ValueError(f"not a GitHub repository URL: {url!r}")
    return f"https://{parts[3].lower()}.github.io/{parts[4]}/"


def repo_url() -> str:
    """The repository URL: ``$SREWIRE_REPO`` when set and not empty, else :data:`REPO_URL`."""
    url = os.environ.get(REPO_ENV, "").strip()
    return url or REPO_URL


def on_colab() -> bool:
    """True inside a Google Colab runtime (its ``google.colab`` module is imported)."""
    return "google.colab" in sys.modules


def setup_cell(url: str = REPO_URL) -> str:
    """The source of every notebook's setup cell, as the ``.ipynb`` holds it.

    The ``%pip`` line expands ``{SREWIRE_REPO}`` (IPython substitutes variables in magics);
    jupytext writes the magic commented out in the ``.py`` and restores it on reading.
    """
    return "\n".join([
        "# Colab setup: on Google Colab, installs srewire and fetches the results this page",
        "# reads (srewire/colab.py says how); does nothing anywhere else.",
        "import os",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    SREWIRE_REPO = os.environ.get("{REPO_ENV}") or "{url}"',
        '    %pip install -q --no-deps "srewire @ git+{SREWIRE_REPO}"',
        "    from srewire.colab import setup",
        "",
        "    setup()",
    ])


def _requirement_name(requirement: str) -> str | None:
    """The distribution a requirement string names, or None for an optional (extra) one."""
    if ";" in requirement and "extra" in requirement.split(";", 1)[1]:
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1) if match else None


def missing_requirements(dist: str = "srewire") -> list[str]:
    """Requirements of the installed ``dist`` that are not installed, torch and torchvision
    excepted (those stay the runtime's own)."""
    missing = []
    for requirement in importlib.metadata.requires(dist) or []:
        name = _requirement_name(requirement)
        if name is None or name.lower() in _KEPT:
            continue
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement.split(";", 1)[0].strip())
    return missing


def install_missing(dist: str = "srewire") -> list[str]:
    """``pip install`` what :func:`missing_requirements` lists, with the installed torch and
    torchvision pinned by a constraint so that pip cannot replace them; returns what it
    installed (nothing when nothing is missing)."""
    missing = missing_requirements(dist)
    if not missing:
        return []
    pins = []
    for name in _KEPT:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp, "constraints.txt")
        constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c",
                               str(constraints), *missing], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ColabError(f"pip could not install {', '.join(missing)}:\n"
                         f"{proc.stderr.strip() or proc.stdout.strip()}")
    return missing


def _git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ColabError(f"git {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout.strip()


def _cache_root() -> Path:
    root = os.environ.get(CACHE_ENV, "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "srewire"


def fetch(url: str | None = None, cache: str | os.PathLike | None = None) -> Path:
    """A shallow clone of the repository's default branch holding only :data:`FETCHED`.

    The clone lives in ``cache`` (default: ``$SREWIRE_CACHE``, else ``~/.cache/srewire``) under
    ``repo/``; a clone made earlier from the same URL is reused, one from another URL is
    replaced. Returns the clone's folder.
    """
    url = url or repo_url()
    if shutil.which("git") is None:
        raise ColabError("git is not installed; it is needed to fetch the results from " + url)
    dest = Path(cache).expanduser() if cache is not None else _cache_root()
    dest = dest / "repo"
    if (dest / ".git").is_dir():
        try:
            origin = _git("remote", "get-url", "origin", cwd=dest)
        except ColabError:
            origin = None
        if origin == url and all((dest / p).exists() for p in FETCHED):
            return dest
        shutil.rmtree(dest)
    elif dest.exists():
        raise ColabError(f"{CACHE_ENV}: {dest} exists and is not a clone; remove it or point "
                         f"{CACHE_ENV} at another folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # --filter=blob:none: only the files of FETCHED are downloaded (servers that do not
    # filter, such as a local file:// clone, send everything, which is still correct).
    _git("clone", "--quiet", "--depth", "1", "--filter=blob:none", "--sparse", url, str(dest))
    _git("sparse-checkout", "set", *FETCHED, cwd=dest)
    absent = [p for p in FETCHED if not (dest / p).exists()]
    if absent:
        raise ColabError(f"{url} holds no {', '.join(absent)}; is it the srewire repository?")
    return dest


def setup(url: str | None = None, cache: str | os.PathLike | None = None) -> Path:
    """Prepare a Colab runtime for one notebook of the book (see the module docstring).

    Installs the missing dependencies, fetches :data:`FETCHED` from ``url`` (default:
    :func:`repo_url`), makes the clone's ``notebooks/`` the working directory and prints what
    it did and which device PyTorch will use. Returns the clone's folder.
    """
    import torch

    import srewire

    installed = install_missing()
    repo = fetch(url, cache)
    notebooks = repo / "notebooks"
    notebooks.mkdir(exist_ok=True)
    os.chdir(notebooks)
    if torch.cuda.is_available():
        device = f"GPU ({torch.cuda.get_device_name(0)})"
    else:
        device = "CPU (no GPU in this runtime; Runtime > Change runtime type adds one)"
    print(f"srewire {srewire.__version__} from {Path(srewire.__file__).parent}")
    print("installed: " + (", ".join(installed) if installed else "nothing was missing"))
    print(f"results and sample data of {url or repo_url()} in {repo}")
    print(f"working directory: {notebooks}")
    print(f"device for training: {device}")
    return repo
