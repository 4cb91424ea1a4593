"""The book's configuration and the notebook convention (notebooks/README.md).

Fast checks, no notebook is executed: every notebook of _toc.yml exists as .py and .ipynb and
the two hold the same cells; the parameters and Colab cells follow the convention, and the
Colab cell does what it should; the repository URL is srewire.colab.REPO_URL everywhere; the
navigation, bibliography, API page, CITATION.cff and LICENSE; no file of the repository
carries a path of the machine it was made on; Jupyter Book stays below 2.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
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
def test_no_prose_line_is_a_myst_comment(name):
    """MyST drops a markdown line that starts with '%' as a comment, so a wrapped sentence
    whose line begins with '% of ...' silently loses that line in the book."""
    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py", fmt="py:percent")
    lost = [(i, line) for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if line.lstrip().startswith("%")]
    assert not lost, f"notebooks/{name}.py: markdown lines MyST reads as comments: {lost}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_outputs_carry_no_stderr(name):
    """The book shows the committed outputs, so a warning a kernel printed (a stale font
    cache's findfont lines, a deprecation) would reach every reader; nbval skips stderr, so
    only this test sees it."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    noisy = [(i, "".join(o.get("text", ""))[:120]) for i, cell in enumerate(nb.cells)
             for o in cell.get("outputs", []) if o.get("name") == "stderr"]
    assert not noisy, f"notebooks/{name}.ipynb: stderr in the outputs of cells {noisy}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell(name):
    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py", fmt="py:percent")
    cells = _tagged(nb, "parameters")
    assert len(cells) == 1, f"notebooks/{name}.py: expected one cell tagged parameters"
    assert {"remove-input", "remove-cell"} & set(cells[0].metadata["tags"]), \
        f"notebooks/{name}.py: tag the parameters cell [\"parameters\", \"remove-cell\"]"
    names = {t.id for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    missing = [p for p in PARAMETERS if p not in names]
    assert not missing, f"notebooks/{name}.py: the parameters cell lacks {missing}"


# The tags that keep the Colab setup cell off the rendered page, any one of them.
HIDING_TAGS = ("remove-cell", "hide-cell", "remove-input", "hide-output")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_cell_is_the_package_cell(name):
    from srewire.colab import REPO_URL, setup_cell

    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py", fmt="py:percent")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"notebooks/{name}.py has no code cell"
    first = code[0]
    tags = first.metadata.get("tags", [])
    assert "nbval-skip" in tags and any(t in tags for t in HIDING_TAGS), \
        f"notebooks/{name}.py: the first code cell (Colab setup) needs nbval-skip and one of " \
        f"{HIDING_TAGS}; it has {tags}"
    assert first.source == setup_cell(REPO_URL), (
        f"notebooks/{name}.py: the first code cell is not the Colab setup cell of "
        f"srewire.colab.setup_cell(); run: python tools/colab_cell.py")
    installs = [line for line in first.source.splitlines() if "pip install" in line]
    assert installs and all("--no-deps" in line for line in installs), \
        f"notebooks/{name}.py: the Colab cell must pip install with --no-deps"
    assert not any(re.search(r"\btorch(vision)?\b", line) for line in installs), \
        f"notebooks/{name}.py: the Colab cell must not install torch"


def test_repository_url_in_one_place():
    from srewire.colab import REPO_URL

    assert _config()["repository"]["url"].rstrip("/") == REPO_URL, \
        "_config.yml repository.url must equal srewire.colab.REPO_URL"
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["repository-code"] == REPO_URL, \
        "CITATION.cff repository-code must equal srewire.colab.REPO_URL"


def _run_setup_cell(monkeypatch, on_colab: bool, env: str | None) -> tuple[list, list, dict]:
    """Execute the setup cell as IPython would: magics become run_line_magic calls, whose
    arguments IPython expands with the cell's variables (DollarFormatter, as var_expand)."""
    from IPython.core.inputtransformer2 import TransformerManager
    from IPython.utils.text import DollarFormatter

    import srewire.colab
    from srewire.colab import setup_cell

    magics, setups, ns = [], [], {}

    class Shell:
        def run_line_magic(self, name, line, _stack_depth=1):
            magics.append((name, DollarFormatter().vformat(line, [], ns)))

    if env is None:
        monkeypatch.delenv("SREWIRE_REPO", raising=False)
    else:
        monkeypatch.setenv("SREWIRE_REPO", env)
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(srewire.colab, "setup", lambda *a, **k: setups.append((a, k)))
    ns["get_ipython"] = Shell
    code = TransformerManager().transform_cell(setup_cell())
    exec(compile(code, "<setup cell>", "exec"), ns)
    return magics, setups, ns


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    magics, setups, ns = _run_setup_cell(monkeypatch, on_colab=False, env="file:///elsewhere")
    assert magics == [] and setups == [] and "SREWIRE_REPO" not in ns


@pytest.mark.parametrize("env", [None, "", "file:///some/clone", "https://example.org/fork.git"])
def test_colab_cell_installs_from_srewire_repo(monkeypatch, env):
    from srewire.colab import REPO_URL

    magics, setups, _ = _run_setup_cell(monkeypatch, on_colab=True, env=env)
    url = env or REPO_URL
    assert magics == [("pip", f'install -q --no-deps "srewire @ git+{url}"')]
    assert setups == [((), {})], "the cell must call srewire.colab.setup() once, after pip"


def _page_title(name: str) -> str:
    if name.startswith("notebooks/"):
        nb = jupytext.read(ROOT / f"{name}.py", fmt="py:percent")
        text = next(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = (ROOT / f"{name}.md").read_text(encoding="utf-8")
    return next(line[2:].strip() for line in text.splitlines() if line.startswith("# "))


def test_navigation():
    files = _toc_files()
    assert files[1] == "notebooks/00_quickstart", "the quickstart must come first in _toc.yml"
    titles = [_page_title(f) for f in files]
    assert len(set(titles)) == len(titles), f"pages share a title: {titles}"
    words = [t.split(":")[0].split()[0].lower() for t in titles if "reproduc" in t.lower()]
    assert len(words) == len(set(words)), f"the reproduction pages read alike: {titles}"
    cfg = _config()
    assert cfg["html"]["home_page_in_navbar"] is False, \
        "the sidebar's brand already shows the book title; no home link below it"
    sidebars = cfg["sphinx"]["config"]["html_sidebars"]
    assert all("search" not in item for items in sidebars.values() for item in items), \
        "the page header has the search button; the sidebar must not add a second one"
    assert cfg["sphinx"]["config"]["bibtex_reference_style"] == "author_year"
    assert cfg["sphinx"]["config"]["bibtex_default_style"] == "author_year"
    assert set(cfg["sphinx"]["local_extensions"]) >= {"home_title", "author_year_labels"}


def _ext(name: str):
    import importlib

    monkey = str(ROOT / "book" / "_ext")
    if monkey not in sys.path:
        sys.path.insert(0, monkey)
    return importlib.import_module(name)


def test_bibliography_labels_read_like_the_citations():
    pybtex = pytest.importorskip("pybtex.database")
    bib = pybtex.parse_file(str(ROOT / "book" / "references.bib"))
    labels = dict(zip(bib.entries, _ext("author_year_labels").AuthorYearLabelStyle()
                      .format_labels(bib.entries.values())))
    assert labels["seidel2022structured"] == "Seidel, 2022"
    assert labels["ozdenizci2021training"] == "Özdenizci and Legenstein, 2021"
    assert labels["zhang2019theoretically"] == "Zhang et al., 2019"
    assert len(set(labels.values())) == len(labels), "labels must be unique"


def test_landing_page_title_not_repeated():
    home = _ext("home_title")
    app = type("App", (), {"config": type("C", (), {"root_doc": "book/intro"})()})()
    book = "srewire — Structured Adversarial Rewiring, reproduced"
    ctx = {"docstitle": book, "title": book, "theme_logo": {"image_light": None}}
    home.single_title(app, "book/intro", "page.html", ctx, None)
    assert ctx["docstitle"] == "" and ctx["theme_logo"]["text"] == book
    other = {"docstitle": book, "title": "4. Structure results"}
    home.single_title(app, "notebooks/04_structure", "page.html", other, None)
    assert other["docstitle"] == book, "other pages keep the book title as suffix"


def test_api_page_lists_every_module():
    text = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\.\. automodule:: (srewire\.\w+)$", text, re.MULTILINE))
    modules = {f"srewire.{p.stem}" for p in (ROOT / "srewire").glob("*.py")
               if not p.stem.startswith("_")}
    # a subpackage (srewire/rewiring/) is documented by its public names, from its __init__
    modules |= {f"srewire.{p.parent.name}" for p in (ROOT / "srewire").glob("*/__init__.py")}
    assert modules - listed == set(), f"book/api.md lacks {sorted(modules - listed)}"
    assert listed - modules == set(), f"book/api.md lists missing {sorted(listed - modules)}"
    assert "book/api" in _toc_files()
    assert "sphinx.ext.autodoc" in _config()["sphinx"]["extra_extensions"]


def test_citation_and_license():
    import srewire

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    # The keys CFF 1.2.0 requires, and the shape of their values.
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and cff["message"].strip()
    assert isinstance(cff["title"], str) and cff["title"].strip()
    for who in [*cff["authors"], *cff["preferred-citation"]["authors"]]:
        assert who.get("name") or who.get("family-names"), f"CITATION.cff: author {who}"
    assert cff["version"] == srewire.__version__
    assert cff["license"] == "MIT"
    thesis = cff["preferred-citation"]
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    entry = bib[bib.index("@misc{seidel2022structured"):]
    entry = entry[: entry.index("\n}")]
    assert thesis["type"] == "thesis" and thesis["title"] in entry
    assert f"year         = {{{thesis['year']}}}" in entry
    assert thesis["authors"][0]["family-names"] == "Seidel"
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in license_text


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


def test_update_notebooks_keeps_cell_ids(tmp_path, monkeypatch):
    """Writing executed outputs back (tools/book.py update-notebooks) keeps the committed
    cell ids, so a notebook whose outputs did not change is written back byte for byte."""
    book = _book_tool()
    name = NOTEBOOKS[0]
    notebooks, executed = tmp_path / "notebooks", tmp_path / "executed" / "notebooks"
    notebooks.mkdir()
    executed.mkdir(parents=True)
    for suffix in (".py", ".ipynb"):
        shutil.copy(ROOT / "notebooks" / f"{name}{suffix}", notebooks / f"{name}{suffix}")
    shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", executed / f"{name}.ipynb")
    monkeypatch.setattr(book, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(book, "toc_notebooks", lambda toc=None: [name])
    before = (notebooks / f"{name}.ipynb").read_bytes()
    assert book.cmd_update_notebooks(argparse.Namespace(executed=str(executed.parent))) == 0
    assert (notebooks / f"{name}.ipynb").read_bytes() == before


def test_no_tracker_references_in_code_or_book():
    """Internal tracker numbers (the word, then a number) mean nothing to a reader of the book, the
    API page or the code; they stay out of every file of the repository that ships."""
    pattern = re.compile(r"\b[Ii]ssues? \d")
    folders = ("srewire", "book", "notebooks", "tools", "tests", "benchmarks", "scripts", ".ci",
               ".github", "binder")
    found = []
    for path in sorted(p for folder in folders for p in (ROOT / folder).rglob("*")
                       if p.is_file() and p.suffix in {".py", ".md", ".sh", ".css", ".yml",
                                                       ".txt", ".ipynb", ""}):
        if path.suffix == ".ipynb":  # the lead re-syncs these from the .py files
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
                  for m in pattern.finditer(text)]
    found += [f"README.md:{i}" for i, line in
              enumerate((ROOT / "README.md").read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found
