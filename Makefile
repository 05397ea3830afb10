# The two commands: `make demo` runs the platform, `make test` tests it. Both set everything up
# first (virtualenv + project from pyproject.toml, npm tools from package-lock.json) when needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.sge-installed
NPM_STAMP := node_modules/.sge-installed
PYTEST_ARGS ?=
# The slow (soak) tier's wall-clock cap: `timeout` interrupts the run after this long.
SLOW_TIMEOUT ?= 30m

.PHONY: setup lock demo dev test test-fast test-slow lint smoke bench clean

setup: $(PY_STAMP) $(NPM_STAMP)

# Every Python dependency comes from the hashed lock file; the project itself is installed on top
# (editable, no dependency resolution). `make lock` regenerates the lock after pyproject.toml changes.
$(PY_STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

lock: $(PY_STAMP)
	$(BIN)/uv pip compile pyproject.toml requirements-build.in --extra test --extra lint --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu -o requirements.lock -q
	$(BIN)/uv pip compile pyproject.toml requirements-build.in -c requirements.lock --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu -o ops/deploy/requirements-image.lock -q

$(NPM_STAMP): package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node >= 18) is required"; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

## Run the platform: bring the local stack up, run demo flows through it, keep it up until Ctrl-C.
demo: setup
	$(BIN)/sge demo

## The local stack alone (no demo flows), until Ctrl-C.
dev: setup
	$(BIN)/sge dev up

## Test it: the whole suite but the slow tier (SQLite; PostgreSQL when SGE_TEST_DATABASE_URL is set).
test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

## The fast tier: no servers, no processes (tests/conftest.py says what counts); under a minute.
test-fast: setup
	$(BIN)/pytest -m "not integration and not slow" $(PYTEST_ARGS)

## The slow tier (soak-like tests), capped at SLOW_TIMEOUT. None selected is a pass (exit 5).
test-slow: setup
	@echo "slow tier: capped at $(SLOW_TIMEOUT)"
	@timeout --signal=INT --kill-after=60 $(SLOW_TIMEOUT) $(BIN)/pytest -m slow $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "slow tier: no slow tests selected"; exit 0; fi; \
	if [ $$rc -eq 124 ]; then echo "slow tier: exceeded its cap of $(SLOW_TIMEOUT)"; fi; exit $$rc

## Lint: ruff (rules and formatting) and mypy, as configured in pyproject.toml.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Start the stack once and stop it as soon as everything is ready (CI).
smoke: setup
	$(BIN)/sge dev up --smoke

## The main job's benchmark on a fresh embedded stack (prints flows/s and latencies).
bench: setup
	$(BIN)/sge bench onboarding

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
