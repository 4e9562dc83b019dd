#!/usr/bin/env bash
# The README's demo command: install, then run the end-to-end demo on a local S3 server.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=demo bash scripts/venv.sh
echo ">> running the demo (python -m orchestration_pkg.demo $*)"
exec "${VENV:-.venv}/bin/python" -m orchestration_pkg.demo "$@"
