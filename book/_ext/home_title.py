"""Sphinx extension for the srewire book: the landing page's browser title without repetition.

Sphinx titles every page "<page title> — <book title>". The landing page's own title is the
book's title, so its tab would read the title twice. On that page only, this drops the
suffix and hands the sidebar's brand the book title explicitly (the brand otherwise reads
the same variable the suffix does).
"""

from __future__ import annotations

import html
import re


def _plain(text: str | None) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text or "")).strip()


def single_title(app, pagename, templatename, context, doctree) -> None:
    book = context.get("docstitle")
    if pagename != app.config.root_doc or not book or _plain(context.get("title")) != _plain(book):
        return
    logo = dict(context.get("theme_logo") or {})
    logo.setdefault("text", book)
    context["theme_logo"] = logo
    context["docstitle"] = ""


def setup(app):
    app.connect("html-page-context", single_title)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
