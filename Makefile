# The two commands a fresh machine needs are `make demo` and `make test`; each bootstraps the
# environment (uv, then the locked dependencies) when it is missing.
PYTHON ?= python3
# uv from PATH if there is one, else the one pip installs for $(PYTHON) (run as a module, so it
# does not matter which bin folder pip put it in).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
STAMP := $(VENV)/.synced
RUN := $(UV) run --frozen --no-sync

.PHONY: demo test lint bench bench-app docs env clean wheel-test

$(STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --frozen --all-groups
	@touch $(STAMP)

env: $(STAMP)

# The chat server (examples/chat/app.py) under uvicorn, driven by real HTTP and websocket
# clients, stopped with SIGTERM; then what was written, dropped, and what it cost.
demo: $(STAMP)
	$(RUN) python examples/demo.py

test: $(STAMP)
	$(RUN) pytest -q

lint: $(STAMP)
	$(RUN) ruff check telemetry tests examples bench .ci _aiotelemetry_pytestplugin.py
	$(RUN) ruff format --check telemetry _aiotelemetry_pytestplugin.py
	$(RUN) mypy telemetry _aiotelemetry_pytestplugin.py

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(RUN) mkdocs build --strict

# The suite against the built wheel in clean environments: core only, [fastapi], every extra
# (`make wheel-test PROFILES=core` for one).
wheel-test: $(STAMP)
	UV="$(UV)" $(RUN) python .ci/profiles.py $(PROFILES)

# Results go to bench/results/ (not kept in git); the docs show bench/published.md.
bench: $(STAMP)
	$(RUN) python bench/run.py
	$(RUN) python bench/service.py

# The service benchmark alone: FastAPI under uvicorn loaded by wrk (apt-get install wrk).
bench-app: $(STAMP)
	$(RUN) python bench/service.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
