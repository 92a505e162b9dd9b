#!/usr/bin/env bash
# Install the real services the integration tests run on 127.0.0.1 (see docs/services.md):
#
#   1. PostgreSQL server binaries     Debian/Ubuntu `postgresql` package (apt)
#   2. Java 17+ and Maven             apt, only if missing (the Kafka broker runs on the JVM)
#   3. Apache Kafka broker jars       Maven Central, via deploy/kafka/pom.xml
#   4. Arize Phoenix                  PyPI, into its own virtualenv
#   5. Chromium                       Debian `chromium` package (apt), for the browser tests
#
# Idempotent, non-interactive (no stdin needed), quick when everything is already installed.
# Installs go to ${MOXTRACE_CACHE:-$HOME/.cache/moxtrace} (cache that directory in CI) and, for
# apt packages, the system. Run as root or as a user with passwordless sudo.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive
export MOXTRACE_CACHE="${MOXTRACE_CACHE:-$HOME/.cache/moxtrace}"

step() { printf '\n==> %s\n' "$*"; }
total_start=$SECONDS
timings=()
timed() {
    local name="$1" start=$SECONDS
    shift
    "$@"
    timings+=("$(printf '%-10s %4ds' "$name" $((SECONDS - start)))")
}

if [[ $EUID -eq 0 ]]; then sudo=(); else sudo=(sudo -n); fi
apt_updated=0
apt_install() {
    if ((apt_updated == 0)); then
        echo "apt-get update"
        "${sudo[@]}" apt-get update -qq </dev/null
        apt_updated=1
    fi
    echo "apt-get install $*"
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}

java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n1
}

jvm_and_maven() {
    local missing=()
    if ! command -v java >/dev/null 2>&1 || (($(java_major || echo 0) < 17)); then
        missing+=(openjdk-17-jre-headless)
    fi
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    echo "java $(java_major); $(mvn -v 2>/dev/null | head -n1 | sed 's/\x1b\[[0-9;]*m//g')"
}

echo "moxtrace test services -> $MOXTRACE_CACHE"

step "PostgreSQL (apt)"
timed postgres "$repo/deploy/postgres/install.sh"

step "Java + Maven (apt, if missing)"
timed jvm "jvm_and_maven"

step "Apache Kafka broker jars (Maven Central)"
timed kafka "$repo/deploy/kafka/kafka.sh" fetch

step "Arize Phoenix (PyPI, own virtualenv)"
phoenix_python="${PHOENIX_PYTHON:-python3.11}"
if ! "$phoenix_python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    [[ "$phoenix_python" == python3.11 ]] || { echo "error: $phoenix_python cannot make venvs" >&2; exit 1; }
    apt_install python3.11 python3.11-venv
fi
timed phoenix "$repo/deploy/phoenix/install.sh"

step "Chromium (apt, if missing; tests/e2e drive it with Playwright)"
install_chromium() {
    if [[ -x /usr/bin/chromium ]]; then
        echo "chromium already installed"
    else
        apt_install chromium
    fi
}
timed chromium install_chromium

step "done in $((SECONDS - total_start))s"
printf '  %s\n' "${timings[@]}"
