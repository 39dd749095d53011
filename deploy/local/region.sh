#!/usr/bin/env bash
# Controls one region's origin of a system started by deploy/local/run.sh,
# for trying failover by hand or from meridian-load's chaos switches:
#
#   deploy/local/region.sh status [REGION]   which origins run, paused or not
#   deploy/local/region.sh stop REGION       graceful stop (SIGINT)
#   deploy/local/region.sh kill REGION       crash it (SIGKILL)
#   deploy/local/region.sh pause REGION      freeze it (SIGSTOP): connections hang
#   deploy/local/region.sh resume REGION     unfreeze it (SIGCONT)
#   deploy/local/region.sh start REGION      start it again, as run.sh did
#   deploy/local/region.sh cut kafka         cut the Kafka broker off (netcut.sh)
#   deploy/local/region.sh restore kafka     and back
#
# Kafka is cut here, at the network layer, because no relay can stand in
# front of it: its clients follow the broker's advertised address, which the
# local broker cannot point elsewhere. Other stores and the regions are cut
# through meridian-relay (load.sh --relays), whose links meridian-load's
# chaos switches flip first.
# run.sh keeps the other regions and the edge running when one stops; the
# edge's health checks take the region out and put it back when it answers.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
STATE=.run/regions
usage() { echo "usage: $0 status [REGION] | {stop|kill|pause|resume|start} REGION | {cut|restore} kafka" >&2; exit 2; }
[[ -f $STATE/launch ]] || { echo "region.sh: no system started by deploy/local/run.sh here ($STATE/launch missing)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$STATE/launch" # ORIGIN_BIN, STORES_ARGS, REGIONS, LOG_DIR
action=${1:-}
region=${2:-}
[[ -n $action ]] || usage
if [[ $action == cut || $action == restore ]]; then
  [[ $region == kafka ]] || { echo "region.sh: $action takes kafka; cut other stores and regions through meridian-relay (deploy/local/load.sh --relays)" >&2; exit 2; }
  stores=${STORES_ARGS[1]:-}
  [[ -n $stores ]] || { echo "region.sh: this system runs on embedded stores: there is no Kafka to cut" >&2; exit 1; }
  broker=$(awk -F'"' '/^brokers *=/ {print $2; exit}' "$stores")
  [[ -n $broker ]] || { echo "region.sh: $stores names no Kafka brokers" >&2; exit 1; }
  exec "$ROOT/deploy/local/netcut.sh" "$action" "${broker##*:}"
fi
known() { local r; for r in "${REGIONS[@]}"; do [[ $r == "$1" ]] && return 0; done; return 1; }
if [[ -n $region ]] && ! known "$region"; then
  echo "region.sh: unknown region $region (known: ${REGIONS[*]})" >&2
  exit 2
fi
pid_of() { [[ -f $STATE/$1.pid ]] && cat "$STATE/$1.pid"; }
alive() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }
state_of() { # running | paused | down
  alive "$1" || { echo down; return; }
  local s
  s=$(awk '{print $3}' "/proc/$(pid_of "$1")/stat" 2>/dev/null || echo "?")
  [[ $s == T ]] && echo paused || echo running
}
signal() { # SIGNAL REGION
  alive "$2" || { echo "region.sh: $2 is not running" >&2; exit 1; }
  kill "-$1" "$(pid_of "$2")"
}
case "$action" in
  status)
    for r in "${REGIONS[@]}"; do
      [[ -z $region || $r == "$region" ]] && printf '%-12s %s\n' "$r" "$(state_of "$r")"
    done
    ;;
  stop) [[ -n $region ]] || usage; signal INT "$region" ;;
  kill) [[ -n $region ]] || usage; signal KILL "$region" ;;
  pause) [[ -n $region ]] || usage; signal STOP "$region" ;;
  resume) [[ -n $region ]] || usage; signal CONT "$region" ;;
  start)
    [[ -n $region ]] || usage
    if alive "$region"; then
      echo "region.sh: $region is already running (pid $(pid_of "$region"))" >&2
      exit 1
    fi
    # Detached, so it outlives this shell; run.sh stops it with the rest.
    setsid "$ORIGIN_BIN" --region "regions/$region.toml" ${STORES_ARGS[@]+"${STORES_ARGS[@]}"} \
      >>"$LOG_DIR/$region.log" 2>&1 </dev/null &
    echo $! >"$STATE/$region.pid"
    port=$(awk -F'[:"]' '/^listen/ {print $(NF-1)}' "regions/$region.toml")
    for _ in $(seq 1 300); do
      if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
        echo "region.sh: $region is up (pid $!)"
        exit 0
      fi
      kill -0 $! 2>/dev/null || { echo "region.sh: $region exited while starting; see $LOG_DIR/$region.log" >&2; exit 1; }
      sleep 0.2
    done
    echo "region.sh: $region was not ready after 60 s; see $LOG_DIR/$region.log" >&2
    exit 1
    ;;
  *) usage ;;
esac
