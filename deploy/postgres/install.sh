#!/usr/bin/env bash
# Install the PostgreSQL server binaries (Debian/Ubuntu's `postgresql` package) used by the
# integration tests' scale-out store. Idempotent: does nothing when a server is already there.
#
#   deploy/postgres/install.sh
#
# The tests never use the packaged cluster or service: tests/support/postgres.py runs initdb into
# a temporary directory and starts `postgres` on 127.0.0.1 itself. So that the package does not
# create and start a "main" cluster on port 5432 either, a createcluster.d drop-in disables that
# before installing (only when this script installs the package).
set -euo pipefail

log() { printf '[postgres] %s\n' "$*"; }

find_bindir() {
    # Newest /usr/lib/postgresql/<major>/bin holding both initdb and postgres.
    local dir best=""
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/postgres" && -x "$dir/initdb" && -x "$dir/pg_isready" ]] || continue
        if [[ -z "$best" ]] || (( $(basename "$(dirname "$dir")") > $(basename "$(dirname "$best")") )); then
            best="$dir"
        fi
    done
    [[ -n "$best" ]] && printf '%s\n' "$best"
}

if bindir="$(find_bindir)"; then
    log "server binaries present: $bindir ($("$bindir/postgres" --version))"
    exit 0
fi

if [[ $EUID -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
else
    echo "[postgres] error: not root and no sudo: cannot apt-get install postgresql" >&2
    exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
    echo "[postgres] error: apt-get not found; install the PostgreSQL server binaries yourself" >&2
    exit 1
}

start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
log "disabling the packaged main cluster (createcluster.d drop-in)"
"${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
printf 'create_main_cluster = false\n' \
    | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/moxtrace-no-main-cluster.conf >/dev/null
log "apt-get update"
"${sudo[@]}" apt-get update -qq </dev/null
log "apt-get install postgresql"
"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    postgresql </dev/null >/dev/null
bindir="$(find_bindir)" || { echo "[postgres] error: no server binaries after install" >&2; exit 1; }
log "installed $("$bindir/postgres" --version) in $bindir in $((SECONDS - start))s"
