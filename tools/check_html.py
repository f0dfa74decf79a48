"""Open every page of the built book in headless Chromium and check what a reader sees.

Usage: python tools/check_html.py [--html _build/html] [--screenshots _build/screenshots]
                                  [--chromium /usr/bin/chromium]

Run by ``make check-html`` after ``make book``.  For each page it checks:

* no cell output holds an error or a traceback;
* every image (figures, the frames of an animation) and every video has loaded;
* MathJax typeset every equation (``span.math`` / ``div.math`` became
  ``mjx-container``, with no ``mjx-merror``), from the book's own files: no
  page asks the network for anything;
* each chapter's Colab and Binder buttons open that chapter's ``.ipynb``, and it
  exists in the repository;
* the solution cells (tag ``solution``) are collapsed.

It saves screenshots of three pages to the screenshots folder and prints one
line per page; the exit status is 1 when a check failed.  Chromium is driven
through the DevTools protocol (the ``websocket-client`` package); nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_tools  # noqa: E402

ROOT = book_tools.ROOT
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--remote-debugging-port=0"]
SCREENSHOT_PAGES = ["book/00_intro.html", "book/02_optical_flow_theory.html",
                    "book/07_phase_based_magnification.html"]

# Evaluated in each page once it has loaded: waits for the images and MathJax,
# then reports what the checks need.
PAGE_REPORT_JS = r"""
(async () => {
  const settle = (el, events) => new Promise(resolve => {
    events.forEach(e => el.addEventListener(e, resolve, {once: true}));
    setTimeout(resolve, 15000);
  });
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.filter(i => !i.complete).map(i => settle(i, ["load", "error"])));
  const videos = Array.from(document.querySelectorAll("video"));
  videos.forEach(v => { v.preload = "auto"; if (v.readyState < 1) v.load(); });
  await Promise.all(videos.filter(v => v.readyState < 1).map(v => settle(v, ["loadedmetadata", "error"])));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise, new Promise(r => setTimeout(r, 30000))]);
  }
  const visible = el => !!el && el.checkVisibility ? el.checkVisibility() : !!(el && el.offsetParent);
  const outputs = Array.from(document.querySelectorAll(".cell_output, .output"));
  return {
    title: document.title,
    mathjax: !!(window.MathJax && window.MathJax.version),
    mathjaxVersion: window.MathJax && window.MathJax.version || null,
    mathjaxSrc: Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s)),
    math: document.querySelectorAll("span.math, div.math").length,
    typeset: document.querySelectorAll("mjx-container").length,
    mathErrors: document.querySelectorAll("mjx-merror").length,
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 120)),
    images: imgs.length,
    brokenVideos: videos.filter(v => v.readyState < 1 || v.error).map(v => v.currentSrc || v.src),
    errorOutputs: Array.from(document.querySelectorAll(".output.traceback, .output.error, .output_error"))
                       .map(e => e.innerText.slice(0, 200)),
    tracebacks: outputs.filter(o => /Traceback \(most recent call last\)|-{20,}\n\w+(Error|Exception)\s+Traceback/.test(o.innerText))
                       .map(o => o.innerText.slice(0, 200)),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href)
                 .filter(h => /colab\.research\.google\.com|mybinder\.org/.test(h)),
    solutions: document.querySelectorAll(".cell.tag_solution").length,
    openSolutions: Array.from(document.querySelectorAll(".cell.tag_solution"))
                        .filter(c => visible(c.querySelector(".cell_input pre, .cell_input")))
                        .map(c => c.innerText.slice(0, 80)),
  };
})()
"""


class Chromium:
    """A headless Chromium driven over the DevTools protocol (one tab, flat sessions)."""

    def __init__(self, executable: str, timeout: float = 60.0):
        import websocket  # websocket-client

        self.profile = tempfile.mkdtemp(prefix="mer-chromium-")
        self.proc = subprocess.Popen([executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                                      "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = None
        deadline = time.monotonic() + timeout
        while url is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                url = match.group(1)
        if url is None:
            self.close()
            raise RuntimeError(f"{executable} did not start (no DevTools endpoint within {timeout:.0f} s)")
        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, session: bool = False, **params):
        """Send one DevTools command and return its result (events seen meanwhile are kept)."""
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float) -> bool:
        """Wait for an event of the tab; True if it came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if any(e.get("method") == method for e in self.events):
            return True
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                event = json.loads(self.ws.recv())
            except Exception:  # websocket timeout
                return False
            self.events.append(event)
            if event.get("method") == method:
                return True
        return False

    def open(self, url: str, timeout: float = 60.0) -> list[str]:
        """Load ``url``; return the URLs the page requested (scripts, images, fonts...)."""
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        if not self.wait_event("Page.loadEventFired", timeout):
            raise RuntimeError(f"{url} did not finish loading in {timeout:.0f} s")
        self.ws.settimeout(timeout)
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        height = self.evaluate("Math.min(document.documentElement.scrollHeight, 2400)")
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=int(height),
                  deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def launch_target(link: str) -> str | None:
    """The repository path a Colab or Binder button opens, or None if it names none."""
    url, branch = book_tools.repository()
    owner_repo = url.split("github.com/", 1)[1]
    parsed = urlparse(link)
    if parsed.netloc == "colab.research.google.com":
        prefix = f"/github/{owner_repo}/blob/{branch}/"
        return parsed.path[len(prefix):] if parsed.path.startswith(prefix) else None
    if parsed.netloc == "mybinder.org":
        if not parsed.path.startswith(f"/v2/gh/{owner_repo}/{branch}"):
            return None
        urlpath = unquote(parse_qs(parsed.query).get("urlpath", [""])[0])
        for lead in ("lab/tree/", "tree/", "notebooks/"):
            if urlpath.startswith(lead):
                return urlpath[len(lead):]
        return None
    return None


def external_requests(requests: list[str]) -> list[str]:
    """The http(s) URLs among a page's requests (the book is read from files)."""
    return sorted({u for u in requests if urlparse(u).scheme in ("http", "https")})


def check_page(rel: str, report: dict, requests: list[str]) -> list[str]:
    """The problems found on one page (empty when it passes)."""
    problems = []
    if report["errorOutputs"] or report["tracebacks"]:
        problems.append(f"error in a cell output: {(report['errorOutputs'] + report['tracebacks'])[0]!r}")
    if report["brokenImages"]:
        problems.append(f"{len(report['brokenImages'])} image(s) did not load: {report['brokenImages'][:2]}")
    if report["brokenVideos"]:
        problems.append(f"video(s) did not load: {report['brokenVideos'][:2]}")
    if report["math"]:
        if not report["mathjax"]:
            problems.append(f"{report['math']} equation(s) but MathJax did not load")
        elif report["typeset"] < report["math"] or report["mathErrors"]:
            problems.append(f"MathJax typeset {report['typeset']} of {report['math']} equations, "
                            f"{report['mathErrors']} with errors")
    external = external_requests(requests)
    if any("mathjax" in u.lower() for u in external):
        problems.append(f"MathJax is loaded from the network: {[u for u in external if 'mathjax' in u.lower()][0]}")
    stem = Path(rel).stem
    if rel.startswith("book/"):
        targets = {}
        for link in report["links"]:
            kind = "colab" if "colab" in link else "binder"
            target = launch_target(link)
            if target is None:
                problems.append(f"{kind} button {link} does not open a notebook of this repository")
            else:
                targets.setdefault(kind, set()).add(target)
        for kind in ("colab", "binder"):
            found = targets.get(kind, set())
            if not found:
                problems.append(f"no {kind} button")
            for target in found:
                if target != f"book/{stem}.ipynb" or not (ROOT / target).is_file():
                    problems.append(f"{kind} button opens {target}, not book/{stem}.ipynb of the repository")
        if report["openSolutions"]:
            problems.append(f"{len(report['openSolutions'])} solution cell(s) not collapsed")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"), help="the built book")
    parser.add_argument("--screenshots", default=str(ROOT / "_build" / "screenshots"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    html = Path(args.html).resolve()
    if not (html / "index.html").is_file():
        print(f"check-html: error: {html} holds no built book (index.html); run `make book` first",
              file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file():
        print(f"check-html: error: Chromium not found at {args.chromium}; `make check-html` installs it",
              file=sys.stderr)
        return 2
    pages = sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                   if not p.relative_to(html).parts[0].startswith("_"))
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    browser = Chromium(args.chromium)
    failed = 0
    try:
        for rel in pages:
            redirect = re.search(r'http-equiv="refresh"[^>]*url=([^"\']+)', (html / rel).read_text(), re.I)
            if redirect:  # index.html only forwards to the first chapter
                target = (html / rel).parent / redirect.group(1).strip()
                if target.is_file():
                    print(f"ok   {rel}: forwards to {target.relative_to(html).as_posix()}")
                else:
                    failed += 1
                    print(f"FAIL {rel}: forwards to {redirect.group(1)}, which does not exist")
                continue
            try:
                requests = browser.open((html / rel).as_uri())
                report = browser.evaluate(PAGE_REPORT_JS)
            except RuntimeError as err:
                failed += 1
                print(f"FAIL {rel}: {err}")
                continue
            problems = check_page(rel, report, requests)
            if rel in SCREENSHOT_PAGES:
                browser.screenshot(shots / (Path(rel).stem + ".png"))
            summary = (f"{report['images']} images, {report['typeset']}/{report['math']} equations"
                       + (f" (MathJax {report['mathjaxVersion']})" if report["mathjax"] else "")
                       + (f", {report['solutions']} solutions collapsed" if report["solutions"] else ""))
            external = external_requests(requests)
            if external:  # not a failure: the page works without them (see the README)
                summary += f"; asks the network for {', '.join(external)}"
            if problems:
                failed += 1
                print(f"FAIL {rel}: " + "; ".join(problems))
            else:
                print(f"ok   {rel}: {summary}")
    finally:
        browser.close()
    print(f"check-html: {len(pages) - failed} of {len(pages)} pages pass; screenshots in {shots}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
