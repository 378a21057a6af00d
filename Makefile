# Two commands for a fresh machine:  `make pipeline`  and  `make test`.
# `make setup` is the one install entry point, on a CPU machine and on a GPU pod alike: every
# package comes from requirements/lock.txt (exact versions and sha256 hashes, made by `make lock`
# with uv). A CPU machine gets the lock's torch, the pinned CPU build (requirements/cpu.txt). A GPU
# pod whose Python already has a CUDA torch keeps that torch (the venv sees the system
# site-packages) and installs everything else from the lock, minus what only torch needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
THREADS ?= 1
JOBS   ?= auto
LOCK   := requirements/lock.txt
# auto: keep the CUDA torch of $(PYTHON) if it has one, else the lock's CPU build.
# TORCH=system keeps whatever torch $(PYTHON) has; TORCH=cpu always installs the lock's.
TORCH  ?= auto
# Extra flags for `make lock`, e.g. LOCK_FLAGS=--upgrade (everything newest) or
# LOCK_FLAGS='--upgrade-package pandas'. Without them the pins already in the lock are kept.
LOCK_FLAGS ?=
# uv reads no pip configuration: hand it the wheel folders pip is set up with (a machine may keep
# the torch CPU wheel in one). Set UV_FIND_LINKS or UV_INDEX_URL for other sources. The lock's
# hashes fix what is installed, whatever the source.
UV_SOURCES = $(foreach link,$(sort $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)),--find-links $(link))
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
KEEP_SYSTEM_TORCH := [ "$(TORCH)" = system ] || { [ "$(TORCH)" = auto ] && $(PYTHON) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; }

.PHONY: setup lock pipeline test check lint bench clean-venv

setup: $(VENV)/.moola-installed

# The venv and uv in it (pip checks uv's hashes). A pod's venv sees the system site-packages.
$(BIN)/uv: requirements/uv.txt
	@if [ ! -x $(BIN)/python ]; then \
		if $(KEEP_SYSTEM_TORCH); then \
			echo "make setup: keeping the torch of $(PYTHON) (venv with system site-packages)"; \
			$(PYTHON) -m venv --system-site-packages $(VENV); \
		else \
			$(PYTHON) -m venv $(VENV); \
		fi; \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check -q --require-hashes --no-deps -r requirements/uv.txt
	@touch $@

# --compile-bytecode: the .pyc files come with the install, so no process recompiles torch or dvc,
# even where PYTHONDONTWRITEBYTECODE is set (every `dvc repro` of the suite starts two such processes).
$(VENV)/.moola-installed: $(BIN)/uv pyproject.toml $(LOCK)
	@set -e; started=$$(date +%s%N); \
	if grep -qi '^include-system-site-packages *= *true' $(VENV)/pyvenv.cfg; then \
		PYTHONPATH=src $(BIN)/python -m moola.environment pod-lock > $(VENV)/lock-without-torch.txt; \
		echo "make setup: $(LOCK) without torch and what only torch needs; torch $$($(BIN)/python -c 'import torch; print(torch.__version__)' 2>/dev/null || echo missing) from the system"; \
		lock=$(VENV)/lock-without-torch.txt; \
	else \
		lock=$(LOCK); \
	fi; \
	$(BIN)/uv pip install --python $(BIN)/python --require-hashes --compile-bytecode $(UV_SOURCES) -r $$lock; \
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .; \
	touch $@; \
	echo "make setup: installed from $(LOCK) in $$(( ($$(date +%s%N) - started) / 1000000 )) ms"

# Regenerate the lock from pyproject.toml (dependencies + test extra) and requirements/cpu.txt,
# and uv's own pin from requirements/uv.in; then stamp the lock with a hash of those inputs
# (tests/test_lock.py fails when they disagree). One command after any dependency edit.
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra test --constraint requirements/cpu.txt --generate-hashes \
		$(LOCK_TARGET) --custom-compile-command "make lock" $(UV_SOURCES) $(LOCK_FLAGS) -o $(LOCK)
	$(BIN)/uv pip compile requirements/uv.in --generate-hashes \
		$(LOCK_TARGET) --custom-compile-command "make lock" -q -o requirements/uv.txt
	PYTHONPATH=src $(BIN)/python -m moola.environment stamp

pipeline: setup
	PATH="$(abspath $(BIN)):$$PATH" MOOLA_THREADS=$${MOOLA_THREADS:-1} $(BIN)/dvc repro

# The suite runs on every core (pytest-xdist), one test file per worker so a file's fixtures are
# built once; each test's own processes use MOOLA_THREADS threads. JOBS=0: one process.
test: setup
	PATH="$(abspath $(BIN)):$$PATH" MOOLA_THREADS=$(THREADS) $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile

# The edit loop: lint, then the fast tests only (no DVC, S3 or pod system tests).
check: lint
	PATH="$(abspath $(BIN)):$$PATH" MOOLA_THREADS=$(THREADS) $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile -m "not slow"

# ruff: lint (pyflakes, pycodestyle, bugbear, imports, security) and the formatter, in seconds.
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: setup
	@for script in benchmarks/bench_*.py; do echo "== $$script"; PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python $$script || echo "== $$script exited $$? (see its docstring for what it needs)"; done

clean-venv:
	rm -rf $(VENV)
