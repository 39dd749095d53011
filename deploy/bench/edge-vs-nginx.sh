#!/usr/bin/env bash
# Edge vs nginx as a TLS reverse proxy, measured in one run on this machine.
#
# Both proxies terminate TLS (HTTP/1.1 keep-alive from wrk) in front of the
# same upstream (a tiny nginx answering 200 to everything), one worker each,
# no access logs. Scenarios for the edge: a public route (routing + geo +
# metrics) and a session-required route (plus a session check answered from
# its moka cache after the first Redis lookup), and cached answers (nginx
# proxy_cache vs the edge's cache, both HITs). Reported: requests/s and CPU
# time per request of the proxy process, and the edge/nginx ratios.
#
#   deploy/bench/edge-vs-nginx.sh [seconds] [connections]
# Needs: nginx, wrk (apt: nginx-light wrk), redis-server on 6379 for the
# session scenario, and a release build (`cargo build --release -p meridian-edge`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DURATION="${1:-10}"
CONNS="${2:-32}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
EDGE_BIN="$TARGET_DIR/release/edge"
WORK="$(mktemp -d /tmp/meridian-bench.XXXXXX)"
UP_PORT=18081 NGINX_PORT=18443 EDGE_PORT=18444
CLK_TCK=$(getconf CLK_TCK)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "install nginx and wrk (apt-get install nginx-light wrk)"; exit 1; }
[[ -x "$EDGE_BIN" ]] || (cd "$ROOT" && cargo build --release -p meridian-edge)
"$ROOT/certs/generate.sh"
CRT="$ROOT/certs/localhost.crt" KEY="$ROOT/certs/localhost.key"

nginx_conf() { # name, server block
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
# Workers must write proxy_cache files into the (root-only) work dir.
user root;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1; proxy_temp_path $WORK/$1; fastcgi_temp_path $WORK/$1;
  uwsgi_temp_path $WORK/$1; scgi_temp_path $WORK/$1;
  keepalive_requests 1000000;
  $2
}
CONF
  nginx -c "$WORK/$1/nginx.conf" -e "$WORK/$1/error.log" &
  PIDS+=($!)
}

nginx_conf upstream "server { listen 127.0.0.1:$UP_PORT;
    location / { default_type application/json; return 200 '{\"ok\":true}'; }
    location /api/search { default_type application/json; add_header Cache-Control 'public, max-age=60';
      return 200 '{\"items\":[],\"total\":0}'; } }"
nginx_conf proxy "upstream origin { server 127.0.0.1:$UP_PORT; keepalive 64; }
  proxy_cache_path $WORK/proxy/cache keys_zone=pages:10m;
  server { listen 127.0.0.1:$NGINX_PORT ssl http2; ssl_certificate $CRT; ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    location /api/search { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_cache pages; } }"

# A session the edge validates in Redis once, then from its cache.
TOKEN=benchbenchbenchbenchbenchbenchbenchbench123
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
redis-cli -h 127.0.0.1 -p 6379 set "meridian-bench:session:$HASH" \
  "{\"user_id\":\"0190a8d0-0000-7000-8000-000000000001\",\"created_at\":0,\"expires_at\":4102444800}" EX 3600 >/dev/null

cat > "$WORK/edge.toml" <<CONF
[listen]
https = "127.0.0.1:$EDGE_PORT"
threads = 1
[tls]
certs = [{ cert = "$CRT", key = "$KEY" }]
[edge]
internal_secret = "bench-internal-secret-0123456789"
access_log = false
[session]
redis_url = "redis://127.0.0.1:6379"
redis_key_prefix = "meridian-bench:"
cache_ttl_ms = 60000
[[regions]]
id = "local"
latitude = 41.88
longitude = -87.63
origin = "127.0.0.1:$UP_PORT"
[[routes]]
prefix = "/api/catalog"
service = "catalog"
[[routes]]
prefix = "/api/cart"
service = "cart"
auth = "required"
[[routes]]
prefix = "/api/search"
service = "search"
[cache]
purge_feed = false
[[cache.rules]]
prefix = "/api/search"
max_ttl_ms = 60000
CONF
RUST_LOG=warn "$EDGE_BIN" --config "$WORK/edge.toml" > "$WORK/edge.log" 2>&1 &
EDGE_PID=$!
PIDS+=($EDGE_PID)
sleep 1
NGINX_PID=$(pgrep -f "$WORK/proxy/nginx.conf" | head -1)

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

run() { # label, url, pid, extra wrk args...
  local label=$1 url=$2 pid=$3; shift 3
  curl -sk -o /dev/null "$url" "$@" || true
  wrk -t1 -c"$CONNS" -d2s "$url" "$@" >/dev/null  # warm up (TLS sessions, pools)
  local before after out reqs rps
  before=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url" "$@")
  after=$(cpu_ticks "$pid")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local errors
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  local us
  us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  printf "%-28s %10s req/s %8s us CPU/req %s\n" "$label" "$rps" "$us" "$errors"
  echo "$rps $us" > "$WORK/$label.result"
}

echo "TLS reverse proxy, HTTP/1.1 keep-alive, $CONNS connections, ${DURATION}s, 1 worker each"
run nginx "https://127.0.0.1:$NGINX_PORT/api/catalog/products" "$NGINX_PID"
run edge-public "https://127.0.0.1:$EDGE_PORT/api/catalog/products" "$EDGE_PID"
run edge-session "https://127.0.0.1:$EDGE_PORT/api/cart/items" "$EDGE_PID" -H "Authorization: Bearer $TOKEN"
# Cached answers: nginx proxy_cache vs the edge's moka cache (both HITs).
run nginx-cached "https://127.0.0.1:$NGINX_PORT/api/search?q=lamp" "$NGINX_PID"
run edge-cached "https://127.0.0.1:$EDGE_PORT/api/search?q=lamp" "$EDGE_PID"

compare() { # edge scenario, nginx scenario
  read -r n_rps n_us < "$WORK/$2.result"
  read -r e_rps e_us < "$WORK/$1.result"
  awk -v s="$1" -v n="$2" -v a="$e_rps" -v b="$n_rps" -v c="$e_us" -v d="$n_us" \
    'BEGIN { printf "%-14s throughput %.2fx %s, CPU per request %.2fx\n", s, a / b, n, c / d }'
}
compare edge-public nginx
compare edge-session nginx
compare edge-cached nginx-cached
