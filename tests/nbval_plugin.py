"""pytest plugin for the nbval run over the committed notebooks (scripts/test.sh loads it with
``-p nbval_plugin``; tests/ is on PYTHONPATH there).

nbval compares every output of a re-executed notebook with the committed one. Two kinds of
output are not meant to be stable and are left out of the comparison for .ipynb files:
stderr (warnings, progress bars) and widget output (tqdm.notebook and the like). Images are
already skipped by nbval itself; figures saved as SVG and glued figures are skipped here too.
"""

SKIP = (
    "stderr",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
    "image/svg+xml",
    # figures glued for the book's {glue:figure} (srewire.report.glue): images as well, and
    # base64 text far too long for the sanitizing regular expressions
    "application/papermill.record/image/png",
)


def pytest_collectstart(collector):
    path = getattr(collector, "path", None)
    if path is not None and str(path).endswith(".ipynb") and hasattr(collector, "skip_compare"):
        collector.skip_compare = tuple(collector.skip_compare) + SKIP
