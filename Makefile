# sslsv: two commands on a fresh machine.
#   make book   create the environment if missing, run every study notebook at
#               PROFILE (default cpu) with papermill, build the HTML book
#   make test   create the environment if missing, run the test suite
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= cpu
PY      := $(VENV)/bin/python

# Keep caches inside the project, not in the user's home directory.
export XDG_CACHE_HOME      := $(CURDIR)/.cache
export PIP_CACHE_DIR       := $(CURDIR)/.cache/pip
export MPLCONFIGDIR        := $(CURDIR)/.cache/matplotlib
export HF_HOME             := $(CURDIR)/.cache/huggingface
export TORCH_HOME          := $(CURDIR)/.cache/torch
export IPYTHONDIR          := $(CURDIR)/.cache/ipython
export JUPYTER_DATA_DIR    := $(CURDIR)/.cache/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/.cache/jupyter/runtime
export JUPYTER_CONFIG_DIR  := $(CURDIR)/.cache/jupyter/config
export HF_HUB_OFFLINE      := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: env book notebooks html test test-slow smoke-refs bench clean-book

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[dev,book]"
	touch $@

book: notebooks html

notebooks: env
	$(PY) -m sslsv.cli book --profile $(PROFILE)

html: env
	rm -rf _build/html
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going 2>&1 | tee .cache/book-build.log
	@! grep -E "(WARNING|ERROR|Traceback)" .cache/book-build.log > /dev/null || (echo "book build logged warnings or errors" && exit 1)
	@test -f _build/html/index.html && echo "book: $(CURDIR)/_build/html/index.html"

# Tests and their regression references run single-threaded: identical numbers on any
# core count (thread partitioning changes float sums), and faster on a shared 2-core box.
test: env
	OMP_NUM_THREADS=1 $(PY) -m pytest

test-slow: env
	OMP_NUM_THREADS=1 $(PY) -m pytest -m slow

# Regenerate the nbval regression references (smoke profile) with the project's own runner.
smoke-refs: env
	rm -rf $(CURDIR)/.cache/smoke-artifacts
	OMP_NUM_THREADS=1 SSLSV_ARTIFACTS=$(CURDIR)/.cache/smoke-artifacts $(PY) -m sslsv.cli book --profile smoke --all --output-dir tests/notebooks

bench: env
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_sv.py
	$(PY) benchmarks/bench_pretrain.py
	$(PY) benchmarks/bench_analysis.py

clean-book:
	rm -rf _build
