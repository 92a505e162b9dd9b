#!/usr/bin/env bash
# Install Arize Phoenix (the OTLP backend used by the integration tests) into its OWN
# virtualenv, so Phoenix's pins never constrain moxtrace's.
#
#   deploy/phoenix/install.sh            # idempotent; quick when already installed
#
# Location: ${MOXTRACE_CACHE:-$HOME/.cache/moxtrace}/phoenix-venv
# Python:   ${PHOENIX_PYTHON:-python3.11}
set -euo pipefail

PHOENIX_VERSION="20.26.1"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MOXTRACE_CACHE:-$HOME/.cache/moxtrace}"
venv="$cache/phoenix-venv"
python="${PHOENIX_PYTHON:-python3.11}"
constraints="$here/constraints.txt"

log() { printf '[phoenix] %s\n' "$*"; }

installed_version() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
from importlib.metadata import version
print(version("arize-phoenix"))
PY
}

if [[ -x "$venv/bin/python" ]] && [[ "$(installed_version || true)" == "$PHOENIX_VERSION" ]]; then
    log "arize-phoenix $PHOENIX_VERSION already installed in $venv"
    exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
    echo "[phoenix] error: $python not found (set PHOENIX_PYTHON to a Python 3.11 interpreter)" >&2
    exit 1
fi

start=$SECONDS
if [[ ! -x "$venv/bin/python" ]]; then
    log "creating virtualenv $venv with $python"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
log "installing arize-phoenix==$PHOENIX_VERSION"
args=(--quiet "arize-phoenix==$PHOENIX_VERSION")
if [[ -f "$constraints" ]]; then
    args+=(--constraint "$constraints")
fi
"$venv/bin/python" -m pip install "${args[@]}"
log "installed arize-phoenix $(installed_version) in $((SECONDS - start))s"
