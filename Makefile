# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv

.PHONY: demo test lint bench dev ui-check

demo:            ## install, start a local S3 server, register generated images, print summary
	bash scripts/demo.sh

test:            ## install everything (PostgreSQL from apt, Python deps) and run the whole suite
	bash scripts/test.sh

ui-check:        ## `dagster dev` + its UI in headless Chromium (also part of `make test`); refreshes the docs/ screenshot
	ORCHESTRATION_PKG_REQUIRE_BROWSER=1 AWS_EC2_METADATA_DISABLED=true \
	ORCHESTRATION_PKG_UI_SCREENSHOT=docs/dagster-folder-asset.png \
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_dagster_ui.py

lint:
	$(VENV)/bin/ruff check orchestration_pkg tests bench
	$(VENV)/bin/ruff format --check orchestration_pkg tests bench

bench:           ## benchmarks on loopback moto (not part of the test suite)
	$(VENV)/bin/python bench/bench_register.py

dev:             ## the demo's S3 server + `dagster dev` on the demo config (UI on http://127.0.0.1:3000)
	VENV=$(VENV) bash scripts/dev.sh
