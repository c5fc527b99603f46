"""Headless Chromium for the browser tests (test_site.py, test_lab.py), driven by Playwright.

Playwright cannot download its own browsers here, so it drives the system's Chromium (Debian's
`chromium` package, `apt-get install chromium`; .ci/run installs it). Without one the browser tests
skip with a one-line reason, except under CI=true, where a missing browser is a failure: CI must
not go green by skipping what it was meant to check.
"""
import contextlib
import os
import shutil

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # without playwright the browser tests skip (or fail under CI) in chromium()
    PlaywrightTimeout = TimeoutError

# Where Debian, Ubuntu and Fedora put it; $CHROMIUM overrides.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# Headless, and quiet on a machine with no network: without the background-networking flags
# Chromium keeps trying to reach Google's hosts (update checks, sync), failing at every start.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path():
    """The Chromium executable, or None."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"] if os.path.exists(os.environ["CHROMIUM"]) else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def unavailable(reason):
    """Skip (on a learner's laptop) or fail (in CI) for a missing browser or driver."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}: .ci/run must install it", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def chromium():
    """A launched headless Chromium (a Playwright Browser); closed on exit."""
    path = chromium_path()
    if path is None:
        unavailable("Chromium not found (apt-get install chromium, or set $CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch(page):
    """Record a page's console errors, uncaught exceptions and requests that leave the machine
    (anything but file:, data:, blob: and the local server); such requests are aborted, so a test
    sees a missing offline asset as the failure it would be on a learner's laptop."""
    log = {"errors": [], "remote": []}
    page.on("console", lambda m: m.type == "error" and log["errors"].append(m.text))
    page.on("pageerror", lambda e: log["errors"].append(f"uncaught: {e}"))

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "http://127.0.0.1", "ws://127.0.0.1")):
            return r.continue_()
        log["remote"].append(url)
        return r.abort()

    page.route("**/*", route)
    return log
