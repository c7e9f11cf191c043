# Two commands: `make replicate` (classroom run of the notebooks) and `make test` (the whole suite).
# Both create .venv on first use. torch==2.13.0 goes in first: here that is a CPU wheel from local disk,
# while an unpinned torch would pull a multi-GB CUDA build. A GPU user installs a CUDA build of torch
# into .venv before the first `make` (see README); the check below then leaves it alone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROFILE ?= classroom
export HF_HUB_OFFLINE := 1
# idle OpenMP threads sleep instead of spinning: much faster on a busy 2-core machine
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: replicate test venv clean-runs

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $@

replicate: venv
	$(PY) -m monosem_lib run --profile $(PROFILE)

test: venv
	$(PY) -m pytest -q

clean-runs:
	rm -rf runs/
