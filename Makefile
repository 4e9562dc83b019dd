# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv

.PHONY: demo test lint bench dev

demo:            ## install, start a local S3 server, register generated images, print summary
	bash scripts/demo.sh

test:            ## install everything (PostgreSQL from apt, Python deps) and run the whole suite
	bash scripts/test.sh

lint:
	$(VENV)/bin/ruff check orchestration_pkg tests bench
	$(VENV)/bin/ruff format --check orchestration_pkg tests bench

bench:           ## benchmarks on loopback moto (not part of the test suite)
	$(VENV)/bin/python bench/bench_register.py

dev:             ## Dagster UI on the demo config (run `make demo` first)
	ORCHESTRATION_PKG_CONFIG=.demo/orchestration_pkg.yaml $(VENV)/bin/dagster dev -w workspace.yaml
