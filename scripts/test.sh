#!/usr/bin/env bash
# The README's test command: installs what the suite needs, then runs lint + the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL server binaries (tests start a throwaway cluster on 127.0.0.1).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  else
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  fi
fi

EXTRAS=test bash scripts/venv.sh
VENV="${VENV:-.venv}"
export ORCHESTRATION_PKG_REQUIRE_POSTGRES=1
export AWS_EC2_METADATA_DISABLED=true
"$VENV/bin/ruff" check orchestration_pkg tests bench
"$VENV/bin/ruff" format --check orchestration_pkg tests bench
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
