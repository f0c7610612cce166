# The two commands of the README: `make demo` and `make test`.
# Everything they need is set up here, from a machine with Python 3.11 and Node.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nbgrad-installed

.PHONY: setup browser demo test lint pytest jstest bench gpu-check clean

setup: $(STAMP)

# The editable install's build hook (hatch-jupyter-builder) runs `jlpm install`
# and builds the JupyterLab extension into nbgrad/labextension once;
# `labextension develop` links it into the venv so `jupyter lab` loads it.
$(STAMP): pyproject.toml package.json yarn.lock $(wildcard labextension/src/*.ts labextension/style/*)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install -e ".[test]"
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter labextension develop --overwrite .
	touch $@

# Debian's Chromium for the browser tests (no browser downloads work here).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

demo: setup
	$(BIN)/python -m nbgrad run examples/*.ipynb --output-dir build/demo

lint: setup
	$(BIN)/ruff check nbgrad tests benchmarks

pytest: setup browser
	$(BIN)/python -m pytest

test: lint pytest jstest

# Unit tests of the extension's list model (jest, node_modules from setup).
jstest: setup
	$(BIN)/jlpm test

bench: setup
	$(BIN)/python -m pip install -q ".[bench]"
	$(BIN)/python benchmarks/bench_gradcheck.py
	$(BIN)/python benchmarks/bench_determinism.py

# GPU verification kit (issue 12): every CuPy path in one command, ≤ 5 minutes, results in
# build/gpu-check/RESULTS_gpu.md.  Without CuPy or a GPU: one line, exit 0.  Needs no
# setup: the venv's Python when there is one, else python3 (the lent GPU machine has no
# venv; there run benchmarks/device_wheels.sh here first, then the one device call in
# the docstring of benchmarks/gpu_check.py, which carries .whl).
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:
	@$(GPU_PYTHON) benchmarks/gpu_check.py --out build/gpu-check

clean:
	rm -rf $(VENV) build dist node_modules nbgrad/labextension labextension/lib
