# The two commands: `make demo` runs the platform, `make test` tests it. Both set everything up
# first (virtualenv + project from pyproject.toml, npm tools from package-lock.json) when needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.sge-installed
NPM_STAMP := node_modules/.sge-installed
PYTEST_ARGS ?=

.PHONY: setup lock demo dev test smoke bench clean

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

## Test it: the whole suite (SQLite; PostgreSQL when SGE_TEST_DATABASE_URL is set).
test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

## Start the stack once and stop it as soon as everything is ready (CI).
smoke: setup
	$(BIN)/sge dev up --smoke

## The main job's benchmark on a fresh embedded stack (prints flows/s and latencies).
bench: setup
	$(BIN)/sge bench onboarding

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
