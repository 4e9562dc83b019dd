#!/usr/bin/env bash
# The README's test command: installs what the suite needs, then runs lint + the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL server binaries (tests start a throwaway cluster on 127.0.0.1).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  echo ">> installing PostgreSQL server binaries with apt-get (tests start a throwaway cluster)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  else
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  fi
fi

# Chromium for the UI check (tests/ui_check.py drives it through Playwright).
if ! command -v chromium >/dev/null; then
  echo ">> installing chromium with apt-get (the Dagster UI check)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  fi
fi

# Azurite (Azure Blob emulator) from npm; 3.35.0 is the newest that runs on Node 20.
if ! command -v npm >/dev/null; then
  echo ">> installing nodejs and npm with apt-get (for the Azurite emulator)"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
fi
AZURITE_DIR=.cache/azurite
if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
  echo ">> installing Azurite 3.35.0 (Azure Blob + Queue emulators) from npm into $AZURITE_DIR"
  npm install --silent --no-audit --no-fund --prefix "$AZURITE_DIR" azurite@3.35.0
fi
export AZURITE_BLOB_BIN="$PWD/$AZURITE_DIR/node_modules/.bin/azurite-blob"

EXTRAS=test bash scripts/venv.sh
VENV="${VENV:-.venv}"
export ORCHESTRATION_PKG_REQUIRE_POSTGRES=1
export ORCHESTRATION_PKG_REQUIRE_EMULATORS=1
export ORCHESTRATION_PKG_REQUIRE_BROWSER=1
export AWS_EC2_METADATA_DISABLED=true
echo ">> ruff (lint and format check)"
"$VENV/bin/ruff" check orchestration_pkg tests bench
"$VENV/bin/ruff" format --check orchestration_pkg tests bench
echo ">> pytest (the whole suite, a few minutes)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
