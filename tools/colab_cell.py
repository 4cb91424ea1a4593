#!/usr/bin/env python3
"""Write the Colab setup cell of every notebook from ``srewire.colab.setup_cell()``.

Run after changing ``srewire.colab.REPO_URL`` (and ``repository.url`` in ``_config.yml``),
or the cell's text::

    .venv/bin/python tools/colab_cell.py           # rewrite notebooks/*.py where they differ
    .venv/bin/python tools/colab_cell.py --check   # only report; exit 1 if any differs

It edits the jupytext sources ``notebooks/NN_name.py`` only (the cell's body, not its tags);
``jupytext --sync`` then carries the change into the ``.ipynb``. The setup cell is the first
code cell that mentions ``google.colab``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from srewire.colab import setup_cell  # noqa: E402

_CELL = re.compile(r"^# %%.*$", re.MULTILINE)


def as_percent(source: str) -> str:
    """A cell source as jupytext's py:percent writes it: magics commented out."""
    return "\n".join(re.sub(r"^(\s*)%", r"\1# %", line) for line in source.splitlines())


def rewrite(text: str, body: str) -> str | None:
    """``text`` (a py:percent file) with the setup cell's body replaced by ``body``, or None
    when the file has no setup cell."""
    starts = [m for m in _CELL.finditer(text)]
    for i, marker in enumerate(starts):
        if "[markdown]" in marker.group(0):
            continue
        begin = marker.end() + 1
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        if "google.colab" not in text[begin:end]:
            continue
        tail = "\n\n" if i + 1 < len(starts) else "\n"
        return text[:begin] + body + tail + text[end:]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report only, write nothing")
    args = parser.parse_args(argv)
    body = as_percent(setup_cell())
    stale, missing = [], []
    for py in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        text = py.read_text(encoding="utf-8")
        new = rewrite(text, body)
        if new is None:
            missing.append(py.relative_to(ROOT))
        elif new != text:
            stale.append(py.relative_to(ROOT))
            if not args.check:
                py.write_text(new, encoding="utf-8")
    for path in missing:
        print(f"colab_cell: {path} has no Colab setup cell", file=sys.stderr)
    verb = "differs" if args.check else "rewritten"
    for path in stale:
        print(f"colab_cell: {path}: setup cell {verb}")
    if not stale and not missing:
        print("colab_cell: every setup cell is up to date")
    return 1 if missing or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
