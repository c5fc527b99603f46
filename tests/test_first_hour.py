"""What a new learner meets first: `make course` (what it installs, where the lab opens) and the
README's command-line section (it starts with a run on the bundled subset that just works)."""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CPU_WHEEL = 'PIP_OPTS="--extra-index-url https://download.pytorch.org/whl/cpu"'


def make_dry_run(*args):
    """What `make -n ARGS` would run. Under `make test` the parent's flags and variables are
    in the environment: they are dropped, so that the answer is the Makefile's own."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PIP_OPTS")}
    return subprocess.run(["make", "-n", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout


def test_the_lab_shows_the_whole_repository_and_opens_lesson_00():
    lab = [line for line in make_dry_run("course").splitlines() if "jupyter lab" in line]
    assert len(lab) == 1
    words = shlex.split(lab[0])
    assert f"--ServerApp.root_dir={ROOT}" in words
    assert words[-1] == "notebooks/00_start_here.ipynb" and (ROOT / words[-1]).is_file()


def test_the_install_says_what_it_installs_and_shows_progress():
    recipe = make_dry_run("-W", "pyproject.toml", ".venv/bin/.installed", "PIP_OPTS=")
    assert "Installing into .venv: PyTorch 2.13.0" in recipe
    assert CPU_WHEEL.replace('"', '\\"') in recipe  # the CPU-wheel hint, while it can still help
    pip = [line for line in recipe.splitlines() if "pip install" in line]
    assert len(pip) == 1 and " -q" not in pip[0]
    assert "PIP_OPTS" not in make_dry_run("-W", "pyproject.toml", ".venv/bin/.installed", "PIP_OPTS=--no-cache-dir")


def code_blocks(section):
    text = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", text, re.S)]


def test_the_cpu_wheel_option_stands_beside_make_course():
    blocks = code_blocks("Two commands")
    assert blocks[0] == ["make course"] and blocks[1] == [f"make course {CPU_WHEEL}"]


def test_the_cli_section_starts_with_a_bundled_subset_run_that_works(tmp_path):
    from vae_lessons.cli import build_parser
    first, *others = [line.split("#")[0].split() for block in code_blocks("Training from the command line")
                      for line in block]
    assert first[:4] == [".venv/bin/python", "-m", "vae_lessons", "train"] and "--dataset" not in first
    assert {w for w in others[0] if w.startswith("--")} == {"--out", "--resume", "--epochs"}  # no other option
    for command in others:
        build_parser().parse_args(command[3:])  # every example parses
    out = first.index("--out") + 1
    first[out] = str(tmp_path / "first")
    done = subprocess.run([sys.executable, *first[1:], "--no-progress"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "first" / "summary.json").is_file()
