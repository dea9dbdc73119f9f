"""Screenshots of the built docs site in headless Chromium, checked so that a broken
theme or a missing plot fails (``nox -s screenshots``).

``python docs/_mkdocs/screenshots.py [SITE_DIR] [OUT_DIR]`` (defaults:
build/docs/site and build/docs/screenshots) serves SITE_DIR on 127.0.0.1, opens
the home page and the benchmarks page (scrolled to its first figure) in Chromium
(Debian's ``chromium`` package, or the browser named by ``$CHROMIUM``), driven over
the DevTools protocol on a pipe (no extra package), and writes ``home.png``,
``benchmarks.png`` and ``checks.json`` to OUT_DIR. It checks, and exits 1 naming
each failure:

- the theme loaded: Material's stylesheet is applied (its rules are readable) and
  the header has the theme's colour, in the page and in the screenshot's pixels;
- the navigation is there (the site's nav links are rendered);
- every image of the page's content loaded (``naturalWidth > 0``), and the
  benchmarks page has at least one;
- the screenshot is not blank: its size, many distinct colours, and the region of
  the benchmarks figure holds more than a flat colour.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Browser", "check_page", "find_chromium", "main"]

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 900
#: Pages to shoot: (output name, page path in the site, scroll to its first figure).
PAGES = (("home", "index.html", False), ("benchmarks", "benchmarks.html", True))

_PAGE_FACTS = """
(async () => {
  await Promise.all([...document.images].map(i => i.complete ? 0 :
      new Promise(done => { i.onload = i.onerror = done; })));
  await document.fonts.ready;
  const figure = document.querySelector('.md-content img');
  if (SCROLL && figure) { figure.scrollIntoView({block: 'center'}); }
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const header = document.querySelector('.md-header');
  const theme = [...document.styleSheets].some(s => {
    try { return s.href && s.href.includes('/assets/stylesheets/main.') && s.cssRules.length > 0; }
    catch (e) { return false; }
  });
  const rect = figure ? figure.getBoundingClientRect() : null;
  return JSON.stringify({
    title: document.title,
    theme_stylesheet: theme,
    header_color: header ? getComputedStyle(header).backgroundColor : null,
    nav_links: document.querySelectorAll('.md-nav__link').length,
    images: [...document.querySelectorAll('.md-content img')].map(i => ({
      src: i.getAttribute('src'), natural_width: i.naturalWidth,
      natural_height: i.naturalHeight})),
    figure_rect: rect && {x: rect.x, y: rect.y, width: rect.width, height: rect.height},
    device_pixel_ratio: window.devicePixelRatio,
  });
})()
"""


def find_chromium() -> str:
    """The Chromium executable: ``$CHROMIUM``, else chromium/chromium-browser on PATH."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    raise SystemExit("screenshots: no Chromium found. Install Debian's package "
                     "(apt-get install -y chromium) or set CHROMIUM to a Chromium executable.")


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, executable: str, profile: Path, timeout: float = 60.0) -> None:
        self.timeout = timeout
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # in the child: its fd 3 reads commands, fd 4 answers
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            # close_fds would close fds 3 and 4 after wire_pipes; os.pipe()'s own fds
            # are not inheritable, so nothing else leaks into the browser.
            preexec_fn=wire_pipes, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._next_id = 0

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (status {self.process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            command["sessionId"] = session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._events.append(message)

    def wait_for(self, event: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            for message in self._events:
                if message.get("method") == event and message.get("sessionId") == session:
                    self._events.remove(message)
                    return
            self._events.append(self._read_message(deadline))

    def open(self, url: str) -> str:
        """A new tab at ``url``, loaded; returns its session id."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session)
        self.call("Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=HEIGHT,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return session

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def _parse_rgb(css: str | None) -> tuple[int, int, int] | None:
    if not css or not css.startswith("rgb"):
        return None
    values = css[css.index("(") + 1:css.index(")")].split(",")
    red, green, blue = (int(float(v)) for v in values[:3])
    return red, green, blue


def _distinct_colours(image: Any) -> int:
    colours = image.getcolors(maxcolors=1 << 16)
    return 1 << 16 if colours is None else len(colours)


def check_page(facts: dict[str, Any], png: Path, *, wants_figure: bool) -> list[str]:
    """The failures of one page: its facts from the browser and its screenshot."""
    from PIL import Image

    failures = []
    if not facts["theme_stylesheet"]:
        failures.append("the Material theme's stylesheet did not load")
    header = _parse_rgb(facts["header_color"])
    if header is None or header in ((0, 0, 0), (255, 255, 255)) or facts["header_color"] in (
            "rgba(0, 0, 0, 0)",):
        failures.append(f"the header has no theme colour ({facts['header_color']})")
    if facts["nav_links"] < 10:
        failures.append(f"only {facts['nav_links']} navigation links rendered")
    broken = [i["src"] for i in facts["images"] if i["natural_width"] <= 0]
    if broken:
        failures.append(f"images that did not load: {broken}")
    if wants_figure and not facts["images"]:
        failures.append("the page shows no figure")
    image = Image.open(png).convert("RGB")
    ratio = facts["device_pixel_ratio"] or 1
    if image.size != (round(WIDTH * ratio), round(HEIGHT * ratio)):
        failures.append(f"screenshot size {image.size}, expected {WIDTH}x{HEIGHT}")
    colours = _distinct_colours(image)
    if colours < 64:
        failures.append(f"the screenshot looks blank: {colours} distinct colours")
    if header is not None:
        pixel = image.getpixel((int(WIDTH * ratio) // 2, int(8 * ratio)))
        if max(abs(a - b) for a, b in zip(pixel, header, strict=True)) > 12:
            failures.append(f"the screenshot's header pixel {pixel} is not the theme's "
                            f"colour {header}")
    rect = facts["figure_rect"]
    if wants_figure and rect:
        box = (max(0, int(rect["x"] * ratio)), max(0, int(rect["y"] * ratio)),
               min(image.width, int((rect["x"] + rect["width"]) * ratio)),
               min(image.height, int((rect["y"] + rect["height"]) * ratio)))
        if box[2] - box[0] < 50 or box[3] - box[1] < 50:
            failures.append(f"the figure is not in view: {box}")
        elif _distinct_colours(image.crop(box)) < 16:
            failures.append("the figure's region of the screenshot is flat: no plot drawn")
    return failures


def _serve(site: Path) -> ThreadingHTTPServer:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    site = Path(argv[0]) if argv else ROOT / "build" / "docs" / "site"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "docs" / "screenshots"
    if not (site / "index.html").is_file():
        raise SystemExit(f"screenshots: no built site in {site}: run `nox -s docs` first.")
    out.mkdir(parents=True, exist_ok=True)
    server = _serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="th-docs-chromium-") as profile:
        browser = Browser(find_chromium(), Path(profile))
        try:
            for name, page, scroll in PAGES:
                session = browser.open(f"{base}/{page}")
                evaluated = browser.call(
                    "Runtime.evaluate", session,
                    expression=_PAGE_FACTS.replace("SCROLL", "true" if scroll else "false"),
                    awaitPromise=True, returnByValue=True)
                facts = json.loads(evaluated["result"]["value"])
                shot = browser.call("Page.captureScreenshot", session, format="png")
                png = out / f"{name}.png"
                png.write_bytes(base64.b64decode(shot["data"]))
                failures = check_page(facts, png, wants_figure=scroll)
                report[name] = {"url": page, "screenshot": str(png), "facts": facts,
                                "failures": failures}
        finally:
            browser.close()
            server.shutdown()
    (out / "checks.json").write_text(json.dumps(report, indent=1) + "\n")
    failed = False
    for name, entry in report.items():
        status = "ok" if not entry["failures"] else "FAILED: " + "; ".join(entry["failures"])
        failed |= bool(entry["failures"])
        print(f"{name}: {entry['screenshot']} "
              f"({len(entry['facts']['images'])} figure(s) loaded) {status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
