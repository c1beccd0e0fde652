# Three commands for a new user: `make serve`, `make lab` and `make test`.
# All create .venv on first use and are fast the second time.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.orthoviz-installed
# The CPU build of torch; override TORCH_SPEC (and PIP_EXTRA, e.g. an index option)
# elsewhere. Where torch >= 2.2 is already installed system-wide (a GPU machine), the
# venv sees it and it is kept.
TORCH_SPEC ?= torch==2.13.0
PIP_EXTRA  ?=
PORT       ?= 5006

LAB_PORT  ?= 8888

.PHONY: serve lab test test-fast bench lint clean chromium

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	  if $(PYTHON) -c "import torch, sys; v = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(0 if v >= (2, 2) else 1)" 2>/dev/null; then \
	    echo "Using the system torch (>= 2.2) in .venv"; $(PYTHON) -m venv --system-site-packages $(VENV); \
	  else $(PYTHON) -m venv $(VENV); fi; fi
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(PIP_EXTRA) "$(TORCH_SPEC)"
	$(BIN)/pip install -q $(PIP_EXTRA) -e ".[dev]"
	@touch $(STAMP)

serve: $(STAMP)
	$(BIN)/orthoviz serve --port $(PORT)

# JupyterLab on notebooks/, its kernel the venv's python (the `lab` extra, part of
# `dev`, adds jupyterlab and jupyter_bokeh, which renders Panel output through
# ipywidgets comms in JupyterLab, VS Code and Colab).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port $(LAB_PORT) \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Browser tests need Chromium from the OS packages (never `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: browser tests will be skipped"; \
	  else echo "chromium not found (apt-get as root unavailable): browser tests will be skipped"; fi; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -m "not slow and not gpu" $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not gpu and not ui" -x $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/neural_collapse.py
	$(BIN)/python benchmarks/random_features.py
	$(BIN)/python benchmarks/transfer.py --rev bdd1609
	$(BIN)/python benchmarks/hierarchical.py
	$(BIN)/python benchmarks/live_styles.py

lint: $(STAMP)
	$(BIN)/ruff check orthoviz tests apps benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
