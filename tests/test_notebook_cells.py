"""A notebook's code cell is one call, or a few: no loop and no rule.

The project's rule for the book's pages: a notebook cell is prose, one call, or its output; a
loop or a rule belongs in srewire, where it is tested. This test parses every code cell of
every ``notebooks/NN_name.py`` with :mod:`ast` and fails, naming the notebook, the cell and
the line, where a cell holds

* a loop (``for``, ``while``) or a comprehension or generator expression;
* a rule: an ``if`` statement, a conditional expression (``a if c else b``) or a ``match``;
* a definition (``def``, ``class``) or a ``lambda``.

Left out, and only these: the Colab setup cell (it runs before srewire can be imported, so it
cannot be a call into srewire; ``tests/test_book_config.py`` holds every copy to
``srewire.colab.setup_cell()``), and IPython's magics and shell escapes (lines that start with
``%`` or ``!``), which are not Python.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

from helpers import notebook_with_colab_cell
from srewire.colab import REPO_URL, setup_cell

ROOT = Path(__file__).resolve().parents[1]

#: What a cell may not hold, with the words a failure names it by.
FORBIDDEN: dict[type, str] = {
    ast.For: "for loop", ast.AsyncFor: "for loop", ast.While: "while loop",
    ast.ListComp: "list comprehension", ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension", ast.GeneratorExp: "generator expression",
    ast.If: "if statement", ast.IfExp: "conditional expression", ast.Match: "match statement",
    ast.FunctionDef: "def", ast.AsyncFunctionDef: "def", ast.ClassDef: "class",
    ast.Lambda: "lambda",
}

_MAGIC = re.compile(r"^(\s*)[%!].*$")


def python_source(source: str) -> str:
    """A cell's source with every magic or shell line turned into ``pass`` at its indentation:
    the rest parses as Python and keeps its line numbers."""
    return "\n".join(_MAGIC.sub(r"\1pass", line) for line in source.splitlines())


def offences(source: str) -> list[tuple[int, str]]:
    """(line, what) of every forbidden construct in a cell's source, in line order."""
    found = [(node.lineno, FORBIDDEN[type(node)])
             for node in ast.walk(ast.parse(python_source(source)))
             if type(node) in FORBIDDEN]
    return sorted(found)


def code_cells(path: Path) -> list[tuple[int, str]]:
    """(number, source) of the code cells of a py:percent notebook, counted from 1 over all of
    its cells as jupytext reads them, the Colab setup cell left out."""
    nb = jupytext.read(path, fmt="py:percent")
    return [(n, cell.source) for n, cell in enumerate(nb.cells, start=1)
            if cell.cell_type == "code" and cell.source != setup_cell(REPO_URL)]


def notebook_offences(path: Path) -> list[str]:
    """One line per forbidden construct in the notebook: notebook, cell, line and the line."""
    out = []
    for n, source in code_cells(path):
        lines = source.splitlines()
        for line, what in offences(source):
            out.append(f"{path.name}, cell {n}, line {line}: {what}: {lines[line - 1].strip()}")
    return out


@pytest.mark.parametrize("source, expected", [
    ("x = f(1)\nshow(table(x), 'caption')", []),
    ("for a in b:\n    f(a)", [(1, "for loop")]),
    ("while x:\n    x = f(x)", [(1, "while loop")]),
    ("y = [a for a in b]", [(1, "list comprehension")]),
    ("y = {a for a in b}", [(1, "set comprehension")]),
    ("y = {a: 1 for a in b}", [(1, "dict comprehension")]),
    ("y = ', '.join(str(a) for a in b)", [(1, "generator expression")]),
    ("x = 1\nif x:\n    f()", [(2, "if statement")]),
    ("y = 1 if x else 2", [(1, "conditional expression")]),
    ("def f():\n    return 1", [(1, "def")]),
    ("class A:\n    pass", [(1, "class")]),
    ("f = lambda x: x", [(1, "lambda")]),
    ("for a in b:\n    y = [c for c in a]", [(1, "for loop"), (2, "list comprehension")]),
])
def test_the_rule_names_each_construct_and_its_line(source, expected):
    assert offences(source) == expected


def test_magics_are_passed_over_and_line_numbers_kept():
    assert offences("%matplotlib inline\n!ls\nx = f()") == []
    assert offences("if a:\n    %pip install x\ny = [b for b in c]") == [
        (1, "if statement"), (3, "list comprehension")]


def test_the_colab_cell_is_left_out_and_cells_are_named(tmp_path):
    path = notebook_with_colab_cell(tmp_path / "01_page.py", ["x = f()", "for a in b:\n    g(a)"])
    assert [n for n, _ in code_cells(path)] == [3, 4]
    assert notebook_offences(path) == ["01_page.py, cell 4, line 1: for loop: for a in b:"]


def test_no_notebook_cell_holds_a_loop_or_a_rule():
    notebooks = sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    assert len(notebooks) >= 10
    found = [line for path in notebooks for line in notebook_offences(path)]
    assert not found, (f"{len(found)} loop(s) or rule(s) in notebook cells; move each into a "
                       "tested function of srewire and call it:\n" + "\n".join(found))
