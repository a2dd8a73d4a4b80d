#!/usr/bin/env bash
# One idempotent setup step for a fresh machine, called by both README commands.
#   1. a virtual environment outside the clone, keyed by the lock file's hash, with every
#      Python dependency (uv keeps a package cache, so a second clone links instead of
#      downloading); .venv in the repo is a link to it;
#   2. the Apache Kafka broker jars from Maven Central (infra/kafka/pom.xml), in a cache folder;
#   3. redis-server, postgresql-15, nginx and chromium from Debian when missing (the tests
#      start their own servers from them).
# A second run only checks stamps and takes a second or two.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
mkdir -p "$CACHE"
log() { printf '[setup] %s\n' "$*" >&2; }

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then UV=$(command -v uv); return; fi
  UV="$CACHE/bootstrap/bin/uv"
  if [ ! -x "$UV" ]; then
    log "installing uv into $CACHE/bootstrap"
    python3.11 -m venv "$CACHE/bootstrap" 2>/dev/null || python3 -m venv "$CACHE/bootstrap"
    "$CACHE/bootstrap/bin/pip" install -q 'uv>=0.5'
  fi
}

python_env() {
  ensure_uv
  local key
  key=$(sha256sum < "$ROOT/uv.lock" | cut -c1-16)
  local venv="$CACHE/venvs/$key"
  if [ ! -f "$venv/.vigil-ready" ]; then
    log "creating the Python environment in $venv (first run downloads torch: several minutes)"
    UV_PROJECT_ENVIRONMENT="$venv" "$UV" sync --project "$ROOT" --frozen --python 3.11 --no-install-project
    touch "$venv/.vigil-ready"
  fi
  # The project itself is installed editable from this clone (seconds); the environment is
  # shared by every clone with the same lock file.
  # The path whole, quoted as the finder writes it: /check/work/main must not pass for /work/main.
  local site="$venv/lib/python3.11/site-packages"
  if ! grep -qsF "'$ROOT/vigil'" "$site"/__editable__*vigil* 2>/dev/null \
      && ! grep -qsxF "$ROOT" "$site"/_vigil*.pth 2>/dev/null; then
    UV_PROJECT_ENVIRONMENT="$venv" "$UV" sync --project "$ROOT" --frozen --python 3.11 -q
  fi
  ln -sfn "$venv" "$ROOT/.venv"
}

kafka_jars() {
  local version
  version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml")
  local home="$CACHE/kafka-$version-$(sha256sum "$ROOT/infra/kafka/pom.xml" | cut -c1-8)"
  if [ ! -f "$home/.vigil-ready" ]; then
    command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch the Kafka jars: apt-get install maven"; exit 1; }
    log "fetching Apache Kafka $version jars from Maven Central into $home/libs"
    rm -rf "$home/libs"
    mvn -q -B -f "$ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$home/libs" -DincludeScope=runtime
    touch "$home/.vigil-ready"
  fi
}

# Debian packages the tests and `vigil up` use, each installed only when its program is missing.
# Their own system services (redis on 6379, PostgreSQL on 5432, nginx on 80) are not used:
# Vigil and the tests start their own servers on their own ports.
debian_packages() {
  local wanted=() pair package program
  for pair in "redis-server:redis-server" "postgresql-15:/usr/lib/postgresql/15/bin/initdb" \
              "nginx:/usr/sbin/nginx" "chromium:/usr/bin/chromium"; do
    package=${pair%%:*} program=${pair#*:}
    if ! command -v "$program" >/dev/null 2>&1; then wanted+=("$package"); fi
  done
  [ ${#wanted[@]} -eq 0 ] && return
  log "installing ${wanted[*]} from Debian"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${wanted[@]}" >/dev/null
}

python_env
kafka_jars
debian_packages
log "ready: $ROOT/.venv -> $(readlink "$ROOT/.venv")"
