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

.PHONY: course test unit notebooks execute student subset benchmark clean

# The stamp re-runs the install whenever pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(PIP_OPTS) "torch==2.13.0" -e ".[course,test]"
	touch $@

# JupyterLab refuses to run as root unless told; containers often are root.
course: $(BIN)/.installed
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_start_here.ipynb

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q tests $(NOTEBOOKS) --nbval-lax --nbval-current-env

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q tests

notebooks: $(BIN)/.installed
	$(BIN)/python -m pytest -q $(NOTEBOOKS) --nbval-lax --nbval-current-env

# Re-execute every notebook in place, top to bottom, so committed outputs stay true
# (exercise stubs, tagged `student`, are left for the learner), then refresh the student copies.
execute: $(BIN)/.installed
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 \
	  --ExecutePreprocessor.skip_cells_with_tag=student --ExecutePreprocessor.record_timing=False $(NOTEBOOKS)
	$(BIN)/python scripts/make_student_copies.py

# Student copies of the lessons (solutions removed) in student/.
student: $(BIN)/.installed
	$(BIN)/python scripts/make_student_copies.py

# Rebuild the bundled MNIST subset from the original files; `git diff` should then be empty.
subset: $(BIN)/.installed
	$(BIN)/python scripts/make_mnist_subset.py $(VAE_LESSONS_DATA)/mnist

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/notebook_times.py $(NOTEBOOKS)

clean:
	rm -rf $(VENV) build *.egg-info
