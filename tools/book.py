#!/usr/bin/env python3
"""Build the srewire book: execute its notebooks, stage them, build the HTML, check it.

Run with the project's virtual environment (``bash scripts/setup.sh`` creates it)::

    .venv/bin/python tools/book.py execute --profile smoke --out _build/executed \\
        --results _build/smoke-results --data _build/synthetic
    .venv/bin/python tools/book.py stage --executed _build/executed --out _build/site
    .venv/bin/python tools/book.py build --site _build/site
    .venv/bin/python tools/book.py check-html --html _build/site/_build/html
    .venv/bin/python tools/book.py update-notebooks --executed _build/executed

The notebooks are the ``notebooks/*`` entries of ``_toc.yml``, in that order; each one is a
jupytext py:percent file ``notebooks/NN_name.py`` paired with ``notebooks/NN_name.ipynb``
(see ``notebooks/README.md`` for the convention). ``scripts/book.sh`` and ``scripts/test.sh``
chain these subcommands.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TOC = ROOT / "_toc.yml"
PROFILES = ("smoke", "quick", "long", "paper")
# The parameters every notebook's `parameters` cell defines, with their conventional defaults.
PARAMETERS: dict[str, Any] = {"profile": "quick", "results_dir": "../results",
                              "data_root": None, "force": False}
HIDDEN_TAGS = ("parameters", "injected-parameters")  # cells hidden in the book (remove-input)


class BookError(RuntimeError):
    """A problem with the book's sources or build, reported without a traceback."""


# --------------------------------------------------------------------------------------------
# The table of contents and the notebooks it lists
# --------------------------------------------------------------------------------------------

def toc_files(toc: Path = TOC) -> list[str]:
    """Every ``file:`` entry of a jb-book ``_toc.yml`` (root first), extension stripped."""
    import yaml

    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    files: list[str] = []

    def strip(name: str) -> str:
        name = str(name)
        for ext in (".ipynb", ".md", ".py", ".rst"):
            if name.endswith(ext):
                return name[: -len(ext)]
        return name

    def walk(entries: list | None) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(strip(entry["file"]))
            walk(entry.get("sections"))

    if data.get("root"):
        files.append(strip(data["root"]))
    for part in data.get("parts") or []:
        walk(part.get("chapters"))
    walk(data.get("chapters"))
    return files


def toc_notebooks(toc: Path = TOC) -> list[str]:
    """Names (``NN_name``) of the notebooks listed in ``_toc.yml``, in order."""
    return [f.split("/", 1)[1] for f in toc_files(toc) if f.startswith("notebooks/")]


def read_ipynb(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def read_py(path: Path):
    import jupytext

    return jupytext.read(str(path), fmt="py:percent")


def cell_sources(nb) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: what must agree between a .py and its .ipynb."""
    return [(c.cell_type, c.source) for c in nb.cells]


def sync_problem(name: str, ipynb: Path | None = None) -> str | None:
    """Why ``notebooks/<name>.ipynb`` (or ``ipynb``) is not in sync with its .py, or None."""
    py = NOTEBOOKS / f"{name}.py"
    ipynb = ipynb or NOTEBOOKS / f"{name}.ipynb"
    if not py.is_file():
        return f"{_rel(py)} is missing"
    if not ipynb.is_file():
        return f"{_rel(ipynb)} is missing; create it with: jupytext --sync {_rel(py)}"
    a, b = cell_sources(read_py(py)), cell_sources(read_ipynb(ipynb))
    if a == b:
        return None
    if len(a) != len(b):
        detail = f"{len(a)} cells in the .py, {len(b)} in the .ipynb"
    else:
        i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        detail = f"cell {i + 1} differs"
    return (f"{_rel(ipynb)} is out of sync with {_rel(py)} ({detail}); "
            f"run: jupytext --sync {_rel(py)}")


def parameters_cell(nb):
    """The cell tagged ``parameters``, or None."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell
    return None


def parameter_defaults(nb) -> dict[str, Any]:
    """Literal values assigned in the ``parameters`` cell (``name = <literal>`` lines)."""
    cell = parameters_cell(nb)
    if cell is None:
        return {}
    out: dict[str, Any] = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            for target in targets:
                if isinstance(target, ast.Name):
                    out[target.id] = value
    return out


# --------------------------------------------------------------------------------------------
# Helpers: paths
# --------------------------------------------------------------------------------------------

def _rel(path: Path | str, start: Path | None = None) -> str:
    """``path`` relative to ``start`` (default: the current directory) when below it."""
    path = Path(path).resolve()
    start = (start or Path.cwd()).resolve()
    try:
        return str(path.relative_to(start)) or "."
    except ValueError:
        return str(path)


def _from_notebooks(path: str | os.PathLike) -> str:
    """A path as the notebooks see it: relative to ``notebooks/`` (their working directory)."""
    return os.path.relpath(Path(path).resolve(), NOTEBOOKS)


def _same(name: str, a: Any, b: Any) -> bool:
    if name in ("results_dir", "data_root") and isinstance(a, str) and isinstance(b, str):
        return os.path.normpath(a) == os.path.normpath(b)
    return type(a) is type(b) and a == b


def _machine_paths() -> list[tuple[re.Pattern, str]]:
    """(pattern, replacement) pairs that turn this checkout's absolute path into ``.``."""
    roots = sorted({str(ROOT), os.path.realpath(ROOT)}, key=len, reverse=True)
    return [(re.compile(re.escape(r) + r"(?![\w-]|\.[\w-])"), ".") for r in roots]


def _scrub(value: Any, pairs: list[tuple[re.Pattern, str]]) -> Any:
    if isinstance(value, str):
        for pattern, new in pairs:
            value = pattern.sub(new, value)
        return value
    if isinstance(value, list):
        return [_scrub(v, pairs) for v in value]
    if isinstance(value, dict):
        return type(value)((k, _scrub(v, pairs)) for k, v in value.items())
    return value


def postprocess(path: Path) -> None:
    """Hide the parameter cells in the book and remove this machine's paths from outputs."""
    import nbformat

    nb = read_ipynb(path)
    pairs = _machine_paths()
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        if any(t in tags for t in HIDDEN_TAGS) and "remove-input" not in tags:
            cell.metadata["tags"] = tags + ["remove-input"]
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(_scrub(dict(o), pairs)) for o in cell.outputs]
    pm = nb.metadata.get("papermill")
    if pm is not None:
        pm.pop("environment_variables", None)
        for key in ("input_path", "output_path"):
            if isinstance(pm.get(key), str):
                pm[key] = _rel(pm[key], ROOT) if os.path.isabs(pm[key]) else pm[key]
        nb.metadata["papermill"] = _scrub(pm, pairs)
    nbformat.write(nb, str(path))


# --------------------------------------------------------------------------------------------
# execute
# --------------------------------------------------------------------------------------------

def cmd_execute(args: argparse.Namespace) -> int:
    import papermill

    out = Path(args.out)
    if (out / "notebooks").resolve() == NOTEBOOKS:
        raise BookError("execute: --out must not be the repository: the executed notebooks "
                        "would replace the committed ones (use update-notebooks for that)")
    wanted = {
        "profile": args.profile,
        "results_dir": _from_notebooks(args.results) if args.results else PARAMETERS["results_dir"],
        "data_root": _from_notebooks(args.data) if args.data else None,
        "force": bool(args.force),
    }
    # The kernel must be this environment's Python, not some user-wide "python3" kernel.
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # A font cache of its own: a stale user-wide one makes matplotlib print findfont lines
    # to stderr, which would land in the notebooks' outputs.
    os.environ.setdefault("MPLCONFIGDIR", str((out / ".matplotlib").resolve()))

    names = toc_notebooks()
    if not names:
        print("execute: _toc.yml lists no notebooks; nothing to do")
        return 0
    failures: list[tuple[str, str]] = []
    for name in names:
        src = NOTEBOOKS / f"{name}.ipynb"
        dst = out / "notebooks" / f"{name}.ipynb"
        problem = sync_problem(name)
        if problem:
            failures.append((name, problem))
            print(f"execute: {name}: FAILED: {problem}", file=sys.stderr)
            continue
        defaults = parameter_defaults(read_ipynb(src))
        params = {k: v for k, v in wanted.items()
                  if not _same(k, defaults.get(k, PARAMETERS[k]), v)}
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "defaults"
        print(f"execute: {name} ({shown}) ...", flush=True)
        dst.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        try:
            papermill.execute_notebook(
                str(src), str(dst), parameters=params, cwd=str(NOTEBOOKS),
                progress_bar=False, log_output=args.log_output, request_save_on_cell_execute=True)
        except papermill.PapermillExecutionError as exc:
            failures.append((name, f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"))
        except Exception as exc:  # kernel died, notebook unreadable, ...
            failures.append((name, f"{type(exc).__name__}: {exc}"))
        if dst.is_file():
            postprocess(dst)
        status = "FAILED" if failures and failures[-1][0] == name else "ok"
        print(f"execute: {name}: {status} ({time.monotonic() - start:.1f} s) -> {_rel(dst)}",
              flush=True)
    if failures:
        print("\nexecute: these notebooks failed:", file=sys.stderr)
        for name, why in failures:
            print(f"  notebooks/{name}.ipynb: {why}", file=sys.stderr)
        return 1
    print(f"execute: {len(names)} notebook(s) executed into {_rel(out / 'notebooks')}")
    return 0


# --------------------------------------------------------------------------------------------
# stage
# --------------------------------------------------------------------------------------------

_STAGE_IGNORE = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")


def cmd_stage(args: argparse.Namespace) -> int:
    executed, site = Path(args.executed), Path(args.out)
    r = site.resolve()
    if (ROOT.is_relative_to(r) or r == ROOT / "_build" or executed.resolve().is_relative_to(r)
            or (r.is_relative_to(ROOT) and not r.is_relative_to(ROOT / "_build"))):
        raise BookError(f"stage: refusing to stage into {site}: the site folder is wiped "
                        "first, so it must be a folder of its own under _build/ or outside "
                        "the repository, not holding the executed notebooks")
    missing = [f"{_rel(executed / 'notebooks' / (n + '.ipynb'))}" for n in toc_notebooks()
               if not (executed / "notebooks" / f"{n}.ipynb").is_file()]
    if missing:
        raise BookError("stage: executed notebooks missing: " + ", ".join(missing))
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, site / name)
    shutil.copytree(ROOT / "book", site / "book", ignore=_STAGE_IGNORE)
    # Files next to the notebooks that pages may include (images, data); not their sources.
    for path in sorted(NOTEBOOKS.rglob("*")):
        rel = path.relative_to(NOTEBOOKS)
        if (path.is_file() and path.suffix not in (".py", ".ipynb") and rel.name != "README.md"
                and not any(p in ("__pycache__", ".ipynb_checkpoints") for p in rel.parts)):
            (site / "notebooks" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, site / "notebooks" / rel)
    (site / "notebooks").mkdir(exist_ok=True)
    for name in toc_notebooks():
        shutil.copy2(executed / "notebooks" / f"{name}.ipynb", site / "notebooks" / f"{name}.ipynb")
    print(f"stage: book sources and {len(toc_notebooks())} notebook(s) from "
          f"{_rel(executed)} staged in {_rel(site)}")
    return 0


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------

_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE)\b|build finished with problems")


def cmd_build(args: argparse.Namespace) -> int:
    site = Path(args.site)
    if not (site / "_config.yml").is_file():
        raise BookError(f"build: {site} holds no _config.yml; run `tools/book.py stage` first")
    # A full rebuild every time: an incremental Sphinx build does not repeat the warnings of
    # pages it skips, which would turn a broken book green.
    shutil.rmtree(site / "_build", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(site),
           "-W", "-n", "--keep-going", "--all"]
    print("build: " + " ".join(cmd[1:]), flush=True)
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = proc.stdout
    html = site / "_build" / "html"
    html.parent.mkdir(parents=True, exist_ok=True)
    (site / "_build" / "build.log").write_text(log, encoding="utf-8")
    if args.verbose:
        print(log)
    problems = [line for line in log.splitlines() if _PROBLEM.search(line)]
    reports = sorted(p for p in (html / "reports").rglob("*") if p.is_file()) \
        if (html / "reports").is_dir() else []
    failed = proc.returncode != 0 or problems or reports or not (html / "index.html").is_file()
    if failed:
        if not args.verbose:
            print("\n".join(log.splitlines()[-60:]))
        print(f"\nbuild: FAILED (exit code {proc.returncode}, {len(problems)} warning/error "
              f"line(s), {len(reports)} execution report(s)); full log: "
              f"{_rel(site / '_build' / 'build.log')}", file=sys.stderr)
        for line in problems[:40]:
            print("  " + line, file=sys.stderr)
        for report in reports:
            print(f"  report: {_rel(report)}", file=sys.stderr)
        return 1
    print(f"build: ok ({time.monotonic() - start:.1f} s, no warnings)")
    print(f"build: HTML at {_rel(html / 'index.html')}")
    return 0


# --------------------------------------------------------------------------------------------
# check-html
# --------------------------------------------------------------------------------------------

def cmd_check_html(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from check_html import check_html

    require = os.environ.get("SREWIRE_REQUIRE_BROWSER", "") not in ("", "0")
    return check_html(Path(args.html), require_browser=require)


# --------------------------------------------------------------------------------------------
# update-notebooks
# --------------------------------------------------------------------------------------------

def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cmd_update_notebooks(args: argparse.Namespace) -> int:
    import jupytext
    import nbformat

    executed = Path(args.executed)
    names = toc_notebooks()
    plans = []
    problems = []
    for name in names:
        src = executed / "notebooks" / f"{name}.ipynb"
        py = NOTEBOOKS / f"{name}.py"
        if not src.is_file():
            problems.append(f"{_rel(src)} is missing")
            continue
        run = read_ipynb(src)
        params = (run.metadata.get("papermill") or {}).get("parameters") or {}
        injected = any("injected-parameters" in c.metadata.get("tags", []) for c in run.cells)
        if params or injected:
            problems.append(f"{_rel(src)} was executed with non-default parameters {params}; "
                            "committed notebooks hold default-profile outputs only")
            continue
        errors = [i + 1 for i, c in enumerate(run.cells) if c.cell_type == "code"
                  and any(o.get("output_type") == "error" for o in c.outputs)
                  and "raises-exception" not in c.metadata.get("tags", [])]
        if errors:
            problems.append(f"{_rel(src)} has errors in cell(s) {errors}")
            continue
        if not py.is_file():
            problems.append(f"{_rel(py)} is missing")
            continue
        text = read_py(py)
        if cell_sources(text) != cell_sources(run):
            problems.append(f"{_rel(src)} was executed from other sources than {_rel(py)} "
                            "(edited since?); execute again")
            continue
        plans.append((name, py, text, run))
    if problems:
        print("update-notebooks: nothing written:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1

    pairs = _machine_paths()
    for name, py, text, run in plans:
        before = _digest(py)
        # Inputs and cell metadata come from the .py (as `jupytext --sync` would write them),
        # outputs and cell ids from the executed notebook (its ids are the committed ones, so
        # a notebook whose outputs did not change is written back unchanged).
        new = text
        for cell, done in zip(new.cells, run.cells):
            if "id" in done:
                cell.id = done.id
            if cell.cell_type == "code":
                cell.outputs = [nbformat.from_dict(_scrub(dict(o), pairs)) for o in done.outputs]
                cell.execution_count = done.get("execution_count")
        if "language_info" in run.metadata:
            new.metadata["language_info"] = run.metadata["language_info"]
        target = NOTEBOOKS / f"{name}.ipynb"
        jupytext.write(new, str(target), fmt="ipynb")
        problem = sync_problem(name)
        if _digest(py) != before:
            raise BookError(f"update-notebooks: {_rel(py)} changed while writing; restore it")
        if problem:
            raise BookError(f"update-notebooks: {problem}")
        print(f"update-notebooks: {_rel(target)} updated (in sync with {_rel(py)})")
    return 0


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/book.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    e = sub.add_parser("execute", help="run every notebook of _toc.yml under papermill")
    e.add_argument("--profile", choices=PROFILES, default="quick")
    e.add_argument("--out", required=True, help="folder for the executed notebooks "
                   "(written to OUT/notebooks/)")
    e.add_argument("--results", default=None, help="results folder (default: results/)")
    e.add_argument("--data", default=None, help="folder holding cifar-10-batches-py "
                   "(default: the notebooks' own, i.e. $SREWIRE_DATA)")
    e.add_argument("--force", action="store_true", help="pass force=True to the notebooks")
    e.add_argument("--log-output", action="store_true", help="stream cell outputs")
    e.set_defaults(func=cmd_execute)

    s = sub.add_parser("stage", help="assemble a buildable book from executed notebooks")
    s.add_argument("--executed", required=True, help="folder with notebooks/*.ipynb "
                   "(an `execute --out` folder, or `.` for the committed notebooks)")
    s.add_argument("--out", required=True, help="the site folder to (re)create")
    s.set_defaults(func=cmd_stage)

    b = sub.add_parser("build", help="jupyter-book build with warnings as errors")
    b.add_argument("--site", required=True)
    b.add_argument("--verbose", action="store_true", help="print the whole build log")
    b.set_defaults(func=cmd_build)

    c = sub.add_parser("check-html", help="open every page in headless Chromium and check "
                       "images, internal links, the layout at 1280 px and on a 390 px phone, "
                       "and that no stderr, traceback, NaN or warning is shown")
    c.add_argument("--html", required=True, help="the built HTML folder")
    c.set_defaults(func=cmd_check_html)

    u = sub.add_parser("update-notebooks", help="copy default-profile outputs back onto "
                       "notebooks/*.ipynb")
    u.add_argument("--executed", required=True)
    u.set_defaults(func=cmd_update_notebooks)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BookError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
