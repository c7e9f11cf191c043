# Two commands: `make replicate` (classroom run of the notebooks) and `make test` (the whole suite).
# Both create .venv on first use. torch==2.13.0 goes in first: here that is a CPU wheel from local disk,
# while an unpinned torch would pull a multi-GB CUDA build. A GPU user installs a CUDA build of torch
# into .venv before the first `make` (see README); the check below then leaves it alone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROFILE ?= classroom
export HF_HUB_OFFLINE := 1
# No OMP_WAIT_POLICY=PASSIVE here: it helps the test suite (many processes at once: conftest.py sets it there) but
# makes a notebook kernel's small ops wake sleeping threads every time (notebook 00: 45 s instead of 21 s).

.PHONY: replicate test test-slow test-all test-tl4 lint student venv clean-runs

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $@

replicate: venv
	$(PY) -m monosem_lib run --profile $(PROFILE)

# `make test`: ruff (`make lint`), then every unit test, nbval on every notebook (smoke) and the end-to-end smoke run, the 15 slowest
# printed; the slow suites (SIGKILL fault injection, torchrun, batch, headless Chromium) are `make test-slow`,
# and `make test-all` runs both. .ci/run calls `make test`, then `make test-slow` while its time budget allows.
test: venv lint
	$(PY) -m pytest -q -m "not slow" --durations=15

# `make lint`: ruff with the rules in pyproject.toml (the library, tests, benchmarks, data script and notebooks)
lint: venv
	$(PY) -m ruff check .

test-slow: venv
	$(PY) -m pytest -q -m slow --durations=15

test-all: venv
	$(PY) -m pytest -q --durations=15

# TransformerLens 4.x (TransformerBridge) overlaid on the interop venv: sae-lens 6.54 pins TL < 4, so the
# 4.x export is tested with TL 4.3 in a side folder put first on PYTHONPATH (its other dependencies are
# the ones TL 3.9 already brought). .ci/run calls this after `make test`.
TL4 ?= 4.3.0
test-tl4: venv
	$(PY) -m pip install -q --no-deps --target $(VENV)/tl4 transformer-lens==$(TL4)
	PYTHONPATH=$(VENV)/tl4 $(PY) -m pytest -q tests/lm/test_hooked.py

# `make student`: copies of the notebooks in student/ in which every implement-and-check exercise holds its stub
# (it raises NotImplementedError until filled in) with the solution folded under it; the shipped ones stay solved.
student: venv
	$(PY) -m monosem_lib student --out student

clean-runs:
	rm -rf runs/
