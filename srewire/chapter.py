"""What every results chapter of the book opens with, in one call (Thesis §4).

A chapter that shows the thesis grid reads the chosen profile's runs, reads the runs of the
larger profiles beside them (long and paper, as far as they exist) and tells the reader, in
two sentences that the prose places under "Scale", how far these runs are from the thesis's
scale and how much of the larger grids exists. :func:`grid` does all three::

    results, larger = chapter.grid(profile, results_dir, seeds, data_root=data_root,
                                   force=force)

after which the prose's glued names ``scale_note`` and ``paper_status`` are set.
"""

from __future__ import annotations

import os
from typing import Iterable, NamedTuple

from .report import companions, glue_all, load_grid, scale_note, status_note

__all__ = ["Grid", "grid", "scale_values"]


class Grid(NamedTuple):
    """The runs a chapter shows: the chosen profile's grid and, beside it, the runs of the
    larger profiles (empty for smoke)."""

    results: list[dict]
    larger: list[dict]

    @property
    def everything(self) -> list[dict]:
        """``results + larger``: every run the chapter's tables show."""
        return self.results + self.larger


def scale_values(runs: list[dict]) -> dict[str, str]:
    """The two sentences of a chapter's "Scale" paragraph, by the names its prose glues:
    ``scale_note`` (steps and images against the thesis's, per profile;
    :func:`srewire.report.scale_note`) and ``paper_status`` (how much of the long and paper
    grids exists; ``srewire.report.status_note``)."""
    return {"scale_note": scale_note(runs), "paper_status": status_note(runs)}


def grid(profile: str, results_dir: str | os.PathLike = "results",
         seeds: Iterable[int] | None = None, *, data_root: str | None = None,
         force: bool = False) -> Grid:
    """The runs of a results chapter, with its "Scale" sentences glued.

    ``profile``, ``seeds`` (None: the profile's default seeds) and ``data_root`` are the
    notebook's parameters, passed on to :func:`srewire.report.load_grid`; ``force`` recomputes
    the grid (``compute=force``: missing runs are trained only when asked). The larger
    profiles are read as they stand (``srewire.report.companions``), never trained.
    """
    results = load_grid(profile, results_dir, seeds, data_root=data_root, compute=force)
    out = Grid(results, companions(profile, results_dir))
    glue_all(scale_values(out.everything))
    return out
