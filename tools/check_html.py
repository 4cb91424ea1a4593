"""Browser check of a built book: open every page in headless Chromium and check it.

Used by ``tools/book.py check-html --html DIR``. The HTML is served by a local
``http.server`` on 127.0.0.1; the system's Chromium (Debian packages ``chromium`` and
``chromium-driver``) is driven through selenium. For every page:

* the page is served with HTTP 200 and raises no JavaScript error;
* every ``<img>`` from this site has loaded (``complete`` and ``naturalWidth > 0``);
* every internal link (``<a href>``, ``<link href>``, ``<script src>`` on the same host)
  answers HTTP 200, and every ``#fragment`` names an element id on the target page;
* at a window width of 1280 px, with every collapsed block opened: no table, figure, code
  block or cell output is wider than the content column or scrolls sideways
  (``scrollWidth > clientWidth`` of the element or of the box holding it), and every figure
  image is drawn at least ``MIN_FIGURE_PX`` wide (smaller, its details cannot be read);
* on a phone (``PHONE_WIDTH`` = 390 px) and on a tablet upright (768 px) and on its side
  (1024 px), all emulated (``SCREENS``): the page itself does not scroll sideways (a wide
  table or figure may scroll inside its own box), and every figure image is drawn at least
  ``min(natural width, PHONE_MIN_FIGURE_PX)`` wide;
* the page shows no notebook stderr output, no traceback, and no ``NaN`` or warning in what
  the notebooks and ``srewire`` generated (cell outputs, pasted text): :func:`text_problems`,
  which reads the page's HTML and needs no browser.

Links and resources on other hosts (Colab, GitHub, CDNs) are never fetched: the browser's
host resolver maps every other host to "not found".
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
DRIVER_CANDIDATES = ("chromedriver",)
SYSTEM_CHROMIUM, SYSTEM_DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _find(candidates: tuple[str, ...], fallback: str) -> str | None:
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return fallback if os.access(fallback, os.X_OK) else None


def _banner(lines: list[str]) -> str:
    width = max(len(line) for line in lines) + 4
    bar = "!" * width
    body = "\n".join(f"! {line.ljust(width - 4)} !" for line in lines)
    return f"\n{bar}\n{bar}\n{body}\n{bar}\n{bar}\n"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log on stderr
        pass


class _IdParser(html.parser.HTMLParser):
    """Collect id= and <a name=> values of a static HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)


# -- what the page says (no browser) --------------------------------------------------------

# Tags that do not start a new word: text on either side of them is one run of text.
_INLINE = frozenset("a abbr b bdi bdo cite code data dfn em i kbd mark q s samp small span "
                    "strong sub sup time u var wbr".split())
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_HIDDEN = frozenset("script style head template noscript title".split())
# Elements whose text is generated (by a notebook's code or by srewire), not written by hand.
_GENERATED_CLASSES = frozenset({"cell_output", "pasted-text", "pasted-inline", "output"})

_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
_NAN = re.compile(r"(?<![\w.])[-+]?(?:NaN|nan)(?![\w])")
_WARNING = re.compile(r"\b\w*Warning:|\b[A-Z]\w*Warning\b|\bWARNING\b")
_SNIPPET = 40  # characters shown either side of a finding


def _snippet(text: str, start: int, end: int) -> str:
    left, right = max(0, start - _SNIPPET), min(len(text), end + _SNIPPET)
    out = " ".join(text[left:right].split())
    return ("..." if left else "") + out + ("..." if right < len(text) else "")


class _TextParser(html.parser.HTMLParser):
    """The shown text of a page, which of its characters were generated, and the text of
    every stderr and traceback output block (kept out of the page's text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool, int | None]] = []  # tag, hidden, generated, block
        self.text: list[str] = []
        self.flags: list[bytes] = []  # per character of text: 1 where generated
        self.blocks: list[tuple[str, list[str]]] = []  # ("stderr" | "traceback", its text)

    def _state(self) -> tuple[bool, bool, int | None]:
        return self.stack[-1][1:] if self.stack else (False, False, None)

    def _add(self, data: str, generated: bool) -> None:
        hidden, _, block = self._state()
        if hidden:
            return
        if block is not None:
            self.blocks[block][1].append(data)
        else:
            self.text.append(data)
            self.flags.append((b"\1" if generated else b"\0") * len(data))

    def handle_starttag(self, tag, attrs) -> None:
        hidden, generated, block = self._state()
        if tag not in _INLINE:
            self._add("\n", False)  # a block boundary separates words
        if tag in _VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        hidden = hidden or tag in _HIDDEN
        generated = generated or bool(classes & _GENERATED_CLASSES)
        if block is None and "output" in classes and classes & {"stderr", "traceback"}:
            self.blocks.append(("stderr" if "stderr" in classes else "traceback", []))
            block = len(self.blocks) - 1
        self.stack.append((tag, hidden, generated, block))

    def handle_startendtag(self, tag, attrs) -> None:
        if tag not in _INLINE:
            self._add("\n", False)

    def handle_endtag(self, tag) -> None:
        if tag not in _INLINE:
            self._add("\n", False)
        for i in range(len(self.stack) - 1, -1, -1):  # implicitly closed tags close with it
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data) -> None:
        self._add(data, self._state()[1])


def text_problems(page_html: str) -> list[str]:
    """What a reader must not find on a page, one line each: a stderr output block, a
    traceback (an error output, or its first line anywhere in the shown text), and ``NaN``,
    ``nan`` or a warning (``Warning:``, ``UserWarning``, ``WARNING``) in generated text: cell
    outputs and pasted text. Prose may name NaN and warning classes (the API page does)."""
    parser = _TextParser()
    parser.feed(page_html)
    parser.close()
    problems = []
    for kind, parts in parser.blocks:
        lines = [line.strip() for line in "".join(parts).splitlines() if line.strip()]
        if kind == "stderr":
            text = " | ".join(lines)
            cut = 2 * _SNIPPET
            problems.append(f"stderr output: {text[:cut]}" + ("..." if len(text) > cut else ""))
        else:
            problems.append(f"traceback output: {lines[-1][:2 * _SNIPPET] if lines else ''}")
    text, generated = "".join(parser.text), b"".join(parser.flags)
    for m in _TRACEBACK.finditer(text):
        problems.append(f"traceback in the text: {_snippet(text, m.start(), m.end())}")
    for label, pattern in (("NaN", _NAN), ("warning", _WARNING)):
        for m in pattern.finditer(text):
            if generated[m.start()] and generated[m.end() - 1]:
                problems.append(f"{label} in generated text: "
                                f"{_snippet(text, m.start(), m.end())}")
    return problems


# -- the browser ------------------------------------------------------------------------------

_REFRESH = re.compile(r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]*content=["']?\d+\s*;\s*url=([^"'>]+)""",
                      re.IGNORECASE)

_SCAN_JS = r"""
const out = {images: [], links: [], ids: []};
for (const img of document.images) {
  out.images.push([img.currentSrc || img.src || '', img.complete, img.naturalWidth,
                   img.getAttribute('src') || '']);
}
for (const a of document.querySelectorAll('a[href]')) out.links.push(a.href);
for (const l of document.querySelectorAll('link[href]')) {
  if (!/preconnect|dns-prefetch/.test(l.rel)) out.links.push(l.href);
}
for (const s of document.querySelectorAll('script[src]')) out.links.push(s.src);
for (const e of document.querySelectorAll('[id]')) out.ids.push(e.id);
for (const e of document.querySelectorAll('a[name]')) out.ids.push(e.getAttribute('name'));
return out;
"""

_EAGER_JS = r"""
for (const img of document.images) {
  if (img.loading === 'lazy') { img.loading = 'eager'; const s = img.src; img.src = ''; img.src = s; }
}
"""

# Smallest width (CSS px) at which a figure image may be drawn: at 300 px a 256 x 256
# connectivity panel still gets about one pixel per weight.
MIN_FIGURE_PX = 300
WINDOW_WIDTH = 1280

_LAYOUT_JS = r"""
const minFigure = arguments[0];
for (const d of document.querySelectorAll('details')) d.open = true;
for (const t of document.querySelectorAll('.toggle-hidden, .tag_hide-input .cell_input'))
  t.classList.remove('toggle-hidden');
const column = document.querySelector('article.bd-article') || document.querySelector('main');
if (!column) return {column: 0, wide: [], small: []};
const pad = getComputedStyle(column);
const limit = column.clientWidth - parseFloat(pad.paddingLeft) - parseFloat(pad.paddingRight);
const describe = (e) => {
  const cls = (e.className && e.className.baseVal === undefined) ? e.className : '';
  const id = e.id || (e.closest('[id]') ? e.closest('[id]').id : '');
  let text = (e.innerText || e.getAttribute('alt') || e.getAttribute('src') || '').trim();
  text = text.replace(/\s+/g, ' ').slice(0, 50);
  return `<${e.tagName.toLowerCase()}${cls ? ' class="' + cls.split(' ').slice(0, 2).join(' ') + '"' : ''}>`
         + (id ? ` in #${id}` : '') + (text ? ` "${text}"` : '');
};
const wide = [], small = [];
const selector = 'table, figure, pre, div.highlight, div.cell_output, div.output, ' +
                 '.pst-scrollable-table-container, div.cell_output img, figure img';
for (const e of column.querySelectorAll(selector)) {
  const box = e.getBoundingClientRect();
  if (!box.width || !box.height) continue;  // not rendered
  const overflow = e.scrollWidth - e.clientWidth;
  if (box.width > limit + 1)
    wide.push(`${describe(e)} is ${Math.round(box.width)} px wide, the column ${Math.round(limit)} px`);
  else if (overflow > 1)
    wide.push(`${describe(e)} overflows: ${e.scrollWidth} px of content in ${e.clientWidth} px`);
}
for (const img of column.querySelectorAll('figure img, div.cell_output img')) {
  const box = img.getBoundingClientRect();
  if (box.width && box.width < minFigure)
    small.push(`${describe(img)} drawn ${Math.round(box.width)} x ${Math.round(box.height)} px ` +
               `(natural ${img.naturalWidth} px), below the ${minFigure} px minimum`);
}
return {column: limit, wide: wide, small: small};
"""

# A phone: 390 CSS px wide (an iPhone 12 to 15), emulated as a touch screen with overlay
# scroll bars, so the page's viewport meta tag applies as on a phone.
PHONE_WIDTH, PHONE_HEIGHT = 390, 844
PHONE_SLACK = 2  # px a page may be wider than the screen (rounding)
# Smallest width at which a figure image may be drawn on a phone (or its natural width, if
# less): the book's figures are at most 8 inches wide with 10 pt text, which at 600 px is
# 10 px high; scaled to the phone's column (about 350 px) it would be 6 px.
PHONE_MIN_FIGURE_PX = 600
# The screens between a phone and the desktop window, emulated like the phone (width,
# height, name): the theme changes its layout at 960 px (the left sidebar appears and takes
# part of the width) and 1200 px (the right one does), so a page can fit the phone and the
# desktop and still overflow in between. An upright tablet (768 px, an iPad mini) and one on
# its side (1024 px, just past the first breakpoint) cover both sides of it.
SCREENS = ((PHONE_WIDTH, PHONE_HEIGHT, "phone"), (768, 1024, "tablet"),
           (1024, 768, "tablet on its side"))

_PHONE_JS = r"""
const screen = arguments[0], slack = arguments[1], minFigure = arguments[2];
const doc = document.scrollingElement || document.documentElement;
const describe = (e) => {
  const cls = (typeof e.className === 'string') ? e.className : '';
  const id = e.id || (e.closest('[id]') ? e.closest('[id]').id : '');
  let text = (e.innerText || e.getAttribute('alt') || e.getAttribute('src') || '').trim();
  text = text.replace(/\s+/g, ' ').slice(0, 50);
  return `<${e.tagName.toLowerCase()}${cls ? ' class="' + cls.split(' ').slice(0, 2).join(' ') + '"' : ''}>`
         + (id ? ` in #${id}` : '') + (text ? ` "${text}"` : '');
};
// The innermost elements that reach past the screen's right edge, by their box or by text
// that overflows it, not counting what lies in a box that scrolls or clips sideways (it does
// not widen the page), nor fixed elements.
const culprits = [];
const limit = screen + slack;
const walk = (e) => {
  const style = getComputedStyle(e);
  if (style.display === 'none' || style.position === 'fixed') return false;
  const page = e === doc || e === document.body;
  const clips = ['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX);
  let inner = false;
  if (page || !clips)
    for (const child of e.children) inner = walk(child) || inner;
  if (inner || page) return inner;
  const box = e.getBoundingClientRect();
  const right = box.right + window.scrollX;
  const content = style.display.startsWith('inline') || clips ? right
                  : box.left + window.scrollX + e.scrollWidth;
  if (Math.max(right, content) > limit) {
    culprits.push(`${describe(e)} reaches ${Math.round(Math.max(right, content))} px`);
    return true;
  }
  return false;
};
const width = doc.scrollWidth;
if (width > screen + slack) walk(document.body);
const small = [];
for (const img of document.querySelectorAll('figure img, div.cell_output img')) {
  const box = img.getBoundingClientRect();
  const need = Math.min(img.naturalWidth, minFigure);
  if (box.width && box.width < need - 1)
    small.push(`${describe(img)} drawn ${Math.round(box.width)} x ${Math.round(box.height)} px ` +
               `(natural ${img.naturalWidth} px), below ${need} px`);
}
return {width: width, culprits: culprits.slice(0, 3), more: Math.max(0, culprits.length - 3),
        small: small};
"""

_PENDING_JS = r"""
return Array.from(document.images).filter(i => !i.complete).length;
"""


class Checker:
    def __init__(self, html_dir: Path, chromium: str, driver_path: str) -> None:
        self.html_dir = html_dir.resolve()
        self.chromium, self.driver_path = chromium, driver_path
        self.problems: dict[str, list[str]] = defaultdict(list)  # page -> problems
        self.status_cache: dict[str, int | str] = {}
        self.ids: dict[str, set[str]] = {}  # page URL (no fragment) -> ids
        self.links: dict[str, set[str]] = defaultdict(set)  # link URL -> pages using it
        self.n_images = 0
        self.n_layout = 0  # pages whose layout was measured
        self.n_screens = 0  # page layouts measured on an emulated phone or tablet
        self.n_text = 0  # pages whose text was read
        # No proxy for our own server, whatever the environment says.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- server ---------------------------------------------------------------------------
    def serve(self) -> None:
        handler = functools.partial(_QuietHandler, directory=str(self.html_dir))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.base = f"http://{self.host}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def local(self, url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc in (
            self.host, self.host.replace("127.0.0.1", "localhost"))

    def status(self, url: str) -> int | str:
        url = urllib.parse.urldefrag(url)[0]
        if url not in self.status_cache:
            try:
                with self.opener.open(url, timeout=30) as response:
                    response.read()
                    self.status_cache[url] = response.status
            except urllib.error.HTTPError as exc:
                self.status_cache[url] = exc.code
            except OSError as exc:
                self.status_cache[url] = f"{type(exc).__name__}: {exc}"
        return self.status_cache[url]

    def page_key(self, url: str) -> str:
        """A page's URL without fragment and query; `dir/` and `dir/index.html` agree."""
        parts = urllib.parse.urlsplit(urllib.parse.urldefrag(url)[0])
        path = urllib.parse.unquote(parts.path)
        if path.endswith("/"):
            path += "index.html"
        return f"{parts.scheme}://{parts.netloc}{path}"

    def name(self, url: str) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(url).path).lstrip("/") or "index.html"

    # -- browser --------------------------------------------------------------------------
    def start_browser(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile_dir = tempfile.mkdtemp(prefix="srewire-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = self.chromium
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--no-proxy-server",
                     f"--window-size={WINDOW_WIDTH},1600",
                     f"--user-data-dir={self.profile_dir}",
                     # Only our own server is reachable: external hosts fail at once.
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, "
                     "EXCLUDE localhost"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options,
                                       service=Service(executable_path=self.driver_path))
        # The API page, the largest, took over 60 s to load on a machine busy with training.
        self.driver.set_page_load_timeout(180)
        self.driver.set_script_timeout(30)

    def stop(self) -> None:
        driver = getattr(self, "driver", None)
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        server = getattr(self, "server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
        if getattr(self, "profile_dir", None):
            shutil.rmtree(self.profile_dir, ignore_errors=True)

    def js_errors(self) -> list[str]:
        """SEVERE browser-log entries: uncaught exceptions and failed loads from this site.

        Failed loads of other hosts' resources are expected (nothing external is fetched), and
        messages a page's own scripts write with console.error are not failures of the page.
        """
        out = []
        for entry in self.driver.get_log("browser"):
            if entry.get("level") != "SEVERE" or entry.get("source") == "console-api":
                continue
            message = entry.get("message", "")
            url = message.split(" ", 1)[0]
            external = url.startswith(("http://", "https://")) and not self.local(url)
            if external and ("Failed to load resource" in message or "net::ERR" in message):
                continue
            if self.local(url) and urllib.parse.urlsplit(url).path == "/favicon.ico":
                continue  # browsers ask for it by themselves; the book declares none
            out.append(message)
        return out

    def visit(self, page: Path) -> None:
        rel = page.relative_to(self.html_dir).as_posix()
        url = self.base + urllib.parse.quote(rel)
        status = self.status(url)
        if status != 200:
            self.problems[rel].append(f"page answered HTTP {status}")
            return
        source = page.read_text(encoding="utf-8", errors="replace")
        refresh = _REFRESH.search(source)
        if refresh:  # a redirect page (index.html): check where it points, do not render it
            self.links[urllib.parse.urljoin(url, refresh.group(1).strip())].add(rel)
            return
        self.problems[rel].extend(text_problems(source))
        self.n_text += 1
        self.driver.get_log("browser")  # drop what earlier pages left behind
        try:
            self.driver.get(url)
        except Exception as exc:  # timeout, renderer crash
            self.problems[rel].append(f"page did not load: {type(exc).__name__}: {exc}")
            return
        self.driver.execute_script(_EAGER_JS)
        deadline = time.monotonic() + 15
        while self.driver.execute_script(_PENDING_JS) and time.monotonic() < deadline:
            time.sleep(0.1)
        scan = self.driver.execute_script(_SCAN_JS)
        self.ids[self.page_key(url)] = set(scan["ids"])
        for src, complete, width, attr in scan["images"]:
            if src and not self.local(src) and not src.startswith("data:"):
                continue  # other hosts are not fetched
            self.n_images += 1
            if not src:
                self.problems[rel].append(f"image without src ({attr!r})")
            elif not complete or not width:
                self.problems[rel].append(f"image did not load: {attr or src} "
                                          f"(HTTP {self.status(src) if self.local(src) else '-'})")
        for link in scan["links"]:
            if self.local(link):
                self.links[link].add(rel)
        self.check_layout(rel)
        for width, height, name in SCREENS:
            self.check_screen(rel, width, height, name)
        for message in self.js_errors():
            self.problems[rel].append(f"browser error: {message}")

    def check_layout(self, rel: str) -> None:
        """Nothing wider than the content column, no figure drawn too small."""
        layout = self.driver.execute_script(_LAYOUT_JS, MIN_FIGURE_PX)
        for item in layout["wide"]:
            self.problems[rel].append(f"too wide at {WINDOW_WIDTH} px: {item}")
        for item in layout["small"]:
            self.problems[rel].append(f"figure too small at {WINDOW_WIDTH} px: {item}")
        self.n_layout += 1

    def check_screen(self, rel: str, width: int, height: int, name: str) -> None:
        """On a phone or tablet ``width`` px wide the page does not scroll sideways, and
        figures stay legible."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 3 if width < 600 else 2,
            "mobile": True})
        try:
            seen = self.driver.execute_script(_PHONE_JS, width, PHONE_SLACK, PHONE_MIN_FIGURE_PX)
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        if seen["width"] > width + PHONE_SLACK:
            where = "; ".join(seen["culprits"]) or "no single element found"
            more = f" (and {seen['more']} more)" if seen["more"] else ""
            self.problems[rel].append(f"wider than a {width} px {name}: the page scrolls "
                                      f"sideways to {seen['width']} px: {where}{more}")
        for item in seen["small"]:
            self.problems[rel].append(f"figure too small on a {width} px {name}: {item}")
        self.n_screens += 1

    def static_ids(self, url: str) -> set[str] | None:
        try:
            with self.opener.open(url, timeout=30) as response:
                if "html" not in (response.headers.get_content_type() or ""):
                    return None
                parser = _IdParser()
                parser.feed(response.read().decode("utf-8", "replace"))
                return parser.ids
        except OSError:
            return None

    def check_links(self) -> int:
        for link, pages in sorted(self.links.items()):
            where = ", ".join(sorted(pages)[:3]) + (" ..." if len(pages) > 3 else "")
            status = self.status(link)
            target = self.name(link)
            if status != 200:
                self.problems[where].append(f"broken link: {target} (HTTP {status})")
                continue
            fragment = urllib.parse.unquote(urllib.parse.urlsplit(link).fragment)
            if not fragment:
                continue
            key = self.page_key(link)
            ids = self.ids.get(key)
            if ids is None:
                ids = self.static_ids(urllib.parse.urldefrag(link)[0])
                self.ids[key] = ids if ids is not None else set()
                if ids is None:
                    continue  # not an HTML page: nothing to look up
            if fragment not in ids:
                self.problems[where].append(f"broken link: {target}#{fragment} "
                                            f"(no element with id {fragment!r} there)")
        return len(self.links)

    def run(self) -> int:
        pages = sorted(p for p in self.html_dir.rglob("*.html")
                       if not any(part.startswith("_") for part in
                                  p.relative_to(self.html_dir).parts[:-1]))
        if not pages:
            print(f"check-html: FAILED: no HTML pages under {self.html_dir.name}/")
            return 1
        self.serve()
        try:
            self.start_browser()
            for page in pages:
                self.visit(page)
            n_links = self.check_links()
        finally:
            self.stop()
        n_problems = sum(len(v) for v in self.problems.values())
        summary = (f"{len(pages)} page(s), {self.n_images} image(s), {n_links} internal "
                   f"link(s), layout of {self.n_layout} page(s) at {WINDOW_WIDTH} px and of "
                   f"{self.n_screens // len(SCREENS)} at "
                   f"{', '.join(f'{w} px' for w, _, _ in SCREENS)} (phone and tablets), "
                   f"text of {self.n_text} page(s)")
        if n_problems:
            print(f"check-html: FAILED: {n_problems} problem(s) in {summary}:")
            for where, items in sorted(self.problems.items()):
                for item in items:
                    print(f"  {where}: {item}")
            return 1
        print(f"check-html: ok: {summary} checked in headless Chromium")
        return 0


def check_html(html_dir: Path, require_browser: bool = False) -> int:
    """Run the browser check; 0 when it passes (or is skipped without a browser)."""
    if not html_dir.is_dir():
        print(f"check-html: FAILED: {html_dir} is not a folder; build the book first")
        return 1
    chromium = _find(CHROMIUM_CANDIDATES, SYSTEM_CHROMIUM)
    driver = _find(DRIVER_CANDIDATES, SYSTEM_DRIVER)
    if not chromium or not driver:
        missing = " and ".join(n for n, p in (("chromium", chromium),
                                               ("chromium-driver", driver)) if not p)
        lines = ["BROWSER CHECK SKIPPED: chromium not installed",
                 f"(missing: {missing})",
                 "Install it with: apt-get install -y chromium chromium-driver",
                 "The built pages, their images and internal links were NOT checked."]
        if require_browser:
            lines[0] = "BROWSER CHECK FAILED: chromium not installed"
            lines[-1] = "SREWIRE_REQUIRE_BROWSER=1 is set, so this is an error."
        print(_banner(lines))
        return 1 if require_browser else 0
    try:
        import selenium  # noqa: F401
    except ImportError:
        print(_banner(["BROWSER CHECK FAILED: the selenium package is missing",
                       "Run: bash scripts/setup.sh (it installs requirements.txt)"]))
        return 1
    return Checker(html_dir, chromium, driver).run()
