# Two commands do all set-up: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
INDEX  ?= index
CORPUS ?= corpus
QUESTION ?= How many Met officers are in regular psychological monitoring?

.PHONY: install index run test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# constraints.txt pins the CPU build of torch; without it pip pulls a multi-GB CUDA wheel.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Incremental: only new or changed files are embedded; a no-op costs a hash per file.
# Exit status 1 means some files could not be indexed (listed above); the rest are searchable.
index: install
	$(BIN)/evidence-search index $(CORPUS) --index $(INDEX) || [ $$? -eq 1 ]

run: index
	$(BIN)/evidence-search query "$(QUESTION)" --index $(INDEX) -k 3

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check search tests

bench: install
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) $(INDEX)/gen-* $(INDEX)/CURRENT $(INDEX)/.lock
