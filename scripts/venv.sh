#!/usr/bin/env bash
# Create .venv (if missing) and install the package with the given extras. Sourced by the others.
set -euo pipefail
VENV="${VENV:-.venv}"
PY="${PY:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo ">> creating the virtualenv $VENV ($PY -m venv)"
  "$PY" -m venv "$VENV"
fi
echo ">> upgrading pip in $VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
echo ">> installing orchestration_pkg with extras [${EXTRAS:-test}] into $VENV (about 1-2 minutes the first time)"
"$VENV/bin/python" -m pip install -q -e ".[${EXTRAS:-test}]"
echo ">> installed"
