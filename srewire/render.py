"""HTML rendering of the book's tables: every cell shown, headers readable, nothing cut.

pandas' own notebook display truncates long cells and wide frames, and its headers are the
frames' column names. :func:`show` renders a frame as one plain ``<table>`` that the book's
stylesheet (``book/_static/srewire.css``) lets wrap inside the content column; a plain-text
version of the same table is attached for consoles and Colab.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import pandas as pd

__all__ = ["Table", "show", "note", "readable", "HEADERS", "MISSING"]

# Column names of result files and reports, as a reader would write them.
HEADERS: dict[str, str] = {
    "n_train": "training images", "n_test": "test images", "batch_size": "batch size",
    "train_attack_steps": "TRADES attack steps", "pgd_steps": "PGD steps",
    "pgd_restarts": "PGD restarts", "n_robust": "attacked test images",
    "masks_identical": "masks identical", "mask_agreement": "mask agreement",
    "steps_with_same_revival_counts": "steps with equal revivals",
    "max_train_loss_diff": "largest training-loss difference",
    "clean_cpu": "clean (CPU)", "clean_gpu": "clean (GPU)",
    "robust_cpu": "robust (CPU)", "robust_gpu": "robust (GPU)",
    "step_ms": "step (ms)", "x masked": "× masked", "tf32": "TF32",
}


def readable(frame: pd.DataFrame, headers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``frame`` with readable column and index names: known names from ``HEADERS``
    (or ``headers``), any other ``snake_case`` name with its underscores turned into spaces."""
    names = {**HEADERS, **(headers or {})}

    def fix(name: Any) -> Any:
        if isinstance(name, tuple):
            return tuple(fix(n) for n in name)
        if not isinstance(name, str):
            return name
        return names.get(name, name.replace("_", " "))

    out = frame.copy()
    out.columns = pd.Index([fix(c) for c in out.columns], name=fix(out.columns.name))
    if isinstance(out.index, pd.MultiIndex):
        out.index = out.index.set_names([fix(n) for n in out.index.names])
    else:
        out.index = out.index.rename(fix(out.index.name))
    return out


class Table:
    """A frame with a caption, displayed as HTML in notebooks (``_repr_html_``) and as
    text elsewhere (``repr``). Row labels of a two-level index are grouped: the outer label
    is written once, spanning its rows."""

    def __init__(self, frame: pd.DataFrame, caption: str = "", *, index: bool = True,
                 wide: tuple[str, ...] = ()) -> None:
        self.frame, self.caption, self.index, self.wide = frame, caption, index, wide

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None,
                               "display.width", 10_000):
            text = self.frame.to_string(index=self.index, na_rep=MISSING)
        return f"{self.caption}\n{text}" if self.caption else text

    def _repr_html_(self) -> str:
        f = self.frame
        levels = f.index.nlevels if self.index else 0
        names = [n if n is not None else "" for n in f.index.names] if self.index else []
        out = ['<table class="srewire-table">']
        if self.caption:
            out.append(f"<caption>{_cell(self.caption)}</caption>")
        out.append(f"<thead>{self._head(names)}</thead><tbody>")
        keys = list(f.index) if self.index else [None] * len(f)
        contiguous = levels > 1 and _contiguous([k[0] for k in keys])
        for i, (key, row) in enumerate(zip(keys, f.itertuples(index=False))):
            key = key if isinstance(key, tuple) else (key,)
            cells = []
            if levels > 1:  # outer label once per group of neighbouring rows
                if not contiguous or i == 0 or keys[i - 1][0] != key[0]:
                    span = sum(1 for k in keys if k[0] == key[0]) if contiguous else 1
                    cells.append(f'<th scope="rowgroup" rowspan="{span}">{_cell(key[0])}</th>')
                cells += [f'<th scope="row">{_cell(k)}</th>' for k in key[1:]]
            elif levels == 1:
                cells.append(f'<th scope="row">{_cell(key[0])}</th>')
            cells += [f"<td{self._cls(c)}>{_cell(v)}</td>" for c, v in zip(f.columns, row)]
            out.append(f"<tr>{''.join(cells)}</tr>")
        out.append("</tbody></table>")
        return "\n".join(out)

    def _head(self, names: list) -> str:
        """Header rows; a two-level column index gets a first row of spanning labels."""
        cols = list(self.frame.columns)
        corner = "".join(f'<th scope="col">{_cell(n)}</th>' for n in names)
        if self.frame.columns.nlevels == 1:
            cells = "".join(f'<th scope="col"{self._cls(c)}>{_cell(c)}</th>' for c in cols)
            return f"<tr>{corner}{cells}</tr>"
        top, i = [], 0
        while i < len(cols):
            j = i
            while j < len(cols) and cols[j][0] == cols[i][0]:
                j += 1
            top.append(f'<th scope="colgroup" colspan="{j - i}">{_cell(cols[i][0])}</th>')
            i = j
        blank = "".join("<th></th>" for _ in names)
        low = "".join(f'<th scope="col">{_cell(" ".join(map(str, c[1:])))}</th>' for c in cols)
        return f"<tr>{blank}{''.join(top)}</tr><tr>{corner}{low}</tr>"

    def _cls(self, column: Any) -> str:
        return ' class="wide"' if column in self.wide else ""


def _contiguous(labels: list) -> bool:
    """Equal labels follow each other, so one rowspan per label covers its rows."""
    starts = [lab for i, lab in enumerate(labels) if i == 0 or labels[i - 1] != lab]
    return len(starts) == len(set(starts))


#: What a table shows for a missing value (None or NaN: not measured, or not applicable).
MISSING = "—"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    # a value and its spread, or a number and its unit, never break apart
    text = str(value).replace(" ± ", "\u00a0±\u00a0").replace(" %", "\u00a0%")
    return html.escape(text).replace("\n", "<br>")


def show(frame: pd.DataFrame, caption: str | None = None, *, index: bool = True,
         wide: tuple[str, ...] = ()) -> Table:
    """The frame as a :class:`Table`: every cell whole, the caption from ``caption`` or from
    ``frame.attrs["caption"]`` (set by :func:`srewire.report.table1` and its siblings);
    columns named in ``wide`` get the room of long text (evidence, descriptions)."""
    return Table(frame, caption if caption is not None else frame.attrs.get("caption", ""),
                 index=index, wide=wide)


def note(text: str) -> None:
    """Display ``text`` as Markdown where it is not empty: a sentence that a page shows only
    in some cases (:func:`srewire.plots.per_layer_note`) and that is otherwise left out."""
    if text:
        from IPython.display import Markdown, display

        display(Markdown(text))
