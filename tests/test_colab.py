"""srewire.colab: the repository URL and its override, the dependencies it installs, the
sparse clone of results and sample data, and the working directory it leaves behind.

The clones are made from a small local repository through a file:// URL, as the Colab stage
of scripts/test.sh does with the real one; nothing reaches the network.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from srewire import colab

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                   check=True, capture_output=True)


@pytest.fixture
def origin(tmp_path) -> str:
    """A repository shaped like srewire's: results, sample data, and files not fetched."""
    repo = tmp_path / "origin"
    for rel, text in {"results/quick/run/result.json": "{}", "book/data/sample.npz": "x",
                      "book/intro.md": "# intro", "notebooks/01_x.py": "#", "srewire/a.py": "",
                      "README.md": "readme"}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git("init", "-q", "-b", "main", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "init", cwd=repo)
    return repo.as_uri()


def test_repo_url_override(monkeypatch):
    monkeypatch.delenv(colab.REPO_ENV, raising=False)
    assert colab.repo_url() == colab.REPO_URL
    monkeypatch.setenv(colab.REPO_ENV, "  ")
    assert colab.repo_url() == colab.REPO_URL
    monkeypatch.setenv(colab.REPO_ENV, "file:///some/clone")
    assert colab.repo_url() == "file:///some/clone"


def test_fetch_takes_only_results_and_sample_data(origin, tmp_path):
    repo = colab.fetch(origin, tmp_path / "cache")
    assert repo == tmp_path / "cache" / "repo"
    assert (repo / "results/quick/run/result.json").read_text() == "{}"
    assert (repo / "book/data/sample.npz").is_file()
    # git's cone mode also checks out the files directly in the folders above (README.md,
    # book/intro.md), but no other folder.
    for absent in ("notebooks", "srewire"):
        assert not (repo / absent).exists(), f"{absent}/ should not be checked out"
    marker = repo / "results" / "marker"
    marker.write_text("kept")
    assert colab.fetch(origin, tmp_path / "cache") == repo and marker.is_file(), \
        "a clone of the same URL is reused"


def test_fetch_replaces_a_clone_of_another_url(origin, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(Path(origin.removeprefix("file://")), other)
    repo = colab.fetch(origin, tmp_path / "cache")
    (repo / "results" / "marker").write_text("from the first clone")
    repo = colab.fetch(other.as_uri(), tmp_path / "cache")
    assert not (repo / "results" / "marker").exists()
    out = subprocess.run(["git", "remote", "get-url", "origin"], cwd=repo, text=True,
                         capture_output=True, check=True).stdout.strip()
    assert out == other.as_uri()


def test_fetch_refuses_a_folder_that_is_not_a_clone(tmp_path):
    (tmp_path / "cache" / "repo").mkdir(parents=True)
    (tmp_path / "cache" / "repo" / "mine.txt").write_text("do not delete")
    with pytest.raises(colab.ColabError, match="SREWIRE_CACHE"):
        colab.fetch("file:///nowhere", tmp_path / "cache")
    assert (tmp_path / "cache" / "repo" / "mine.txt").is_file()


def test_fetch_reports_a_repository_without_results(tmp_path):
    repo = tmp_path / "bare"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "x.py").write_text("")
    _git("init", "-q", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "x", cwd=repo)
    with pytest.raises(colab.ColabError, match="results"):
        colab.fetch(repo.as_uri(), tmp_path / "cache")


def test_missing_requirements_leave_torch_alone(monkeypatch):
    reqs = ["torch>=2.1", "torchvision>=0.16", "numpy>=1.24", "foolbox==3.3.4",
            "pytest; extra == 'test'"]
    installed = {"numpy"}

    def version(name):
        if name in installed:
            return "1.0"
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", lambda dist: reqs)
    monkeypatch.setattr(importlib.metadata, "version", version)
    assert colab.missing_requirements() == ["foolbox==3.3.4"]


def test_install_missing_pins_torch(monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        constraints = Path(cmd[cmd.index("-c") + 1]).read_text()
        calls.append((cmd, constraints))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(colab, "missing_requirements", lambda dist="srewire": ["foolbox==3.3.4"])
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: {"torch": "2.9.0", "torchvision": "0.24.0"}[name])
    monkeypatch.setattr(subprocess, "run", fake_run)
    assert colab.install_missing() == ["foolbox==3.3.4"]
    (cmd, constraints), = calls
    assert cmd[-1] == "foolbox==3.3.4" and "--no-deps" not in cmd
    assert constraints.split() == ["torch==2.9.0", "torchvision==0.24.0"]


def test_setup_works_inside_the_clone(origin, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # restored after the test
    monkeypatch.setattr(colab, "install_missing", lambda dist="srewire": [])
    repo = colab.setup(origin, tmp_path / "cache")
    assert Path.cwd() == repo / "notebooks"
    # The notebooks' own relative paths now find what they read.
    assert Path("../results/quick/run/result.json").is_file()
    assert Path("../book/data/sample.npz").is_file()
    out = capsys.readouterr().out
    assert f"working directory: {repo / 'notebooks'}" in out
    assert "device for training: " in out


def _executed(tmp_path, setup_text: str, images: int, name: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell('if "google.colab" in sys.modules: ...')
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text=setup_text)]
    plot = nbformat.v4.new_code_cell("plot()")
    plot.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBO",
                                                                  "text/plain": "<Figure>"})
                    for _ in range(images)]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), setup, plot]
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def test_colab_check_of_the_ci_stage(tmp_path, origin):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "colab_check", Path(__file__).resolve().parents[1] / "tools" / "colab_check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    site = tmp_path / "site-packages"
    clone = colab.fetch(origin, tmp_path / "cache")
    good = (f"srewire 0.1.0 from {site.resolve() / 'srewire'}\n"
            f"working directory: {clone.resolve() / 'notebooks'}\n")
    committed = _executed(tmp_path, "", 2, "committed.ipynb")
    ran = _executed(tmp_path, good, 2, "ran.ipynb")
    assert check.problems(ran, committed, site, clone) == []
    # srewire imported from elsewhere (a checkout), figures missing, the clone written to:
    elsewhere = _executed(tmp_path, good.replace(str(site.resolve()), "/src"), 2, "a.ipynb")
    assert any("pip-installed" in p for p in check.problems(elsewhere, committed, site, clone))
    fewer = _executed(tmp_path, good, 1, "b.ipynb")
    assert any("figure" in p for p in check.problems(fewer, committed, site, clone))
    (clone / "results" / "quick" / "new_run").mkdir()
    (clone / "results" / "quick" / "new_run" / "result.json").write_text("{}")
    assert any("clone changed" in p for p in check.problems(ran, committed, site, clone))
