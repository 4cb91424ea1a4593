"""The notebooks narrate and call: no two of them share a block of six or more lines.

What a page computes lives in srewire, where it is tested; a block that two notebooks both
write out is logic that belongs there. This test reads every ``notebooks/NN_name.py`` as
jupytext's cells and fails when two notebooks share six or more consecutive lines within a
cell, code or prose. How lines compare:

* white space is folded (runs of blanks become one, ends stripped) and blank lines are
  passed over; comments count, so a shared paragraph of prose counts too;
* the jupytext header and the ``# %%`` cell markers are not content, and a block does not
  run across a cell boundary: a cell is the unit a page is made of. The papermill
  ``parameters`` cell, a flat list of assignments that pages with the same parameters share
  by design, stays shorter than six lines wherever it is shared, so it is checked like any
  other cell;
* the Colab setup cell is left out: it runs before srewire can be imported, so it cannot be
  a call into srewire, and every copy is written from ``srewire.colab.setup_cell()``
  (``tools/colab_cell.py``) and held to it by ``tests/test_book_config.py``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import jupytext

from helpers import notebook_with_colab_cell
from srewire.colab import REPO_URL, setup_cell

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 6


def normalise(source: str) -> list[str]:
    """The non-blank lines of a cell's source, white space folded."""
    lines = (" ".join(line.split()) for line in source.splitlines())
    return [line for line in lines if line]


def cells(path: Path) -> list[list[str]]:
    """The cells of a py:percent notebook as :func:`normalise` makes them, the Colab setup
    cell left out."""
    nb = jupytext.read(path, fmt="py:percent")
    return [normalise(cell.source) for cell in nb.cells
            if not (cell.cell_type == "code" and cell.source == setup_cell(REPO_URL))]


def blocks(cell_lists: list[list[str]], size: int = BLOCK) -> dict[tuple[str, ...], int]:
    """Every run of ``size`` consecutive lines within one cell, with the index of its cell."""
    return {tuple(lines[i:i + size]): n for n, lines in enumerate(cell_lists)
            for i in range(len(lines) - size + 1)}


def shared_blocks(notebooks: dict[str, list[list[str]]], size: int = BLOCK
                  ) -> dict[tuple[str, ...], list[str]]:
    """The runs of ``size`` lines that stand in more than one notebook, with their names."""
    where: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, cell_lists in notebooks.items():
        for block in blocks(cell_lists, size):
            where[block].append(name)
    return {block: names for block, names in where.items() if len(names) > 1}


def test_the_rule_finds_a_shared_block_and_only_that():
    """Oracles: six shared lines are found whatever their indentation; five are not; a run
    split over two cells is not one block; the Colab setup cell is passed over."""
    six = [f"x{i} = f({i})" for i in range(6)]
    a = {"a": [normalise("print(1)\n" + "\n".join(six))],
         "b": [normalise("\n\n".join("  " + line.replace(" ", "   ") for line in six))]}
    assert list(shared_blocks(a).values()) == [["a", "b"]]
    assert shared_blocks({"a": [six[:5]], "b": [six[:5]]}) == {}
    assert shared_blocks({"a": [six], "b": [six[:3], six[3:]]}) == {}


def test_the_colab_cell_is_left_out(tmp_path):
    path = notebook_with_colab_cell(tmp_path / "page.py", ["print(1)"])
    assert cells(path) == [["A page"], ["print(1)"]]


def test_no_two_notebooks_share_a_block_of_six_lines():
    notebooks = {p.name: cells(p) for p in sorted((ROOT / "notebooks").glob("[0-9]*.py"))}
    assert len(notebooks) >= 10
    shared = shared_blocks(notebooks)
    report = "\n\n".join(f"{', '.join(names)}:\n    " + "\n    ".join(block)
                         for block, names in sorted(shared.items(), key=lambda kv: kv[1]))
    assert not shared, (f"{len(shared)} block(s) of {BLOCK} lines stand in more than one "
                        f"notebook; move what they do into srewire and call it:\n{report}")

