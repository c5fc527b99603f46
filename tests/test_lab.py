"""JupyterLab as a learner meets it: `make course`'s server, lessons run through the UI in Chromium.

A copy of the lessons goes into a temporary folder (running them in the lab saves outputs, and the
committed notebooks must not change), and `jupyter lab` serves it as `make course` does, on a free
local port with a token. For each lesson, Chromium opens it, runs Run > Run All Cells from the menu,
waits for the kernel to go idle, and saves it. Then:
- the saved notebook holds no error output, and every code cell ran;
- each figure cell shows its image, loaded (naturalWidth > 0);
- training shows tqdm's progress bar as a widget (ipywidgets installed), not as text on stderr;
- in lesson 07, moving a slider of the latent explorer changes the decoded digit.
The server is stopped by its PID.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from browser import PlaywrightTimeout, chromium, watch
from helpers import ROOT

pytestmark = pytest.mark.browser
TOKEN = "vae-lessons-browser-test"
RUN_TIMEOUT_MS = 300_000  # a lesson runs in about a minute on 2 cores; this allows a slow machine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, folder it serves) of a running JupyterLab; stopped by PID afterwards."""
    pytest.importorskip("jupyterlab")
    folder = tmp_path_factory.mktemp("lab")
    for name in ("00_start_here", "01_autoencoder", "07_latent_space"):
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", folder)
    port = free_port()
    # As `make course` starts it (root_dir, --allow-root for root), but headless, on our port and
    # token, with its settings and workspaces in the temporary folder instead of ~/.jupyter.
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder / ".config"),
           "JUPYTERLAB_SETTINGS_DIR": str(folder / ".settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(folder / ".workspaces")}
    env.pop("MPLBACKEND", None)  # conftest sets Agg for the tests; the lab's kernel uses the inline backend
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, folder / "server.log")
        yield url, folder
    finally:
        server.terminate()  # by its PID: SIGTERM, then SIGKILL if it will not go
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def wait_for_server(url, server, log_path, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited ({server.returncode}):\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2) as r:
                if json.load(r).get("started"):
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not start in {timeout} s:\n{log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


# Every code cell of the lesson is on the page (n of them, counted in the file): until then an
# empty or partial list of prompts would pass for "all numbered". The lab attaches every cell
# (windowing mode contentVisibility), but on a cold start not all at once.
ALL_CELLS_SHOWN = """(n) => document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt').length === n"""
# Done: all n code cells shown, the kernel idle, nothing queued ([*]), and every code cell
# numbered, or an error shown (Run All stops at a cell that raises; the checks on the saved
# notebook then name it).
RUN_FINISHED = """(n) => {
  const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
  const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'));
  const numbered = prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
  const error = document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
  return idle && prompts.length === n && !prompts.some(p => p.textContent.includes('*')) && (numbered || error);
}"""
NOTEBOOK_STATE = """() => ({
  status: (document.querySelector('.jp-Notebook-ExecutionIndicator') || {}).outerHTML,
  prompts: Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')).map(p => p.textContent),
  stderr: Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
          .map(e => e.textContent.slice(0, 300)),
})"""


def run_all_cells(browser, url, folder, name):
    """Open a lesson in the lab, run every cell from the Run menu, wait, save; returns the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log = watch(page)
    # A workspace of its own, reset: only this lesson open, whatever an earlier page left open.
    page.goto(f"{url}/lab/workspaces/{name}/tree/{name}.ipynb?token={TOKEN}&reset")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    n_code = sum(c.cell_type == "code" for c in nbformat.read(folder / f"{name}.ipynb", as_version=4).cells)
    try:
        page.wait_for_function(ALL_CELLS_SHOWN, arg=n_code, timeout=120_000, polling=500)
    except PlaywrightTimeout:
        pytest.fail(f"{name}: the lab did not show its {n_code} code cells: {page.evaluate(NOTEBOOK_STATE)}")
    # Clear the committed outputs first, so that a numbered prompt means "ran here".
    menu(page, "Edit", "Clear Outputs of All Cells")
    menu(page, "Run", "Run All Cells")
    try:
        page.wait_for_function(RUN_FINISHED, arg=n_code, timeout=RUN_TIMEOUT_MS, polling=1000)
    except PlaywrightTimeout:
        pytest.fail(f"{name} did not finish in the lab: {page.evaluate(NOTEBOOK_STATE)}")
    written = (folder / f"{name}.ipynb").stat().st_mtime_ns
    menu(page, "File", "Save Notebook")
    wait_until_saved(page, folder / f"{name}.ipynb", written)
    return page, log


def wait_until_saved(page, path, written, timeout=30):
    """Until the file has been written since `written` (its mtime before the save) and holds the
    run: every code cell numbered, or an error (the committed copy leaves the stubs unnumbered).
    Waits with page.wait_for_timeout, not time.sleep: the page's requests pass through watch()'s
    route handler, which runs only while Playwright has control, so a sleep would hold the save."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != written:
            try:
                cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
            except Exception:  # caught mid-write: read again
                cells = None
            if cells and (all(c.execution_count for c in cells if c.source.strip()) or saved_errors(path)):
                return
        page.wait_for_timeout(500)
    pytest.fail(f"{path.name}: the lab did not save the run within {timeout} s")


def saved_errors(path):
    nb = nbformat.read(path, as_version=4)
    return [f"{o['ename']}: {o['evalue']}" for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error"]


def menu(page, top, item):
    """Click a menu item by its whole label (not "Save Notebook As…" for "Save Notebook"; the
    shortcut shown beside a label is a separate element)."""
    page.get_by_role("menuitem", name=top, exact=True).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def figure_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and "plt.show()" in c.source
            and "student" not in c.metadata.get("tags", [])]


# lesson 00 trains nothing; lesson 01 trains autoencoders with V.train's tqdm.auto bar
@pytest.mark.parametrize("name, trains", [("00_start_here", False), ("01_autoencoder", True)])
def test_lesson_runs_in_the_lab(lab, browser, name, trains):
    url, folder = lab
    page, log = run_all_cells(browser, url, folder, name)
    assert not saved_errors(folder / f"{name}.ipynb"), saved_errors(folder / f"{name}.ipynb")[0]
    saved = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    ran = [c for c in saved.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count for c in ran), f"{name}: not every code cell ran"
    images = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-RenderedImage img'))
                                      .map(i => i.naturalWidth)""")
    assert len(images) >= len(figure_cells(saved)) and all(images), f"{name}: figures {images}"
    if trains:
        assert page.locator(".jp-OutputArea-output .jupyter-widgets.widget-hprogress").count() > 0, "no progress bar widget"
        stderr = [o.text for c in saved.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "stream" and o.name == "stderr"]
        assert not any("it/s" in t or "epoch/s" in t for t in stderr), "tqdm printed text bars: no widgets?"
    assert not log["errors"], f"console errors in the lab: {log['errors'][:5]}"
    page.close()


def test_latent_explorer_slider_changes_the_digit(lab, browser):
    url, folder = lab
    page, log = run_all_cells(browser, url, folder, "07_latent_space")
    assert not saved_errors(folder / "07_latent_space.ipynb"), saved_errors(folder / "07_latent_space.ipynb")[0]
    image = page.locator(".vae-explorer-image").first
    density = page.locator(".vae-explorer-density").first
    image.scroll_into_view_if_needed()
    before = image.get_attribute("src"), image.screenshot(), density.inner_text()
    handle = page.locator(".vae-explorer-slider").first.locator(".noUi-handle")
    handle.focus()
    for _ in range(5):  # five steps right: the code moves, so must the digit
        handle.press("ArrowRight")
    page.wait_for_function("(src) => document.querySelector('.vae-explorer-image').getAttribute('src') !== src",
                           arg=before[0], timeout=30_000)
    page.wait_for_timeout(500)  # the density is set just after the image, in the same update
    after = image.get_attribute("src"), image.screenshot(), density.inner_text()
    assert after[1] != before[1], "the explorer's image did not change when its slider moved"
    assert after[2] != before[2] and "log p(z) =" in after[2], f"the density did not change: {after[2]!r}"
    assert not log["errors"], f"console errors in the lab: {log['errors'][:5]}"
    page.close()
