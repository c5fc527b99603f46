"""The course website (`make site`) as a learner's browser shows it, offline.

The site is built once from the committed notebooks into a temporary folder, then every page is
opened from file:// in headless Chromium with every request that would leave the machine aborted
and recorded. Each lesson page must show its title, typeset math, load every image, raise no
console error, and carry every PASS line its notebook printed. One screenshot per page is saved
in pytest's temporary folder (site-screenshots/), for a person to look at.
"""
import html.parser
import re
from pathlib import Path

import nbformat
import pytest

from browser import PlaywrightTimeout, chromium, watch
from helpers import ROOT, load_script

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("myst_nb", reason="the site's packages are not installed (pip install -e '.[site]')")
    out = tmp_path_factory.mktemp("site")
    load_script("build_site").build(out)
    return out


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    return tmp_path_factory.mktemp("site-screenshots")


def notebook_title_pass_lines_and_figures(path):
    """The lesson's H1, the PASS lines of its outputs and its number of figures, in the cells the
    site shows (the committed notebook's, and any figure shown in place of a widget)."""
    nb = nbformat.read(path, as_version=4)
    title = re.match(r"# (.+)", nb.cells[0].source).group(1).strip()
    stand_ins = sum(1 for c in nb.cells if "site_stand_in" in c.metadata)
    lines, figures = [], stand_ins
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or {"student", "remove-output", "remove-cell"} & set(tags):
            continue
        for out in cell.outputs:
            if out.output_type == "stream":
                lines += [ln.rstrip() for ln in out.text.splitlines() if ln.startswith("PASS ")]
            figures += "image/png" in out.get("data", {})
    return title, lines, figures


# Runs in the page: which math elements MathJax left untypeset, and any TeX visible as plain text
# (outside code, outputs and typeset math, where `$` or `\mathbb` would mean a failed render).
PAGE_REPORT = r"""() => {
  const article = document.querySelector('article') || document.body;
  const maths = Array.from(article.querySelectorAll('.math'));
  const raw = [];
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('pre, code, mjx-container, script, style')) continue;
    if (/\$|\\\(|\\\[|\\[a-zA-Z]+\{|\\(mathbb|mathcal|frac|sum|log|mid)\b/.test(node.textContent))
      raw.push(node.textContent.trim().slice(0, 80));
  }
  return {
    math: maths.length,
    typeset: maths.filter(m => m.querySelector('mjx-container')).length,
    // MathJax typesets an unknown macro as its name in red, inside the formula: count those too
    mathErrors: Array.from(article.querySelectorAll('mjx-merror, mjx-assistive-mml [mathcolor="red"]'))
                .map(e => e.textContent),
    raw: raw,
    images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), width: i.naturalWidth})),
    h1: (article.querySelector('h1') || {}).textContent,
    passLines: article.textContent.split('\n').map(s => s.trimEnd()).filter(s => s.startsWith('PASS ')),
  };
}"""


def open_page(browser, url, screenshot):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log = watch(page)
    page.goto(url)
    if page.locator(".math").count():
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        except PlaywrightTimeout:
            pytest.fail(f"MathJax never started; requests that left the machine: {log['remote'][:5]}")
        page.evaluate("() => MathJax.startup.promise")  # resolves when the first typeset is done
    report = page.evaluate(PAGE_REPORT)
    page.screenshot(path=str(screenshot))
    page.close()
    return report, log


def assert_page_sound(report, log):
    assert not log["remote"], f"requests that leave the machine: {log['remote'][:5]}"
    assert not log["errors"], f"console errors: {log['errors'][:5]}"
    broken = [i["src"] for i in report["images"] if i["width"] == 0]
    assert not broken, f"images that did not load: {broken}"
    assert report["typeset"] == report["math"], f"{report['math'] - report['typeset']} math elements not typeset"
    assert not report["mathErrors"], f"TeX errors in typeset math: {report['mathErrors'][:5]}"
    assert not report["raw"], f"TeX shown as plain text: {report['raw'][:5]}"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_page(site, browser, screenshots, lesson):
    page_file = site / "notebooks" / f"{lesson.stem}.html"
    assert page_file.exists(), f"no page for {lesson.name}"
    report, log = open_page(browser, page_file.as_uri(), screenshots / f"{lesson.stem}.png")
    assert_page_sound(report, log)
    title, pass_lines, figures = notebook_title_pass_lines_and_figures(lesson)
    assert report["h1"].replace("#", "").strip() == title
    assert report["math"] > 0, "a lesson page with no math: is dollarmath on?"
    assert len(report["images"]) == figures, f"{len(report['images'])} images on the page, {figures} figures in the lesson"
    assert sorted(report["passLines"]) == sorted(pass_lines), "the page's PASS lines differ from the notebook's"


def test_home_page_is_the_readme_and_lists_every_lesson(site, browser, screenshots):
    report, log = open_page(browser, (site / "index.html").as_uri(), screenshots / "index.png")
    assert_page_sound(report, log)
    assert report["h1"].replace("#", "").strip() == "vae-lessons"
    links = (site / "index.html").read_text()
    for lesson in LESSONS:
        assert f'href="notebooks/{lesson.stem}.html"' in links, f"home page does not link {lesson.stem}"


class _Refs(html.parser.HTMLParser):
    """Every src= and href= in a page, with whether it is a link in the text (an <a> MyST marks
    `reference external`): those may point anywhere; nothing the page loads may."""

    def __init__(self):
        super().__init__()
        self.loaded = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        text_link = tag == "a" and "external" in (attrs.get("class") or "")
        for key in ("src", "href"):
            if attrs.get(key) and not text_link:
                self.loaded.append((tag, attrs[key]))


def test_no_page_loads_anything_from_another_host(site):
    remote = re.compile(r"^(https?:)?//")
    offenders = []
    for page in site.rglob("*.html"):
        refs = _Refs()
        refs.feed(page.read_text())
        offenders += [(page.name, tag, url) for tag, url in refs.loaded if remote.match(url)]
    for sheet in site.rglob("*.css"):
        offenders += [(sheet.name, "css", u) for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", sheet.read_text())]
    assert not offenders, offenders[:10]
