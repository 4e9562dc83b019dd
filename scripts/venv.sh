#!/usr/bin/env bash
# Create .venv (if missing) and install the package with the given extras. Sourced by the others.
set -euo pipefail
VENV="${VENV:-.venv}"
PY="${PY:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[${EXTRAS:-test}]"
