"""Sphinx extension for the srewire book: drop duplicated <script> tags.

Sphinx 7.4 (the version Jupyter Book 1 runs on) lists every inline script that an extension
registers after the builder started twice: once as added, and once more when the builder
re-reads the registry with the file name '' instead of None. For sphinx-thebe's inline
configuration (`const THEBE_JS_URL = ...`) the second copy is a JavaScript SyntaxError on
every page. This keeps the first of identical scripts.
"""

from __future__ import annotations


def _key(script) -> tuple:
    name = (script.filename or "") if hasattr(script, "filename") else str(script)
    attributes = getattr(script, "attributes", None) or {}
    return name, tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
