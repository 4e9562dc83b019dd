#!/usr/bin/env bash
# `make dev`: the demo's local S3 server (moto on 127.0.0.1, `python -m orchestration_pkg.demo
# --serve`) in the background, then `dagster dev` on the demo config. Dagster's runs and
# events are kept in .dagster_home/ (SQLite), so they outlive a restart. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/dagster" ] || ! "$VENV/bin/python" -c "import moto.server" 2>/dev/null; then
  EXTRAS=demo bash scripts/venv.sh
fi
mkdir -p .demo .dagster_home
[ -f .dagster_home/dagster.yaml ] || : >.dagster_home/dagster.yaml  # defaults: SQLite in there
LOG=.demo/s3-server.log
echo ">> starting the demo's S3 server (log: $LOG); it registers the demo images first"
"$VENV/bin/python" -m orchestration_pkg.demo --serve </dev/null >"$LOG" 2>&1 &
S3_PID=$!
trap 'kill "$S3_PID" 2>/dev/null || true; wait "$S3_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "^serving S3 on" "$LOG" && break
  if ! kill -0 "$S3_PID" 2>/dev/null; then cat "$LOG"; echo "the S3 server exited" >&2; exit 1; fi
  sleep 0.2
done
grep "^serving S3 on" "$LOG" || { cat "$LOG"; echo "the S3 server did not start" >&2; exit 1; }
echo ">> dagster dev (DAGSTER_HOME=$PWD/.dagster_home); open the URL it prints, Ctrl-C to stop"
DAGSTER_HOME="$PWD/.dagster_home" ORCHESTRATION_PKG_CONFIG=.demo/orchestration_pkg.yaml \
  "$VENV/bin/dagster" dev -w workspace.yaml -h 127.0.0.1 "$@"
