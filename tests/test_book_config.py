"""The book's configuration and the notebook convention (notebooks/README.md).

Fast checks, no notebook is executed: every notebook of _toc.yml exists as .py and .ipynb and
the two hold the same cells; the parameters and Colab cells follow the convention; no file of
the repository carries a path of the machine it was made on; Jupyter Book stays below 2.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = ("profile", "results_dir", "data_root", "force")

yaml = pytest.importorskip("yaml")
jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")


def _toc_files() -> list[str]:
    """The table of contents, read by its one parser (tools/book.py's toc_files)."""
    return _book_tool().toc_files(ROOT / "_toc.yml")


def _book_tool():
    import importlib.util
    import sys

    if "srewire_book_tool" not in sys.modules:
        spec = importlib.util.spec_from_file_location("srewire_book_tool",
                                                      ROOT / "tools" / "book.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["srewire_book_tool"] = module
        spec.loader.exec_module(module)
    return sys.modules["srewire_book_tool"]


NOTEBOOKS = [f.split("/", 1)[1] for f in _toc_files() if f.startswith("notebooks/")]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def _tagged(nb, tag: str):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def test_toc_lists_existing_pages():
    for name in _toc_files():
        if name.startswith("notebooks/"):
            continue
        assert (ROOT / f"{name}.md").is_file(), f"_toc.yml lists {name}, but {name}.md is missing"
    assert NOTEBOOKS, "_toc.yml lists no notebook"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_pair_in_sync(name):
    py, ipynb = ROOT / "notebooks" / f"{name}.py", ROOT / "notebooks" / f"{name}.ipynb"
    assert py.is_file(), f"{py.relative_to(ROOT)} is missing"
    assert ipynb.is_file(), f"{ipynb.relative_to(ROOT)} is missing (jupytext --sync {py.name})"
    text = jupytext.read(py, fmt="py:percent")
    nb = nbformat.read(ipynb, as_version=4)
    assert _sources(text) == _sources(nb), (
        f"notebooks/{name}.py and .ipynb differ; run: jupytext --sync notebooks/{name}.py")
    assert text.metadata.get("kernelspec", {}).get("name") == "python3", \
        f"notebooks/{name}.py: the header needs a python3 kernelspec"
    formats = text.metadata.get("jupytext", {}).get("formats", "")
    assert formats == "ipynb,py:percent", f"notebooks/{name}.py: formats is {formats!r}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell(name):
    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py", fmt="py:percent")
    cells = _tagged(nb, "parameters")
    assert len(cells) == 1, f"notebooks/{name}.py: expected one cell tagged parameters"
    assert "remove-input" in cells[0].metadata["tags"], \
        f"notebooks/{name}.py: tag the parameters cell [\"parameters\", \"remove-input\"]"
    names = {t.id for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    missing = [p for p in PARAMETERS if p not in names]
    assert not missing, f"notebooks/{name}.py: the parameters cell lacks {missing}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_cell_matches_repository(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"notebooks/{name}.ipynb has no code cell"
    first = code[0]
    tags = first.metadata.get("tags", [])
    assert "hide-output" in tags and "nbval-skip" in tags, \
        f"notebooks/{name}.ipynb: the first code cell (Colab setup) needs hide-output, nbval-skip"
    assert "google.colab" in first.source, f"notebooks/{name}.ipynb: no Colab guard"
    urls = re.findall(r"git\+(\S+?)@[\w.\-/]+\"", first.source)
    assert urls, f"notebooks/{name}.ipynb: the Colab cell installs no git+URL"
    expected = _config()["repository"]["url"].rstrip("/")
    assert all(u.rstrip("/") == expected for u in urls), \
        f"notebooks/{name}.ipynb: Colab cell installs {urls}, _config.yml says {expected}"
    installs = [line for line in first.source.splitlines() if "pip install" in line]
    assert not any(re.search(r"\btorch(vision)?\b", line) for line in installs), \
        f"notebooks/{name}.ipynb: the Colab cell must not install torch"


def test_config_essentials():
    cfg = _config()
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["only_build_toc_files"] is True
    assert "notebooks/*.py" in cfg["exclude_patterns"]
    assert cfg["repository"]["branch"] == "main"
    assert cfg["bibtex_bibfiles"] == ["book/references.bib"]


def test_requirements_pin_jupyter_book_below_2():
    from packaging.requirements import Requirement

    reqs = [Requirement(line.split("#")[0].strip())
            for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.split("#")[0].strip()]
    jb = [r for r in reqs if r.name.lower().replace("_", "-") == "jupyter-book"]
    assert len(jb) == 1, "requirements.txt must name jupyter-book once"
    assert not jb[0].specifier.contains("2.0.0", prereleases=True), \
        "jupyter-book must stay below 2 (2.x silently builds nothing for this book)"
    assert jb[0].specifier.contains("1.0.4.post1")
    torch = [r for r in reqs if r.name == "torch"]
    assert torch and not any(s.operator == "==" for s in torch[0].specifier), \
        "torch must not be pinned exactly (Colab and GPU machines bring their own)"


def _repository_files() -> list[Path]:
    """Files git would commit: tracked ones and untracked ones that are not ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def test_no_absolute_machine_paths():
    # Assembled at run time so that this file does not match itself.
    needles = {str(ROOT), *("/" + d + "/" for d in ("work", "tmp", "root", "home"))}
    offenders = []
    for path in _repository_files():
        if path.suffix in (".pt", ".npz", ".png", ".jpg", ".pdf", ".gz", ".zip"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        found = sorted(n for n in needles if n in text)
        if found:
            offenders.append(f"{path.relative_to(ROOT)}: {', '.join(found)}")
    assert not offenders, "absolute machine paths in repository files:\n" + "\n".join(offenders)
