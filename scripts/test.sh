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

# Chromium for the UI check (tests/test_dagster_ui.py drives it through Playwright).
if ! command -v chromium >/dev/null; then
  echo ">> installing chromium with apt-get (the Dagster UI check)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  fi
fi

# The Pub/Sub emulator (GCS bucket notifications): gcloud's component, a Debian package of
# Google's apt repository (added if missing), and a Java runtime for it.
pubsub_emulator_installed() {
  command -v gcloud >/dev/null && command -v java >/dev/null &&
    [ -d "$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null)/platform/pubsub-emulator" ]
}
if ! pubsub_emulator_installed; then
  echo ">> installing google-cloud-cli-pubsub-emulator with apt-get (the Pub/Sub emulator)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  if ! apt-cache show google-cloud-cli-pubsub-emulator >/dev/null 2>&1; then
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl gpg ca-certificates
    curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg |
      $SUDO gpg --batch --yes --dearmor -o /usr/share/keyrings/cloud.google.gpg
    echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main" |
      $SUDO tee /etc/apt/sources.list.d/google-cloud-sdk.list >/dev/null
  fi
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    google-cloud-cli google-cloud-cli-pubsub-emulator default-jre-headless
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
