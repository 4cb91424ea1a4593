#!/usr/bin/env python3
"""Check a notebook executed by the Colab simulation of ``scripts/test.sh`` (stage ``colab``).

It passes when the executed notebook

- took the Colab branch of its setup cell, with srewire imported from the copy that cell
  pip-installed (``--site-packages``), not from a checkout;
- worked inside the clone the setup fetched (``--clone``) and left it as fetched: no run was
  trained and nothing was written into the results;
- shows its figures: as many images as the committed notebook (``--committed``), at least one;
- holds no error output.

Exit status 0 when all hold, 1 otherwise (each failure on one line).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import nbformat


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return str(output.get("data", {}).get("text/plain", ""))


def _images(nb) -> int:
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []) if "image/png" in out.get("data", {}))


def problems(executed: Path, committed: Path, site_packages: Path, clone: Path) -> list[str]:
    """What the executed notebook gets wrong (empty when it passes)."""
    nb = nbformat.read(str(executed), as_version=4)
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or "google.colab" not in code[0].source:
        return [f"{executed.name}: the first code cell is not the Colab setup cell"]
    setup = "".join(_text(o) for o in code[0].get("outputs", []))
    installed = (site_packages.resolve() / "srewire").as_posix()
    if f"from {installed}" not in setup:
        found.append(f"setup cell: srewire not imported from the pip-installed copy in "
                     f"{site_packages} (output: {setup.strip()[:300]!r})")
    if f"working directory: {(clone.resolve() / 'notebooks').as_posix()}" not in setup:
        found.append(f"setup cell: the working directory is not {clone}/notebooks")
    errors = [i for i, c in enumerate(code) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    if errors:
        found.append(f"error outputs in code cells {errors}")
    shown, expected = _images(nb), _images(nbformat.read(str(committed), as_version=4))
    if shown == 0 or shown != expected:
        found.append(f"{shown} figure(s) shown, the committed notebook shows {expected}")
    if clone.is_dir():
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                                cwd=clone, capture_output=True, text=True)
        if status.returncode != 0 or status.stdout.strip():
            found.append("the fetched clone changed (a run trained or a file written?): "
                         + (status.stdout.strip() or status.stderr.strip())[:300])
    else:
        found.append(f"no clone in {clone}: the setup cell fetched nothing")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executed", type=Path, required=True)
    parser.add_argument("--committed", type=Path, required=True)
    parser.add_argument("--site-packages", type=Path, required=True)
    parser.add_argument("--clone", type=Path, required=True)
    args = parser.parse_args(argv)
    found = problems(args.executed, args.committed, args.site_packages, args.clone)
    for line in found:
        print(f"colab: {line}", file=sys.stderr)
    if not found:
        shown = _images(nbformat.read(str(args.executed), as_version=4))
        print(f"colab: {args.executed.name} ran alone, as on Colab: srewire installed from the "
              f"repository, results fetched, nothing trained, {shown} figure(s) shown")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
