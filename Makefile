# The two commands of the README: `make demo` and `make test`.
# Everything they need is set up here, from a machine with Python 3.11 and Node.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nbgrad-installed

.PHONY: setup browser demo test lint pytest jstest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
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

test: lint pytest

bench: setup
	$(BIN)/python -m pip install -q ".[bench]"
	$(BIN)/python benchmarks/bench_gradcheck.py
	$(BIN)/python benchmarks/bench_determinism.py

clean:
	rm -rf $(VENV) build dist node_modules nbgrad/labextension labextension/lib
