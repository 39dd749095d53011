#!/usr/bin/env bash
# Installs (only what is missing) and starts the backing servers the real
# stores and their tests need, on 127.0.0.1, and stops what it started.
#
#   deploy/local/backends.sh up      # install + start, wait until each answers
#   deploy/local/backends.sh status  # one line per server
#   deploy/local/backends.sh down    # stop the servers this script started
#   deploy/local/backends.sh env     # print the MERIDIAN_TEST_* exports
#
# PostgreSQL 5432 and Redis 6379 are pre-started on this machine kind; when
# they already answer they are used as they are and never stopped here.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DATA="${MERIDIAN_BACKENDS_DIR:-$ROOT/.run/backends}"
mkdir -p "$DATA"

PG_PORT=5432
REDIS_PORT=6379
APT_UPDATED=0

log() { echo "backends: $*" >&2; }

apt_install() {
  if [[ $APT_UPDATED == 0 ]]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$name did not come up"; return 1
}

pg_up() {
  if pg_isready -q -h 127.0.0.1 -p $PG_PORT 2>/dev/null; then return 0; fi
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql postgresql-client
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$version" ]] && pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  if ! pg_isready -q -h 127.0.0.1 -p $PG_PORT 2>/dev/null; then
    # No usable system cluster: run our own, trust auth on loopback.
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    mkdir -p "$DATA/pg"
    chown postgres:postgres "$DATA/pg"
    if [[ ! -f "$DATA/pg/data/PG_VERSION" ]]; then
      runuser -u postgres -- "$bin/initdb" -D "$DATA/pg/data" -A trust -U postgres --no-locale -E UTF8 >/dev/null
    fi
    runuser -u postgres -- "$bin/pg_ctl" -D "$DATA/pg/data" -l "$DATA/pg/log" \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $DATA/pg" -w start >/dev/null
    echo started > "$DATA/pg/ours"
  fi
  wait_for postgresql pg_isready -q -h 127.0.0.1 -p $PG_PORT
}

pg_down() {
  if [[ -f "$DATA/pg/ours" ]]; then
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    runuser -u postgres -- "$bin/pg_ctl" -D "$DATA/pg/data" -m fast stop >/dev/null || true
    rm -f "$DATA/pg/ours"
  fi
}

redis_up() {
  if redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null | grep -q PONG; then return 0; fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server redis-tools
  mkdir -p "$DATA/redis"
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no \
    --dir "$DATA/redis" --daemonize yes --pidfile "$DATA/redis/redis.pid" >/dev/null
  wait_for redis sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT ping | grep -q PONG"
}

redis_down() {
  if [[ -f "$DATA/redis/redis.pid" ]]; then
    kill "$(cat "$DATA/redis/redis.pid")" 2>/dev/null || true
    rm -f "$DATA/redis/redis.pid"
  fi
}

status() {
  if pg_isready -q -h 127.0.0.1 -p $PG_PORT 2>/dev/null; then echo "postgresql 127.0.0.1:$PG_PORT up"; else echo "postgresql 127.0.0.1:$PG_PORT down"; fi
  if redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null | grep -q PONG; then echo "redis      127.0.0.1:$REDIS_PORT up"; else echo "redis      127.0.0.1:$REDIS_PORT down"; fi
}

env_exports() {
  echo "export MERIDIAN_TEST_POSTGRES=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export MERIDIAN_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT"
}

case "${1:-}" in
  up) pg_up; redis_up; status ;;
  down) redis_down; pg_down; status ;;
  status) status ;;
  env) env_exports ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
