#!/usr/bin/env bash
# Edge vs nginx as a TLS reverse proxy, measured in one run on this machine.
#
# Both proxies terminate TLS in front of the same upstream (an nginx
# answering every request itself), one worker each, no access logs, loaded
# over HTTP/1.1 keep-alive (wrk) and HTTP/2 (h2load), with a tiny and a
# ~1 KiB upstream body. Scenarios for the edge: a public route (routing +
# geo + breaker + metrics) and a session-required route (plus a session
# check answered from its moka cache after the first Redis lookup), and
# cached answers (nginx proxy_cache vs the edge's cache, both HITs; then
# both compressing a 31 KB listing: nginx gzips every hit, the edge serves
# the variant it stored). Reported: requests/s and CPU time per request of
# the proxy process, and the edge/nginx ratios.
#
#   deploy/bench/edge-vs-nginx.sh [seconds] [connections]
# Needs: nginx, wrk, h2load (apt: nginx-light wrk nghttp2-client),
# redis-server on 6379 for the session scenario, and a release build
# (`cargo build --release -p meridian-edge`).
set -euo pipefail
DURATION="${1:-10}"
CONNS="${2:-32}"
CLK_TCK=$(getconf CLK_TCK)
source "$(dirname "$0")/setup.sh"

cpu_ticks() { # total utime+stime of a process and its children threads/workers
  local total=0
  for p in "$@"; do
    for pid in $p $(pgrep -P "$p" || true); do
      read -r -a f < "/proc/$pid/stat"
      total=$((total + f[13] + f[14]))
    done
  done
  echo $total
}

# One measured run: label, tool (h1 = wrk, h2 = h2load), url, pid, headers...
run() {
  local label=$1 tool=$2 url=$3 pid=$4; shift 4
  local headers=("$@") wrk_h=() h2_h=()
  for h in "${headers[@]}"; do wrk_h+=(-H "$h"); h2_h+=(-H "$h"); done
  curl -sk -o /dev/null "$url" "${wrk_h[@]}" || true
  local before after out reqs rps errors
  if [[ $tool == h1 ]]; then
    wrk -t1 -c"$CONNS" -d2s "$url" "${wrk_h[@]}" >/dev/null  # warm up (TLS sessions, pools)
    before=$(cpu_ticks "$pid")
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url" "${wrk_h[@]}")
    after=$(cpu_ticks "$pid")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  else
    # 16 connections x 4 streams: the browser-like HTTP/2 shape.
    h2load -t1 -c16 -m4 -D 2 "${h2_h[@]}" "$url" >/dev/null
    before=$(cpu_ticks "$pid")
    out=$(h2load -t1 -c16 -m4 -D "$DURATION" "${h2_h[@]}" "$url")
    after=$(cpu_ticks "$pid")
    reqs=$(echo "$out" | awk '/^requests:/ {print $8}')
    rps=$(echo "$out" | awk '/^finished in/ {gsub(",", "", $4); print $4}')
    errors=$(echo "$out" | awk '/^requests:/ && $10 + 0 > 0 {print $10 " failed"} /^status codes:/ && ($6 + $8 + $10) > 0 {print}' | tr '\n' ' ')
  fi
  local us
  us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  printf "%-24s %-3s %10s req/s %8s us CPU/req %s\n" "$label" "$tool" "$rps" "$us" "$errors"
  echo "$rps $us" > "$WORK/$label-$tool.result"
}

E="https://127.0.0.1:$EDGE_PORT" N="https://127.0.0.1:$NGINX_PORT"
BR="Accept-Encoding: br, gzip" GZ="Accept-Encoding: gzip"
echo "TLS reverse proxy, $CONNS HTTP/1.1 keep-alive connections (wrk) / 16x4 HTTP/2 streams (h2load), ${DURATION}s, 1 worker each"
for tool in h1 h2; do
  run nginx "$tool" "$N/api/catalog/products" "$NGINX_PID"
  run edge-public "$tool" "$E/api/catalog/products" "$EDGE_PID"
  run edge-session "$tool" "$E/api/cart/items" "$EDGE_PID" "Authorization: Bearer $TOKEN"
  run nginx-kib "$tool" "$N/api/catalog/kib" "$NGINX_PID"
  run edge-kib "$tool" "$E/api/catalog/kib" "$EDGE_PID"
  # Cached answers: nginx proxy_cache vs the edge's moka cache (both HITs).
  run nginx-cached "$tool" "$N/api/search?q=lamp" "$NGINX_PID"
  run edge-cached "$tool" "$E/api/search?q=lamp" "$EDGE_PID"
  # A cached 31 KB listing, compressed: nginx gzips each hit; the edge
  # serves its stored brotli (or gzip) variant.
  run nginx-cached-gzip "$tool" "$N/api/catalog/listing" "$NGINX_PID" "$GZ"
  run edge-cached-gzip "$tool" "$E/api/catalog/listing" "$EDGE_PID" "$GZ"
  run edge-cached-br "$tool" "$E/api/catalog/listing" "$EDGE_PID" "$BR"
  run edge-cached-plain "$tool" "$E/api/catalog/listing" "$EDGE_PID"
done

compare() { # edge scenario, nginx scenario, tool
  read -r n_rps n_us < "$WORK/$2-$3.result"
  read -r e_rps e_us < "$WORK/$1-$3.result"
  awk -v s="$1 ($3)" -v n="$2" -v a="$e_rps" -v b="$n_rps" -v c="$e_us" -v d="$n_us" \
    'BEGIN { printf "%-24s throughput %.2fx %s, CPU per request %.2fx\n", s, a / b, n, c / d }'
}
for tool in h1 h2; do
  compare edge-public nginx $tool
  compare edge-session nginx $tool
  compare edge-kib nginx-kib $tool
  compare edge-cached nginx-cached $tool
  compare edge-cached-gzip nginx-cached-gzip $tool
  compare edge-cached-br nginx-cached-gzip $tool
  compare edge-cached-br edge-cached-plain $tool
done
