"""The project's promises about itself: one dependency list in two formats, the CI command
is the README's, and every lesson is committed executed, with its figures and its anatomy."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONDA_NAMES = {"pytorch": "torch"}


def pyproject():
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement(spec):
    """'numpy>=1.24' -> ('numpy', '>=1.24'); conda's 'pytorch=2.13.0=cpu_*' -> ('torch', '==2.13.0')."""
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", spec.strip())
    name, rest = m.group(1).lower(), m.group(2).replace(" ", "")
    if re.fullmatch(r"=[^=<>]+(=.*)?", rest):  # conda pin: =version[=build]
        rest = "==" + rest[1:].split("=")[0]
    return CONDA_NAMES.get(name, name), rest


def conda_dependencies():
    """environment.yml's packages: conda-forge's, and those under pip: (not on conda-forge)."""
    deps, in_deps = [], False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if re.match(r"^\S", line):
            in_deps = line.startswith("dependencies:")
        elif in_deps and re.match(r"^  - |^      - ", line):
            deps.append(line.strip()[2:].split("#")[0].strip())
    return dict(requirement(d) for d in deps
                if d not in ("pip", "pip:", "-e .") and not d.startswith("python"))


def test_environment_yml_matches_pyproject():
    project = pyproject()
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    assert conda_dependencies() == dict(requirement(s) for s in specs)
    assert "conda-forge" in (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- -e \.\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_torch_is_pinned_for_the_cpu_wheel():
    assert "torch==2.13.0" in pyproject()["dependencies"]
    assert '"torch==2.13.0"' in (ROOT / "Makefile").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    lines = (ROOT / ".ci" / "run").read_text().split("\nfi\n")  # the browser's install, then the rest
    assert "apt-get install -y -qq chromium" in lines[0] and "export CI=true" in lines[0]
    commands = [line for line in lines[-1].splitlines()
                if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands == ["make test"]
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"```(?:sh|bash)?\n(?:#.*\n)*make test\n```", readme)
    assert re.search(r"```(?:sh|bash)?\n(?:#.*\n)*make course\n```", readme)


def test_subset_carries_its_licence_notice():
    notice = " ".join((ROOT / "vae_lessons" / "mnist_subset" / "NOTICE.md").read_text(encoding="utf-8").split())
    for words in ("CC BY-SA 3.0", "LeCun", "Cortes", "creativecommons.org/licenses/by-sa/3.0", "first 1,000"):
        assert words in notice


def test_fashion_subset_carries_the_mit_notice_and_class_names():
    from vae_lessons.data import FASHION_CLASSES
    notice = " ".join((ROOT / "vae_lessons" / "fashion_mnist_subset" / "NOTICE.md").read_text(encoding="utf-8").split())
    # MIT: the copyright notice and the permission notice must be kept with every copy
    for words in ("Copyright (c) 2017 Zalando SE", "Copyright © 2017 Zalando SE", "Xiao", "arXiv:1708.07747",
                  "Permission is hereby granted, free of charge, to any person obtaining a copy",
                  "The above copyright notice and this permission notice shall be included in all copies "
                  "or substantial portions of the Software.", 'THE SOFTWARE IS PROVIDED “AS IS”',
                  "first 1,000", "no timestamp", "scripts/make_subsets.py"):
        assert words in notice, words
    assert all(f"| {label} | {name} |" in notice for label, name in enumerate(FASHION_CLASSES))


def test_every_bundled_subset_is_package_data_with_its_notice():
    """An installed wheel holds each subset folder: the loaders read it from the package."""
    tomllib = pytest.importorskip("tomllib")
    from vae_lessons.data import FASHION_MNIST, MNIST
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["vae_lessons"]
    for spec in (MNIST, FASHION_MNIST):
        assert f"{spec.subset}/*" in globs
        assert f"vae_lessons/{spec.subset}/NOTICE.md" in config["project"]["license"]["text"]
        assert {"NOTICE.md", "SHA256SUMS"} <= {p.name for p in (ROOT / "vae_lessons" / spec.subset).iterdir()}


def test_notebooks_are_numbered_in_teaching_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(NOTEBOOKS))) and len(numbers) >= 2
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed_with_figures(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "student" not in c["metadata"].get("tags", [])]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "not executed top to bottom: run `make execute`"
    for c in code:
        assert not any(o["output_type"] == "error" for o in c["outputs"]), "".join(c["source"])[:80]
        if "plt.show()" in "".join(c["source"]):
            assert any("image/png" in o.get("data", {}) for o in c["outputs"]), "a plot cell has no PNG"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_anatomy(path):
    nb = json.loads(path.read_text())
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert markdown[0].startswith("# ") and "**You will learn**" in markdown[0]
    text = "\n".join(markdown)
    assert "## Summary" in text and "## Exercises" in text
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert "checks." in "\n".join(sources), "a lesson without a single check"
    for s in sources:
        if "plt.show()" in s:
            assert s.rstrip().endswith("plt.show()"), "end plot cells with plt.show()"
