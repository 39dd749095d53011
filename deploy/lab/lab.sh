#!/usr/bin/env bash
# The geo lab: the six regions and the shoppers of six cities as separate
# network hosts on this machine, with real distances between them.
#
#   deploy/lab/lab.sh up         build, make the namespaces and links, start everything
#   deploy/lab/lab.sh measure    latency per city (far and near), failover, the goals
#   deploy/lab/lab.sh status     what is up
#   deploy/lab/lab.sh down       stop it all and delete what `up` made, by name
#   deploy/lab/lab.sh check      up + measure + down (CI: LAB_SHORT=1 for a short one)
#
# Hosts are network namespaces, all named mlab-*:
#   mlab-r-<region>  a region's origin (every service, embedded stores, demo data)
#   mlab-p-<city>    the city's edge PoP, and meridian-relay with one link per
#                    region, each delayed by the one-way fibre delay between the
#                    city and the region (deploy/lab/cities.toml, `meridian-lab
#                    table`); the edge routes by measured latency
#   mlab-c-<city>    the city's shoppers (meridian-lab probes)
#   mlab-wan         the bridge every host hangs off (10.77.0.0/16)
# Why relays and not `tc netem`: this kernel has no netem qdisc.
#
# Needs root (namespaces) and iproute2; `measure` writes .run/lab/results
# (report.md, report.json). Environment: LAB_SHORT=1 (fewer requests, one
# failover), LAB_COUNT (requests per probe), LAB_FAILOVER (cities to fail
# over, space-separated; default all, or seattle when short).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=deploy/local/lib.sh
source deploy/local/lib.sh # REGIONS, apt_install

LAB=.run/lab
RESULTS=$LAB/results
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug"
REGION_LIST=$(
  IFS=,
  echo "${REGIONS[*]}"
)
log() { echo "lab: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# Host addresses: regions 10.77.1.N, PoPs 10.77.2.N, clients 10.77.3.N.
region_ip() { echo "10.77.1.$(($1 + 1))"; }
pop_ip() { echo "10.77.2.$(($1 + 1))"; }
client_ip() { echo "10.77.3.$(($1 + 1))"; }
ORIGIN_PORT=7100
EDGE_PORT=8443
RELAY_CONTROL=127.0.0.1:17900

lab_tool() { "$BIN/meridian-lab" "$@"; }
# Every city–region link (city, region, one-way ms; nearest first), written
# by `up`.
LINKS=$LAB/links.tsv
cities() { cut -f1 "$LINKS" | uniq; }
# A city's position in that list (its PoP's and client's address).
city_index() { cities | awk -v c="$1" '$0 == c { print NR - 1 }'; }
# A region's position in REGIONS (its address and relay port).
region_index() {
  local n
  for n in "${!REGIONS[@]}"; do
    [[ ${REGIONS[$n]} != "$1" ]] || echo "$n"
  done
}
# A city's nearest region, and the round trip to it.
nearest_region() { awk -F'\t' -v c="$1" '$1 == c { print $2; exit }' "$LINKS"; }
nearest_rtt_ms() { awk -F'\t' -v c="$1" '$1 == c { print 2 * $3; exit }' "$LINKS"; }
# The namespaces a lab made.
lab_namespaces() { ip netns list 2>/dev/null | awk '$1 ~ /^mlab-/ {print $1}'; }
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}
ms_now() { date +%s%3N; }

prereqs() {
  [[ $(id -u) == 0 ]] || die "needs root: network namespaces (run as root, or with sudo)"
  command -v ip >/dev/null || apt_install iproute2
  command -v curl >/dev/null || apt_install curl
  command -v python3 >/dev/null || apt_install python3
  ip netns add mlab-probe 2>/dev/null && ip netns del mlab-probe ||
    die "cannot create network namespaces here (ip netns add failed)"
}

build() {
  deploy/local/prereqs.sh
  log "building edge, origin, relay and lab tools (debug)"
  cargo build -q -p meridian-edge -p meridian-server -p meridian-relay -p meridian-lab --bins
  ./certs/generate.sh >/dev/null
}

# A host: namespace NAME, its end of a veth to the bridge, address IP/16.
add_host() {
  local ns=$1 ip=$2 tag=$3
  ip netns add "$ns"
  ip link add "mlw-$tag" type veth peer name "mlh-$tag"
  ip link set "mlw-$tag" netns mlab-wan
  ip link set "mlh-$tag" netns "$ns"
  in_ns mlab-wan ip link set "mlw-$tag" master mlab-br up
  in_ns "$ns" ip link set "mlh-$tag" name eth0
  in_ns "$ns" ip addr add "$ip/16" dev eth0
  in_ns "$ns" ip link set eth0 up
  in_ns "$ns" ip link set lo up
}

# Starts a process in a namespace, detached; its pid in $LAB/pids/NAME.pid.
spawn() {
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" setsid "$@" >>"$LAB/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$LAB/pids/$name.pid"
  # Not this shell's job: `down` stops it, and a killed origin is news
  # only in the report.
  disown $!
}

wait_http() { # ns what curl-args...
  local ns=$1 what=$2 _
  shift 2
  for _ in $(seq 1 300); do
    in_ns "$ns" curl -fsS -o /dev/null --max-time 1 "$@" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$what did not answer ${*: -1} within 60 s (see $LAB/logs)"
}

start_origin() { # region index
  local region=$1 i=$2
  spawn "origin-$region" "mlab-r-$region" "$BIN/origin" --region "$LAB/regions/$region.toml"
  wait_http "mlab-r-$region" "the $region origin" "http://$(region_ip "$i"):$ORIGIN_PORT/readyz"
}

edge_config() { # city → file
  local city=$1 k lat lon
  k=$(city_index "$city")
  read -r lat lon < <(lab_tool city --regions "$REGION_LIST" "$city")
  local file="$LAB/edge-$city.toml"
  # Paths in the edge config are relative to it: $LAB is two levels down,
  # as deploy/local is. Rate limits raised: one client sends everything.
  sed -E \
    -e "s/^https = .*/https = \"$(pop_ip "$k"):$EDGE_PORT\"/" \
    -e "s#^upgrade_sock = .*#upgrade_sock = \"/tmp/mlab-$city-upgrade.sock\"#" \
    -e "s/^location = .*/location = { latitude = $lat, longitude = $lon }/" \
    -e 's/^access_log = true/access_log = false/' \
    -e 's/^(per_ip|per_session|per_key) = [0-9]+$/\1 = 1000000/' \
    -e 's/^\[geo\]$/[geo]\nrouting = "latency"/' \
    deploy/local/edge.toml >"$file"
  local n
  for n in "${!REGIONS[@]}"; do
    sed -i -E "s/^origin = \"127\.0\.0\.1:710$((n + 1))\"$/origin = \"127.0.0.1:2710$((n + 1))\"/" "$file"
  done
  grep -q '^routing = "latency"' "$file" && grep -q "^origin = \"127.0.0.1:27101\"" "$file" ||
    die "could not make $file from deploy/local/edge.toml"
  echo "$file"
}

up() {
  prereqs
  [[ ! -e /run/netns/mlab-wan ]] || die "a lab is already up (deploy/lab/lab.sh down first)"
  build
  rm -rf "$LAB"
  mkdir -p "$LAB/pids" "$LAB/logs" "$LAB/regions"
  lab_tool links --regions "$REGION_LIST" >"$LINKS"
  log "namespaces and links"
  ip netns add mlab-wan
  in_ns mlab-wan ip link add mlab-br type bridge
  in_ns mlab-wan ip link set mlab-br up
  in_ns mlab-wan ip link set lo up
  local i region
  for i in "${!REGIONS[@]}"; do
    region=${REGIONS[$i]}
    add_host "mlab-r-$region" "$(region_ip "$i")" "r$i"
    sed -E "s/^listen = .*/listen = \"$(region_ip "$i"):$ORIGIN_PORT\"/" "regions/$region.toml" >"$LAB/regions/$region.toml"
  done
  local k city
  for city in $(cities); do
    k=$(city_index "$city")
    add_host "mlab-p-$city" "$(pop_ip "$k")" "p$k"
    add_host "mlab-c-$city" "$(client_ip "$k")" "c$k"
  done
  log "origins (one per region namespace)"
  for i in "${!REGIONS[@]}"; do
    start_origin "${REGIONS[$i]}" "$i" &
  done
  wait
  log "relays and edges (one per city)"
  for city in $(cities); do
    local links=() c r ms n
    while IFS=$'\t' read -r c r ms; do
      [[ $c == "$city" ]] || continue
      n=$(region_index "$r")
      links+=(--link "$r/127.0.0.1:2710$((n + 1))=$(region_ip "$n"):$ORIGIN_PORT@${ms}ms")
    done <"$LINKS"
    spawn "relay-$city" "mlab-p-$city" "$BIN/meridian-relay" "${links[@]}" --control "$RELAY_CONTROL"
    wait_http "mlab-p-$city" "the $city relay" "http://$RELAY_CONTROL/links"
    spawn "edge-$city" "mlab-p-$city" "$BIN/edge" --config "$(edge_config "$city")"
  done
  for city in $(cities); do
    wait_http "mlab-c-$city" "the $city edge" --cacert certs/ca.crt \
      --resolve "meridian.test:$EDGE_PORT:$(pop_ip "$(city_index "$city")")" \
      "https://meridian.test:$EDGE_PORT/api/catalog/categories"
  done
  log "up: $(lab_namespaces | wc -l) namespaces; deploy/lab/lab.sh measure | status | down"
}

# Asks a city's client for one answer; prints the region that gave it.
answering_region() { # city path
  in_ns "mlab-c-$1" curl -fsS -o /dev/null -D - --max-time 5 --cacert certs/ca.crt \
    --resolve "meridian.test:$EDGE_PORT:$(pop_ip "$(city_index "$1")")" "https://meridian.test:$EDGE_PORT$2" 2>/dev/null |
    tr -d '\r' | awk -F': ' 'tolower($1) == "x-meridian-region" { print $2 }'
}

set_delays() { # city zero|fibre
  local city=$1 mode=$2 c r ms
  while IFS=$'\t' read -r c r ms; do
    [[ $c == "$city" ]] || continue
    [[ $mode == zero ]] && ms=0
    in_ns "mlab-p-$city" curl -fsS -o /dev/null -X PUT "http://$RELAY_CONTROL/links/$r/delay" \
      -H 'content-type: application/json' -d "{\"ms\": $ms}"
  done <"$LINKS"
}

# Each city's probes. Near (no delay), each request waits the round trip to
# the city's nearest region after its answer: the servers idle between
# requests as long as they do in the far pass (see meridian-lab's Pace).
probe_all() { # pass
  local pass=$1 city count=${LAB_COUNT:-200}
  [[ ${LAB_SHORT:-0} == 1 ]] && count=${LAB_COUNT:-150}
  for city in $(cities); do
    local args=(--edge "$(pop_ip "$(city_index "$city")"):$EDGE_PORT" --ca certs/ca.crt) gap=0
    [[ $pass == near ]] && gap=$(nearest_rtt_ms "$city")
    args+=(--gap-ms "$gap")
    in_ns "mlab-c-$city" "$BIN/meridian-lab" probe "${args[@]}" --city "$city" --what page \
      --path "/p/$PRODUCT" --bust --count "$count" --out "$RESULTS/$pass/$city-page.json"
    in_ns "mlab-c-$city" "$BIN/meridian-lab" probe "${args[@]}" --city "$city" --what api \
      --path "/api/reviews/products/$PRODUCT" --count "$count" --out "$RESULTS/$pass/$city-api.json"
    in_ns "mlab-c-$city" "$BIN/meridian-lab" probe "${args[@]}" --city "$city" --what cached \
      --path "/p/$PRODUCT" --count "$count" --out "$RESULTS/$pass/$city-cached.json"
  done
}

# The city's nearest region is killed (SIGKILL) while the city's shoppers
# send 100 uncached GETs a second; started again 4 s later.
failover() { # city
  local city=$1 nearest
  nearest=$(nearest_region "$city")
  log "failover: $city's nearest region, $nearest, killed under load"
  in_ns "mlab-c-$city" "$BIN/meridian-lab" watch --edge "$(pop_ip "$(city_index "$city")"):$EDGE_PORT" --ca certs/ca.crt \
    --path "/api/reviews/products/$PRODUCT" --rate 100 --secs 14 --out "$RESULTS/failover/$city.json" &
  local watcher=$!
  sleep 3
  local killed_at
  killed_at=$(ms_now)
  kill -KILL "$(cat "$LAB/pids/origin-$nearest.pid")"
  sleep 4
  start_origin "$nearest" "$(region_index "$nearest")"
  local ready_at
  ready_at=$(ms_now)
  wait "$watcher"
  printf '{"city":"%s","killed":"%s","killed_at_ms":%s,"ready_at_ms":%s}\n' \
    "$city" "$nearest" "$killed_at" "$ready_at" >"$RESULTS/failover/$city.events.json"
  # Its latency measurement is back to normal before the next city's turn.
  sleep 2
}

measure() {
  [[ -e /run/netns/mlab-wan ]] || die "the lab is not up (deploy/lab/lab.sh up)"
  rm -rf "$RESULTS"
  mkdir -p "$RESULTS/near" "$RESULTS/far" "$RESULTS/failover"
  PRODUCT=$(in_ns mlab-c-"$(cities | head -1)" curl -fsS --cacert certs/ca.crt \
    --resolve "meridian.test:$EDGE_PORT:$(pop_ip 0)" "https://meridian.test:$EDGE_PORT/api/catalog/products?limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
  log "every city answered by its nearest region (the edges measure each region's round trip)"
  local city nearest got
  for city in $(cities); do
    nearest=$(nearest_region "$city")
    for _ in $(seq 1 60); do
      got=$(answering_region "$city" "/api/catalog/categories?lab=$RANDOM" || true)
      [[ $got == "$nearest" ]] && break
      sleep 0.5
    done
    [[ $got == "$nearest" ]] || die "$city: answered by ${got:-nobody}, not $nearest, after 30 s"
  done
  log "far: links at their fibre delays"
  probe_all far
  local cities_out=${LAB_FAILOVER:-}
  if [[ -z $cities_out ]]; then
    if [[ ${LAB_SHORT:-0} == 1 ]]; then cities_out=seattle; else cities_out=$(cities | tr "\n" " "); fi
  fi
  for city in $(cities); do
    [[ " $cities_out " != *" $city "* ]] || failover "$city"
  done
  log "near: every link without delay (the server time)"
  for city in $(cities); do set_delays "$city" zero; done
  sleep 2
  probe_all near
  for city in $(cities); do set_delays "$city" fibre; done
  log "the goals (also in $RESULTS/report.md)"
  # Short (CI): latency shown, not judged; routing, failed requests and the
  # failover are (docs/lab.md, "In CI").
  local goals=()
  [[ ${LAB_SHORT:-0} == 1 ]] && goals=(--no-latency-goal)
  lab_tool judge --regions "$REGION_LIST" --dir "$RESULTS" ${goals[@]+"${goals[@]}"}
}

status() {
  local ns pid name
  if [[ -z $(lab_namespaces) ]]; then
    echo "no lab"
    return 0
  fi
  lab_namespaces | sort | tr '\n' ' '
  echo
  for pid in "$LAB"/pids/*.pid; do
    [[ -f $pid ]] || continue
    name=$(basename "$pid" .pid)
    if kill -0 "$(cat "$pid")" 2>/dev/null; then echo "  $name: running"; else echo "  $name: stopped"; fi
  done
}

# Everything `up` made, found by name: the processes in mlab-* namespaces,
# the namespaces (their veths and the bridge go with them), the sockets.
down() {
  local ns pids
  for ns in $(lab_namespaces); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -INT $pids 2>/dev/null || true
  done
  # The edges and origins shut down gracefully; 5 s, then SIGKILL.
  local _
  for _ in $(seq 1 50); do
    pids=$(for ns in $(lab_namespaces); do ip netns pids "$ns"; done)
    [[ -z $pids ]] && break
    sleep 0.1
  done
  for ns in $(lab_namespaces); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    ip netns del "$ns"
  done
  rm -f /tmp/mlab-*-upgrade.sock
  rm -rf "$LAB/pids"
  if [[ -n $(lab_namespaces) ]] || ip link show 2>/dev/null | grep -q 'ml[wh]-'; then
    die "something of the lab is left: $(lab_namespaces | tr '\n' ' ')"
  fi
  log "down: no mlab-* namespace, link or process left"
}

case "${1:-}" in
  up) up ;;
  measure) measure ;;
  status) status ;;
  down) down ;;
  check)
    trap down EXIT
    up
    measure
    ;;
  *)
    echo "usage: $0 up | measure | status | down | check" >&2
    exit 2
    ;;
esac
