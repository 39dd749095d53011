#!/usr/bin/env bash
# Measures the whole system under load: starts it (deploy/local/run.sh, with
# the edge's rate limits raised: the load comes from one address), runs
# meridian-load with the arguments after `--`, and stops it again.
#
#   deploy/local/load.sh [--release] [--real-stores] [--relays] -- [meridian-load args]
#
# --relays puts meridian-relay between the edge and each region, and between
# the origins and PostgreSQL, Redis and DynamoDB (with --real-stores), so
# chaos switches can cut, restore and delay them by name:
#   deploy/local/load.sh --relays -- --users 8 --step-secs 30 \
#     --chaos 10s:delay=40ms:chicago --chaos 20s:cut:chicago
# Kafka is cut at the network layer instead (its clients follow the
# broker's advertised address, past any relay): with --real-stores,
# `--chaos 15s:cut:kafka --chaos 40s:restore:kafka` (region.sh, netcut.sh;
# needs root).
#
#   deploy/local/load.sh --release -- --rate 100,200,400,800 --step-secs 20 --out .run/load
#   deploy/local/load.sh -- --users 4 --step-secs 5 --strict      (the CI smoke run)
#
# `meridian-load --help` lists its arguments; docs/performance.md has the
# runs behind its numbers.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
RUN_ARGS=()
while (($#)) && [[ $1 != -- ]]; do
  case "$1" in
    --release | --real-stores) RUN_ARGS+=("$1") ;;
    --relays) export SYSTEM_RELAYS=1 ;;
    *) echo "usage: $0 [--release] [--real-stores] [--relays] -- [meridian-load args]" >&2; exit 2 ;;
  esac
  shift
done
(($#)) && shift
PROFILE=debug
CARGO_FLAGS=()
if [[ " ${RUN_ARGS[*]-} " == *" --release "* ]]; then
  PROFILE=release
  CARGO_FLAGS=(--release)
fi
# shellcheck source=deploy/local/lib.sh
source deploy/local/lib.sh
deploy/local/prereqs.sh
cargo build ${CARGO_FLAGS[@]+"${CARGO_FLAGS[@]}"} -p meridian-load -p meridian-relay
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"
WORK="$(mktemp -d /tmp/meridian-load.XXXXXX)"
# The Kafka stand-in (noida-db) keeps every message in one JSON file that
# it rewrites on each write: after a real-stores run (tens of MB of events)
# each later write is slow enough that the tests' analytics flows time out.
# The events are in ClickHouse by then; the broker starts afresh.
finish() {
  stop_system
  if [[ " ${RUN_ARGS[*]-} " == *" --real-stores "* ]]; then
    echo "==> restarting the Kafka stand-in empty (its one data file grew with this run)"
    deploy/local/backends.sh down kafka >/dev/null && deploy/local/backends.sh up kafka >/dev/null
  fi
}
trap finish EXIT
if [[ ${SYSTEM_RELAYS:-0} == 1 ]]; then
  start_relays "$BIN/meridian-relay" "$WORK/relay.log"
  export MERIDIAN_RELAY_CONTROL=$RELAY_CONTROL
  echo "==> relays up (control: $RELAY_CONTROL/links)"
fi
echo "==> starting the system ($PROFILE; log: $WORK/run.log)"
start_system "$WORK" ${RUN_ARGS[@]+"${RUN_ARGS[@]}"}
# The generator shares the cores with the system it measures. Ahead of
# it in the run queue, it keeps its arrival schedule and reads answers as
# they come, so what it measures is the system's queueing, not its own (a
# starved generator held the edge's answers unread and reported seconds of
# latency with the origins nearly idle). Raising a priority needs root.
PRIORITY=()
if [[ $(id -u) == 0 ]]; then
  PRIORITY=(nice -n -10)
else
  echo "==> not root: the generator runs at the system's priority (its own CPU waits count as latency)"
fi
echo "==> meridian-load $*"
${PRIORITY[@]+"${PRIORITY[@]}"} "$BIN/meridian-load" "$@"
