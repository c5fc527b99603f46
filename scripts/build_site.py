"""Build the executed course as a static website, offline, as `make site` does.

    python scripts/build_site.py [OUTDIR]        (default: site/; open OUTDIR/index.html)

The committed notebooks are rendered as they are, never re-executed (MyST-NB with execution off),
so the site shows exactly the outputs that nbval checks. Sphinx's configuration is docs/conf.py;
this script stages what it reads in a temporary folder, changing only how cells are shown:

- the README is the home page, followed by the lessons in order (the sidebar lists them);
- an exercise's solution cell is folded (`hide-input`: its output shows, its code opens on a
  click), and the learner's empty stub (`answer = ...`) is dropped;
- nbval's markers (`# NBVAL_IGNORE_OUTPUT`) are test plumbing, not lesson text: removed from view;
- a cell whose output needs a live kernel (lesson 07's latent explorer) can name, in its metadata
  `site_stand_in`, the id of a cell whose figure the site shows in its place.

Nothing is fetched: MathJax comes from the sphinx-mathjax-offline package, the theme's assets from
sphinx-book-theme, and widget outputs (progress bars) are shown as their saved text, with no
widget manager (see docs/conf.py). tests/test_site.py checks the result in a real browser.
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NBVAL_MARKER = re.compile(r"^# NBVAL_[A-Z_]+\n", re.M)


def lessons():
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def site_notebook(nb):
    """The notebook as the site shows it: stubs dropped, solutions folded, nbval markers gone."""
    images = {c.get("id"): [o for o in c.get("outputs", []) if "image/png" in o.get("data", {})] for c in nb.cells}
    cells = []
    for cell in nb.cells:
        if "site_stand_in" in cell.metadata:
            cell.outputs = images[cell.metadata["site_stand_in"]]
            if not cell.outputs:
                raise ValueError(f"site_stand_in {cell.metadata['site_stand_in']!r}: no cell with that id and a figure")
        tags = cell.metadata.get("tags", [])
        if "student" in tags:
            continue
        if "solution" in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
        if cell.cell_type == "code":
            cell.source = NBVAL_MARKER.sub("", cell.source)
        cells.append(cell)
    nb.cells = cells
    return nb


def home_page(readme, names):
    """README.md as the site's index: links to files the site does not carry become plain text,
    and a toctree lists the lessons in teaching order."""
    body = re.sub(r"\[([^\]]+)\]\((?!https?://|#)([^)]+)\)", r"\1 (`\2` in the repository)", readme)
    toctree = "\n".join(["", "```{toctree}", ":maxdepth: 1", ":caption: Lessons", "",
                         *[f"notebooks/{n}" for n in names], "```", ""])
    return body + toctree


def stage(folder):
    """Write the site's sources (index.md, notebooks/*.ipynb) into folder."""
    (folder / "notebooks").mkdir(parents=True)
    for path in lessons():
        nb = site_notebook(nbformat.read(path, as_version=4))
        nbformat.write(nb, folder / "notebooks" / path.name)
    names = [p.stem for p in lessons()]
    (folder / "index.md").write_text(home_page((ROOT / "README.md").read_text(), names))


def build(outdir):
    """Build the site into outdir; returns the path of its index.html. The sources are staged in
    a temporary folder, so two builds (make site, the tests) never share one."""
    with tempfile.TemporaryDirectory(prefix="vae-lessons-site-") as tmp:
        source = Path(tmp) / "src"
        stage(source)
        # -W: a warning (a broken reference, an unrenderable output) fails the build instead of
        # leaving a silently broken page; -E: no stale pages from an earlier build.
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-W", "--keep-going", "-q",
               "-c", str(ROOT / "docs"), "-d", str(Path(tmp) / "doctrees"), str(source), str(outdir)]
        subprocess.run(cmd, check=True)
    return Path(outdir) / "index.html"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "site"
    index = build(out)
    print(f"built {index}: open it in a browser, or `python -m http.server -d {out}`")
