"""The browser check of the built book (tools/check_html.py) on small made-up pages.

What a page says (stderr, tracebacks, NaN, warnings) is read from its HTML without a browser;
whether a page is wider than a phone needs Chromium to lay it out.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import check_html  # noqa: E402


def _page(body: str) -> str:
    """A page shaped like the book's: viewport meta tag, an article as the content column."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>t</title><style>p { margin: 0 }</style></head><body>"
            "<main><article class='bd-article' style='max-width: 600px; padding: 0 20px'>"
            f"{body}</article></main></body></html>")


def _output(inner: str) -> str:
    """A notebook cell's output as myst-nb renders it."""
    return f"<div class='cell_output docutils container'>{inner}</div>"


def _table(*cells: str) -> str:
    return ("<table class='srewire-table'><thead><tr><th>run</th><th>accuracy</th></tr></thead>"
            "<tbody>" + "".join(f"<tr><th>r{i}</th><td>{c}</td></tr>" for i, c in enumerate(cells))
            + "</tbody></table>")


CLEAN = _page(
    "<h1>Results</h1><p>A NaN loss stops training; <code>ApproximateWeightsWarning</code> is a "
    "UserWarning subclass (prose may name both).</p>"
    "<div class='admonition warning'><p class='admonition-title'>Warning</p><p>Slow.</p></div>"
    "<div class='cell_input'><pre>warnings.simplefilter('ignore')  # not NaN</pre></div>"
    + _output("<div class='output text_html'>" + _table("81.2", "—", "nanoseconds: 3") + "</div>")
    + "<p>Clean accuracy <span class='pasted-text'>81.2 %</span>.</p>")


def test_clean_page_has_no_text_problems():
    assert check_html.text_problems(CLEAN) == []


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan", "81.2 ± nan"])
def test_nan_in_a_generated_table_is_found(value):
    page = _page(_output("<div class='output text_html'>" + _table("81.2", value) + "</div>"))
    problems = check_html.text_problems(page)
    assert len(problems) == 1 and problems[0].startswith("NaN in generated text: ")
    assert value in problems[0]


def test_nan_in_pasted_text_is_found_but_not_in_the_prose_around_it():
    problems = check_html.text_problems(_page(
        "<p>A NaN loss stops training; here it reached <span class='pasted-text'>nan</span>.</p>"))
    assert len(problems) == 1 and problems[0].startswith("NaN in generated text: ")
    assert problems[0].endswith("stops training; here it reached nan.")  # with its context


def test_stderr_output_is_found_with_its_text():
    page = _page(_output(
        "<div class='output stream highlight-myst-ansi notranslate'><pre>epoch 1</pre></div>"
        "<div class='output stderr highlight-myst-ansi notranslate'><div class='highlight'>"
        "<pre><span></span>100%|#####| 10/10 [00:01&lt;00:00]\n</pre></div></div>"))
    assert check_html.text_problems(page) == ["stderr output: 100%|#####| 10/10 [00:01<00:00]"]


def test_traceback_output_is_found_by_its_last_line():
    page = _page(_output(
        "<div class='output traceback highlight-ipythontb notranslate'><div class='highlight'>"
        "<pre>------\nValueError                 Traceback (most recent call last)\n"
        "Cell In[3], line 1\n----&gt; 1 load()\n\nValueError: no result.json in results/quick"
        "</pre></div></div>"))
    assert check_html.text_problems(page) == [
        "traceback output: ValueError: no result.json in results/quick"]


def test_traceback_printed_as_text_is_found_anywhere():
    page = _page(_output("<div class='output stream'><pre>Traceback (most recent call last):\n"
                         "  File \"x.py\", line 1\nKeyError: 'clean'</pre></div>"))
    problems = check_html.text_problems(page)
    assert [p.split(":")[0] for p in problems] == ["traceback in the text"]
    assert "Traceback (most recent call last)" in problems[0]


@pytest.mark.parametrize("text", [
    "/srewire/runs.py:651: UserWarning: approximate weights",
    "FutureWarning: the default will change",
    "Warning: only 2 seeds",
    "raised DeprecationWarning",
    "WARNING root: cache miss",
])
def test_warnings_in_outputs_are_found(text):
    page = _page(_output(f"<div class='output stream'><pre>{text}</pre></div>"))
    problems = check_html.text_problems(page)
    assert len(problems) == 1 and problems[0].startswith("warning in generated text: ")


def test_script_and_style_text_is_not_read():
    page = _page(_output("<script>const x = NaN; // Warning: x</script>"
                         "<style>/* Traceback (most recent call last) */</style>"))
    assert check_html.text_problems(page) == []


def _have_browser() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return bool(check_html._find(check_html.CHROMIUM_CANDIDATES, check_html.SYSTEM_CHROMIUM)
                and check_html._find(check_html.DRIVER_CANDIDATES, check_html.SYSTEM_DRIVER))


@pytest.mark.skipif(not _have_browser(), reason="chromium, chromium-driver or selenium is not "
                    "installed (CI installs them): a page's width on a phone is only known once "
                    "a browser lays it out")
def test_browser_check_fails_pages_wider_than_a_phone_or_tablet_small_figures_and_nan(tmp_path, capsys):
    cells = "".join(f"<td>cell_{i:03d}_without_breaks</td>" for i in range(3))
    table = f"<table style='min-width: 500px'><tr>{cells}</tr></table>"
    site = tmp_path / "html"
    site.mkdir()
    # too wide: a 500 px table fits the 600 px column but not a 390 px phone
    (site / "wide.html").write_text(_page(table))
    # too wide: one unbroken word overflows its paragraph (the paragraph's box fits)
    (site / "word.html").write_text(_page("<p>" + "x" * 80 + "</p>"))
    # fine: the same table scrolls inside its own box
    (site / "scrolls.html").write_text(_page(f"<div style='overflow-x: auto'>{table}</div>"))
    (site / "nan.html").write_text(_page(_output(_table("81.2", "nan"))))
    # an 800 px figure scaled to the column: fine at 1280 px, too small on a phone
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 2))
    fig.savefig(site / "f.png", dpi=100)
    plt.close(fig)
    (site / "scaled.html").write_text(_page(_output("<img src='f.png' style='max-width: 100%'>")))
    (site / "natural.html").write_text(_page(_output(  # on a phone it scrolls in its box
        "<style>@media (max-width: 640px) { .cell_output { overflow-x: auto } "
        ".cell_output img { max-width: none !important } }</style>"
        "<img src='f.png' style='max-width: 100%'>")))
    (site / "fine.html").write_text(CLEAN)
    # too wide on tablets only: a block that fits the phone and the desktop but is 1,300 px
    # wide between 700 and 1,100 px (where the theme changes its layout)
    (site / "tablet.html").write_text(_page(
        "<style>@media (min-width: 700px) and (max-width: 1100px) { .mid { width: 1300px } }"
        "</style><div class='mid'>middle</div>"))
    assert check_html.check_html(site) == 1
    out = capsys.readouterr().out
    assert "wide.html: wider than a 390 px phone: the page scrolls sideways" in out
    assert "<td> \"cell_002_without_breaks\" reaches" in out
    assert "word.html: wider than a 390 px phone" in out and "<p> \"xxxx" in out
    assert "nan.html: NaN in generated text: " in out
    assert "scaled.html: figure too small on a 390 px phone: <img>" in out
    assert "(natural 800 px), below 600 px" in out
    assert "tablet.html: wider than a 768 px tablet: the page scrolls sideways" in out
    assert "tablet.html: wider than a 1024 px tablet on its side" in out
    assert "tablet.html: wider than a 390 px" not in out
    for fine in ("scrolls.html", "fine.html", "natural.html"):
        assert fine not in out
    assert "1280 px" not in out.split("problem(s) in")[1].split("\n", 1)[1]  # desktop is fine
