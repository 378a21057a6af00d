# Two commands for a fresh machine:  `make pipeline`  and  `make test`.
# A CPU machine gets the pinned CPU build of torch (requirements/cpu.txt). A GPU pod whose
# system Python already has a CUDA torch keeps it: the venv then sees system site-packages.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
THREADS ?= 1

.PHONY: setup pipeline test bench clean-venv

setup: $(VENV)/.moola-installed

$(VENV)/.moola-installed: pyproject.toml requirements/cpu.txt
	@if $(PYTHON) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then \
		echo "CUDA torch found in $(PYTHON): keeping it (venv with system site-packages)"; \
		$(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
		$(PYTHON) -m venv $(VENV); \
		$(BIN)/pip install --disable-pip-version-check -q -r requirements/cpu.txt; \
	fi
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	@touch $@

pipeline: setup
	PATH="$(abspath $(BIN)):$$PATH" MOOLA_THREADS=$${MOOLA_THREADS:-1} $(BIN)/dvc repro

test: setup
	PATH="$(abspath $(BIN)):$$PATH" MOOLA_THREADS=$(THREADS) $(BIN)/python -m pytest -q

bench: setup
	@for script in benchmarks/bench_*.py; do echo "== $$script"; PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python $$script || echo "== $$script exited $$? (see its docstring for what it needs)"; done

clean-venv:
	rm -rf $(VENV)
