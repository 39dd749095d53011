#!/usr/bin/env bash
# Starts the whole Meridian system on embedded stores: six regional origins
# (every service and the storefront's pages) and the edge in front of them,
# with demo data. Ctrl-C stops everything.
#
# When one origin stops, the rest keep running (the edge fails its shoppers
# over to the next region) and this says so; deploy/local/region.sh starts
# it again, or stops, pauses and resumes one to try failover.
#
#   ./deploy/local/run.sh                 # debug build (fast to compile)
#   ./deploy/local/run.sh --release       # optimised build (for load tests)
#   ./deploy/local/run.sh --real-stores   # on the real stores: PostgreSQL, Redis,
#                                         # Redis Cluster, DynamoDB, S3, MongoDB,
#                                         # Cassandra, Elasticsearch
#
# --real-stores installs and starts the servers first (deploy/local/backends.sh
# up: also Kafka and ClickHouse for events and analytics) and gives every
# origin deploy/local/real-stores.toml as its [stores] tables. Ctrl-C stops
# Meridian but leaves those servers running (the next start takes seconds);
# `deploy/local/backends.sh down` stops them.
#
# Build tools and C headers missing on a fresh machine are installed first
# (deploy/local/prereqs.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

PROFILE=debug
CARGO_FLAGS=()
STORES_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --release) PROFILE=release; CARGO_FLAGS=(--release) ;;
    # MERIDIAN_STORES_CONFIG: another stores file (load.sh --relays points
    # the stores at relays in a copy).
    --real-stores) STORES_ARGS=(--stores "${MERIDIAN_STORES_CONFIG:-deploy/local/real-stores.toml}") ;;
    *) echo "usage: $0 [--release] [--real-stores]" >&2; exit 2 ;;
  esac
done
deploy/local/prereqs.sh
if ((${#STORES_ARGS[@]})); then
  echo "==> starting the real stores (the first run installs them: several minutes)"
  if ! deploy/local/backends.sh up; then
    echo "run.sh: the real stores did not start; the reason is above." >&2
    echo "        Fix it and run again (installed parts are kept), or run without --real-stores." >&2
    exit 1
  fi
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# shellcheck source=deploy/local/lib.sh
source deploy/local/lib.sh # REGIONS
LOG_DIR="$ROOT/.run/logs"
mkdir -p "$LOG_DIR"

echo "==> building edge and origin ($PROFILE)"
cargo build "${CARGO_FLAGS[@]}" -p meridian-edge -p meridian-server --bins
./certs/generate.sh

PIDS=()
STOPPING=0
# What deploy/local/region.sh needs to control and restart an origin.
STATE=.run/regions
rm -rf "$STATE"
mkdir -p "$STATE"
{
  printf 'ORIGIN_BIN=%q\n' "$TARGET_DIR/$PROFILE/origin"
  printf 'STORES_ARGS=(%s)\n' "${STORES_ARGS[*]-}"
  printf 'REGIONS=(%s)\n' "${REGIONS[*]}"
  printf 'LOG_DIR=%q\n' "$LOG_DIR"
} >"$STATE/launch"

# Waits until the first N origins answer /readyz (60 s at most); says
# which one failed and shows its log if one exits or never gets ready.
wait_ready() {
  local n=$1 i
  for i in $(seq 0 $((n - 1))); do
    local port=$((7101 + i)) region=${REGIONS[$i]}
    for _ in $(seq 1 300); do
      curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && continue 2
      if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
        echo "run.sh: the $region origin exited while starting; last lines of $LOG_DIR/$region.log:" >&2
        tail -n 20 "$LOG_DIR/$region.log" >&2
        return 1
      fi
      sleep 0.2
    done
    echo "run.sh: the $region origin was not ready after 60 s; see $LOG_DIR/$region.log" >&2
    return 1
  done
}
cleanup() {
  trap - INT TERM EXIT
  STOPPING=1
  echo
  echo "==> stopping"
  # SIGINT: Pingora's fast shutdown (SIGTERM would wait out its grace period).
  # Origins restarted by region.sh are not our children: their pid files.
  local pid_file pid
  for pid_file in "$STATE"/*.pid; do
    [[ -f $pid_file ]] || continue
    pid=$(cat "$pid_file")
    kill -CONT "$pid" 2>/dev/null || true
    kill -INT "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

for region in "${REGIONS[@]}"; do
  "$TARGET_DIR/$PROFILE/origin" --region "regions/$region.toml" ${STORES_ARGS[@]+"${STORES_ARGS[@]}"} \
    >"$LOG_DIR/$region.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$STATE/$region.pid"
  if ((${#STORES_ARGS[@]})) && [[ $region == "${REGIONS[0]}" ]]; then
    # Shared stores: the first origin creates tables and seeds the demo
    # data alone; the others start once it is ready.
    wait_ready 1 || exit 1
  fi
done
# The edge starts once every origin is ready, so its health checks and
# first requests never meet a region that is still starting.
wait_ready "${#REGIONS[@]}" || exit 1
# MERIDIAN_EDGE_CONFIG: another edge config (api-contract-check.sh raises
# the rate limits in a copy).
"$TARGET_DIR/$PROFILE/edge" --config "${MERIDIAN_EDGE_CONFIG:-deploy/local/edge.toml}" >"$LOG_DIR/edge.log" 2>&1 &
PIDS+=($!)
EDGE_PID=$!

# Wait until the edge answers through to an origin.
for _ in $(seq 1 100); do
  if curl -fsS --cacert certs/ca.crt https://localhost:8443/api/catalog/categories >/dev/null 2>&1; then
    break
  fi
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a process exited early; see $LOG_DIR"; tail -n 20 "$LOG_DIR"/*.log; exit 1; }
  done
  sleep 0.2
done

STORES_NOTE=""
if ((${#STORES_ARGS[@]})); then
  STORES_NOTE="
  Real stores:   Ctrl-C leaves them running (quick next start); stop them with deploy/local/backends.sh down"
fi
cat <<MSG

Meridian is up.

  Storefront:    https://localhost:8443/        seller console: https://localhost:8443/sell
                 (dev certificate: trust certs/ca.crt in the browser, or accept its warning)
  API:           https://localhost:8443/api/…   (contract: /api/openapi.json)
  Logs:          .run/logs/   Ctrl-C stops Meridian${STORES_NOTE}
  edge metrics:  http://127.0.0.1:9464/metrics     origins: 127.0.0.1:7101-7106
  edge admin:    $TARGET_DIR/$PROFILE/edgectl --token meridian-dev-admin-token-0001 regions
                 (reload | purge --tag T | drain REGION | undrain REGION; see docs/edge.md)
  Prometheus:    deploy/local/prometheus.sh   (then http://127.0.0.1:9090)
  Regions:       deploy/local/region.sh status | stop | kill | pause | resume | start REGION
                 (one region down leaves the rest serving: try failover)

Try:
  curl --cacert certs/ca.crt https://localhost:8443/api/catalog/categories
  curl --cacert certs/ca.crt 'https://localhost:8443/api/catalog/products?category=books&sort=price_asc&limit=3'
  curl --cacert certs/ca.crt -i -H 'x-client-geo: 45.52,-122.68' https://localhost:8443/api/catalog/products?limit=1
  curl --cacert certs/ca.crt -X POST https://localhost:8443/api/auth/register -H 'content-type: application/json' \\
       -d '{"email":"ann@example.com","password":"correct horse battery","display_name":"Ann"}'
MSG

# Watch: an origin that stops is reported (and again when it is back); the
# system keeps serving from the other regions. The edge is the front door:
# when it stops, everything stops.
declare -A DOWN=()
while kill -0 "$EDGE_PID" 2>/dev/null; do
  for region in "${REGIONS[@]}"; do
    pid=$(cat "$STATE/$region.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      if [[ -n ${DOWN[$region]:-} ]]; then
        unset "DOWN[$region]"
        echo "run.sh: $region is running again (pid $pid)"
      fi
    elif [[ -z ${DOWN[$region]:-} ]]; then
      DOWN[$region]=1
      echo "run.sh: the $region origin stopped; the edge sends its shoppers to the next region."
      echo "        last lines of $LOG_DIR/$region.log:"
      tail -n 5 "$LOG_DIR/$region.log" | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/          /'
      echo "        start it again: deploy/local/region.sh start $region"
    fi
  done
  sleep 1
done
if [[ $STOPPING == 0 ]]; then
  echo "run.sh: the edge exited; stopping. Last lines of $LOG_DIR/edge.log:"
  tail -n 10 "$LOG_DIR/edge.log"
fi
