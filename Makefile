# vae-lessons. Two commands do everything on a fresh machine:
#   make course   set up .venv and open the course in JupyterLab
#   make test     set up .venv, run every unit test and execute every notebook (nbval)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP_OPTS ?=
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Full MNIST / Fashion-MNIST for the tests that need them (they skip without): use the
# caller's $VAE_LESSONS_DATA, else a ../shared/data folder if one sits beside the clone.
VAE_LESSONS_DATA ?= $(firstword $(wildcard $(CURDIR)/../shared/data))
export VAE_LESSONS_DATA

.PHONY: course test unit notebooks execute student site subset pretrained benchmark clean

CPU_WHEEL := --extra-index-url https://download.pytorch.org/whl/cpu

# The stamp re-runs the install whenever pyproject.toml changes. It says what it installs and
# shows pip's progress: PyTorch alone takes a while, and PyPI's Linux build is the CUDA one.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV): PyTorch 2.13.0, the vae_lessons package (editable), JupyterLab, ipywidgets, pytest, nbval, hypothesis, Playwright, Sphinx with MyST-NB"
	$(if $(PIP_OPTS),,@echo "(On Linux PyPI's PyTorch bundles CUDA, several GB; for the small CPU-only wheel: Ctrl-C, then make $(or $(MAKECMDGOALS),course) PIP_OPTS=\"$(CPU_WHEEL)\")")
	$(BIN)/python -m pip install $(PIP_OPTS) "torch==2.13.0" -e ".[course,test,site]"
	touch $@

# JupyterLab rooted at the repository, so that student/, the README and the package's source
# are in its file browser, opening on lesson 00. It refuses to run as root unless told;
# containers often are root.
course: $(BIN)/.installed
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.root_dir="$(CURDIR)" notebooks/00_start_here.ipynb

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q tests $(NOTEBOOKS) --nbval-lax --nbval-current-env

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q tests

notebooks: $(BIN)/.installed
	$(BIN)/python -m pytest -q $(NOTEBOOKS) --nbval-lax --nbval-current-env

# Re-execute every notebook in place, top to bottom, so committed outputs stay true
# (exercise stubs, tagged `student`, are left for the learner; no timing metadata is written;
# progress bars keep their final state), then refresh the student copies.
# One lesson: make execute NOTEBOOKS=notebooks/06_vae_mnist.ipynb
execute: $(BIN)/.installed
	$(BIN)/python scripts/execute_notebooks.py $(NOTEBOOKS)
	$(BIN)/python scripts/make_student_copies.py

# Student copies of the lessons (solutions removed) in student/.
student: $(BIN)/.installed
	$(BIN)/python scripts/make_student_copies.py

# The executed course as a static website in site/ (open site/index.html), built offline from the
# committed notebooks without re-executing them: about 10 seconds.
site: $(BIN)/.installed
	$(BIN)/python scripts/build_site.py site

# Rebuild the bundled MNIST and Fashion-MNIST subsets from the original files; `git diff` should then be empty.
subset: $(BIN)/.installed
	$(BIN)/python scripts/make_subsets.py $(VAE_LESSONS_DATA)

# Train the models whose weights ship in vae_lessons/pretrained/ (lesson 14 loads them) and write
# their MANIFEST.json (SHA-256, command, per-epoch scores): about 10 minutes on 2 CPU cores.
# Training is deterministic, so on the machine that made them `git diff` shows only the timings.
pretrained: $(BIN)/.installed
	rm -rf runs/pretrained
	$(BIN)/python scripts/make_pretrained.py

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/notebook_times.py $(NOTEBOOKS)

clean:
	rm -rf $(VENV) build site *.egg-info
