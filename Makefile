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

.PHONY: env lock book notebooks html browser test test-native test-emulated test-book test-slow smoke-refs spread bench bench-gpu bench-loader bench-learning-curve bench-finetune bench-cold-book clean-book

env: $(VENV)/.installed

# The environment is installed from the lock file (every package pinned), then
# the project itself without resolving anything again.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Refresh requirements.lock from pyproject.toml (uv's pip-compile, in a tool venv of its own):
# `make lock` moves every pin to the newest release; `make lock LOCK_UPGRADE=` keeps the
# current pins and only adds what pyproject.toml now asks for.
LOCK_TOOL   := $(CURDIR)/.cache/lock-tool
LOCK_UPGRADE ?= --upgrade
lock:
	test -x $(LOCK_TOOL)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOL) && $(LOCK_TOOL)/bin/pip install -q uv)
	$(LOCK_TOOL)/bin/uv pip compile pyproject.toml --extra dev --extra book --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --annotation-style line $(LOCK_UPGRADE) \
	  --custom-compile-command "make lock" -o requirements.lock

book: notebooks html

notebooks: env
	$(PY) -m sslsv.cli book --profile $(PROFILE)

html: env
	rm -rf _build/html
	mkdir -p .cache
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going 2>&1 | tee .cache/book-build.log
	@! grep -E "(WARNING|ERROR|Traceback)" .cache/book-build.log > /dev/null || (echo "book build logged warnings or errors" && exit 1)
	@test -f _build/html/index.html && echo "book: $(CURDIR)/_build/html/index.html"

# Tests and their regression references run single-threaded: identical numbers on any
# core count (thread partitioning changes float sums), and faster on a shared 2-core box.
# `make test` runs two single-threaded pytest sessions side by side (one core each):
#   test-native    every test, the nbval references included, on this CPU's own kernels;
#   test-emulated  the nbval references again under EMULATE, another machine's kernel path
#                  (the scalar ATen kernels), so that references which only hold on one CPU fail here.
EMULATE ?= ATEN_CPU_CAPABILITY=default
#   test-book      then: the book built from the smoke references and read in headless Chromium.
test: env browser
	@echo "make test: test-native and test-emulated ($(EMULATE)) run side by side; each prints when done"
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-native test-emulated
	@$(MAKE) --no-print-directory test-book

test-native: env
	OMP_NUM_THREADS=1 $(PY) -m pytest

test-emulated: env
	OMP_NUM_THREADS=1 $(EMULATE) $(PY) -m pytest -p no:cacheprovider tests/notebooks

# The rendered book in a real browser (tests/test_book_browser.py, marked `book`): builds the HTML from the
# executed chapters in BOOK_CHAPTERS (default: the smoke references, always in step with the notebooks;
# BOOK_CHAPTERS=book checks the cpu book) under .cache/book-test/, opens every page in headless Chromium
# at 1280 px and keeps a screenshot of each in .cache/book-screenshots/.
BOOK_CHAPTERS ?= tests/notebooks
test-book: env browser
	OMP_NUM_THREADS=1 SSLSV_BOOK_CHAPTERS=$(BOOK_CHAPTERS) $(PY) -m pytest -p no:cacheprovider -m book tests/test_book_browser.py

# Debian's Chromium for the browser test (playwright drives it; `playwright install` is never run).
browser:
	@command -v chromium > /dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

test-slow: env
	OMP_NUM_THREADS=1 $(PY) -m pytest -m slow

# Regenerate the nbval regression references (smoke profile) with the project's own runner.
smoke-refs: env
	rm -rf $(CURDIR)/.cache/smoke-artifacts
	OMP_NUM_THREADS=1 SSLSV_ARTIFACTS=$(CURDIR)/.cache/smoke-artifacts $(PY) -m sslsv.cli book --profile smoke --all --output-dir tests/notebooks

# Measure how far the smoke references move on other kernel paths: execute every notebook
# natively and under each emulated machine (two at a time, one core each), then print the
# largest deviation per kind of metric next to its tolerance in tests/notebooks/tolerances.toml.
# Each host's deviations are added to the cumulative record tests/notebooks/spread/ (one CSV per host and
# day, committed); the summary then shows every kind's largest deviation over all hosts beside its tolerance.
SPREAD_DIR := $(CURDIR)/.cache/spread
SPREAD_RECORD := $(CURDIR)/tests/notebooks/spread
SPREAD_RUNS := native aten_default onednn_avx2
spread-native:       SPREAD_ENV :=
spread-aten_default: SPREAD_ENV := ATEN_CPU_CAPABILITY=default
spread-onednn_avx2:  SPREAD_ENV := ONEDNN_MAX_CPU_ISA=AVX2
spread-%: env
	rm -rf $(SPREAD_DIR)/$* $(SPREAD_DIR)/artifacts-$*
	OMP_NUM_THREADS=1 $(SPREAD_ENV) SSLSV_ARTIFACTS=$(SPREAD_DIR)/artifacts-$* \
	  $(PY) -m sslsv.cli book --profile smoke --all --output-dir $(SPREAD_DIR)/$* > $(SPREAD_DIR)/$*.log 2>&1
spread: env
	mkdir -p $(SPREAD_DIR) $(SPREAD_RECORD)
	$(MAKE) --no-print-directory -j2 $(addprefix spread-,$(SPREAD_RUNS))
	$(PY) tests/reference.py tests/notebooks/tolerances.toml tests/notebooks $(addprefix $(SPREAD_DIR)/,$(SPREAD_RUNS)) \
	  --paths native ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=AVX2 \
	  --against "the references of commit $$(git log -1 --format=%h -- tests/notebooks/*.ipynb)" \
	  --record $(SPREAD_RECORD) --record-dir $(SPREAD_RECORD)

# The device check on one GPU (under 8 min): step times, peak memory, loader throughput and the GPU-hours of
# the paper and gpu plans; one line and exit 0 without CUDA.
bench-gpu: env
	$(PY) benchmarks/bench_gpu.py

# Crops per second against DataLoader workers on a 20k-file VoxCeleb-layout corpus under .cache/ (a few min).
bench-loader: env
	nice -n 10 $(PY) benchmarks/bench_loader.py

# Held-out masked accuracy per single-core minute of the default upstream's pre-training, side by side
# (issue 23's candidates; about 10 single-core minutes a case at the cpu profile; the first case is the reference).
bench-learning-curve: env
	mkdir -p .cache
	OMP_NUM_THREADS=1 nice -n 10 $(PY) benchmarks/bench_learning_curve.py --steps 1000 --eval-every 100 \
	  --case default --case k50 pretrain.n_clusters=50 --case mask10 pretrain.mask_length=10 \
	  --case schedule_2000 optim.schedule_steps=2000 \
	  --json .cache/bench-learning-curve-a.json > .cache/bench-learning-curve-a.log 2>&1 & \
	OMP_NUM_THREADS=1 nice -n 10 $(PY) benchmarks/bench_learning_curve.py --steps 1000 --eval-every 100 \
	  --case lr_3e-3 optim.lr=0.003 --case batch32_500 optim.batch_size=32 optim.steps=500 \
	  --case warmup_200 optim.warmup_steps=200 \
	  --json .cache/bench-learning-curve-b.json > .cache/bench-learning-curve-b.log 2>&1; \
	wait
	$(PY) benchmarks/bench_learning_curve.py --compare .cache/bench-learning-curve-a.json .cache/bench-learning-curve-b.json

# EER and single-core SV training minutes of each fine-tuning recipe in one cell of the map (issue 26), one SV seed:
# the recipes split between two processes (one core each), then the table printed from the cached runs.
FT_SPEAKERS ?= 36
bench-finetune: env
	mkdir -p .cache
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_finetune_protocol.py --speakers $(FT_SPEAKERS) --only 0 1 4 7 > .cache/bench-finetune-a.log 2>&1 & \
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_finetune_protocol.py --speakers $(FT_SPEAKERS) --only 2 3 5 6 > .cache/bench-finetune-b.log 2>&1; \
	wait
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_finetune_protocol.py --speakers $(FT_SPEAKERS)

# The cold `make book` (benchmarks/bench_cold_book.py): a fresh clone of HEAD in $(COLD_DIR)/sslsv with an empty
# artifact root, timed as one command beside the plan's price, its runs checked against this checkout's.
# A build that outlives a session: `make bench-cold-book COLD=--resume` re-issues it in the same clone.
COLD_DIR ?= $(CURDIR)/.cache/cold-book
bench-cold-book: env
	$(PY) benchmarks/bench_cold_book.py --dir $(COLD_DIR) --profile $(PROFILE) $(COLD)

bench: env
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_sv.py
	$(PY) benchmarks/bench_pretrain.py
	$(PY) benchmarks/bench_analysis.py
	$(PY) benchmarks/bench_cli.py
	$(PY) benchmarks/bench_batching.py

clean-book:
	rm -rf _build
