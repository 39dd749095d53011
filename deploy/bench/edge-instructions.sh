#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: deterministic for
# a given binary and request mix, whatever else the machine is doing, so a
# change to the edge's path (or to the Pingora patch set) is measured by
# the counts it removes, not by a noisy clock.
#
#   deploy/bench/edge-instructions.sh [requests]
# Per scenario: warm up, zero the counters, send `requests` requests over 8
# keep-alive connections (h2load --h1, then HTTP/2), dump; Ir / requests.
# Needs what edge-vs-nginx.sh needs, plus valgrind.
set -euo pipefail
N="${1:-2000}"
command -v valgrind >/dev/null || { echo "install valgrind"; exit 1; }
OUT="$(mktemp -d /tmp/meridian-callgrind.XXXXXX)"
export HEALTH_INTERVAL_MS=600000
EDGE_WRAP="valgrind --tool=callgrind --callgrind-out-file=$OUT/callgrind.out --dump-instr=no"
source "$(dirname "$0")/setup.sh"

count() { # label, url, h2load protocol flag, headers...
  local label=$1 url=$2 proto=$3; shift 3
  local h=()
  for header in "$@"; do h+=(-H "$header"); done
  h2load $proto -t1 -c8 -n 200 "${h[@]}" "$url" >/dev/null
  callgrind_control --zero "$EDGE_PID" >/dev/null
  local out
  out=$(h2load $proto -t1 -c8 -n "$N" "${h[@]}" "$url")
  echo "$out" | grep -q "$N succeeded" || { echo "$label: not every request succeeded"; echo "$out"; exit 1; }
  rm -f "$OUT"/callgrind.out.*
  callgrind_control --dump="$label" "$EDGE_PID" >/dev/null
  sleep 1
  local total
  total=$(awk '/^totals:|^summary:/ {print $2; exit}' "$OUT"/callgrind.out.*)
  mv "$OUT"/callgrind.out.[0-9]* "$OUT/$label${proto:---h2}.out"
  awk -v l="$label" -v p="${proto:---h2}" -v t="$total" -v n="$N" \
    'BEGIN { printf "%-12s %-5s %9.0f instructions/request\n", l, p, t / n }'
}

E="https://127.0.0.1:$EDGE_PORT"
for proto in --h1 ""; do
  count public "$E/api/catalog/products" "$proto"
  count session "$E/api/cart/items" "$proto" "Authorization: Bearer $TOKEN"
  count kib "$E/api/catalog/kib" "$proto"
  count cached "$E/api/search?q=lamp" "$proto"
  # The same cached 37 KB listing, as stored and as its brotli variant.
  count cached-plain "$E/api/catalog/listing" "$proto"
  count cached-br "$E/api/catalog/listing" "$proto" "Accept-Encoding: br"
done
echo "callgrind dumps: $OUT (callgrind_annotate <file> for the profile)"
