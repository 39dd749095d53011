# The bench's stage, sourced by edge-vs-nginx.sh and edge-instructions.sh:
# an upstream nginx answering every request itself, nginx as a TLS proxy in
# front of it, and the edge (release build) in front of it too, one worker
# each. Sets ROOT, WORK, EDGE_PID, NGINX_PID, the ports and TOKEN (a session
# the edge validates in Redis once, then from its cache).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
EDGE_BIN="$TARGET_DIR/release/edge"
WORK="$(mktemp -d /tmp/meridian-bench.XXXXXX)"
UP_PORT=18081 NGINX_PORT=18443 EDGE_PORT=18444
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

for tool in nginx wrk h2load; do
  command -v $tool >/dev/null || { echo "install nginx, wrk and h2load (apt-get install nginx-light wrk nghttp2-client)"; exit 1; }
done
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

# A ~1 KiB product answer and a 50-item listing (31 KB), as JSON.
python3 -c 'import json; print(json.dumps({"id":"0190a8d0-0000-7000-8000-000000000001","title":"Hand-turned walnut bowl","description":"x"*900,"price":{"amount":4500,"currency":"USD"}}))' > "$WORK/kib.json"
python3 - "$WORK/listing.json" <<'PY'
import json, sys
words = ("turned lathe black walnut oil wax grain bowl hand cut maple cherry oak finish smooth rim base "
         "foot wall curve light dark warm food safe gift kitchen table serve fruit salad bread craft shop").split()
items = [{"id": "0190a8d0-0000-7000-8000-%012d" % i, "title": "Hand-turned walnut bowl no. %d" % i,
          "description": " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(50)),
          "price": {"amount": 1000 + 37 * i, "currency": "USD"}, "seller_id": "0190a8d0-0000-7000-9000-%012d" % (i % 6),
          "category": "home", "stock": i % 7, "rating": {"average": 4.5, "count": 10 + i},
          "image_url": "/api/sellers/images/0190a8d0-0000-7000-a000-%012d" % i} for i in range(50)]
open(sys.argv[1], "w").write(json.dumps({"items": items, "next_cursor": None}))
PY
nginx_conf upstream "server { listen 127.0.0.1:$UP_PORT;
    location / { default_type application/json; return 200 '{\"ok\":true}'; }
    location = /api/catalog/kib { default_type application/json; alias $WORK/kib.json; }
    location = /api/catalog/listing { default_type application/json; add_header Cache-Control 'public, max-age=60';
      alias $WORK/listing.json; }
    location /api/search { default_type application/json; add_header Cache-Control 'public, max-age=60';
      return 200 '{\"items\":[],\"total\":0}'; } }"
nginx_conf proxy "upstream origin { server 127.0.0.1:$UP_PORT; keepalive 64; }
  proxy_cache_path $WORK/proxy/cache keys_zone=pages:10m;
  server { listen 127.0.0.1:$NGINX_PORT ssl http2; ssl_certificate $CRT; ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    location /api/search { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_cache pages; }
    location /api/catalog/listing { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_cache pages; gzip on; gzip_types application/json; gzip_comp_level 5; } }"

# A session the edge validates in Redis once, then from its cache.
TOKEN=benchbenchbenchbenchbenchbenchbenchbench123
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
redis-cli -h 127.0.0.1 -p 6379 set "meridian-bench:session:$HASH" \
  "{\"user_id\":\"0190a8d0-0000-7000-8000-000000000001\",\"created_at\":0,\"expires_at\":4102444800}" EX 3600 >/dev/null

cat > "$WORK/edge.toml" <<CONF
[listen]
https = "127.0.0.1:$EDGE_PORT"
threads = 1
${WORK_STEALING:+work_stealing = $WORK_STEALING}
[health]
# Health checks would be noise in the counts; the upstream never fails here.
interval_ms = ${HEALTH_INTERVAL_MS:-1000}
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
[[cache.rules]]
prefix = "/api/catalog/listing"
max_ttl_ms = 60000
CONF
# EDGE_WRAP runs the edge under a tool (valgrind for instruction counts).
RUST_LOG=warn ${EDGE_WRAP:-} "$EDGE_BIN" --config "$WORK/edge.toml" > "$WORK/edge.log" 2>&1 &
EDGE_PID=$!
PIDS+=($EDGE_PID)
for _ in $(seq 1 100); do
  curl -sk -o /dev/null "https://127.0.0.1:$EDGE_PORT/api/catalog/products" && break
  sleep 0.2
done
kill -0 "$EDGE_PID" 2>/dev/null || { echo "the edge did not start:"; cat "$WORK/edge.log"; exit 1; }
NGINX_PID=$(pgrep -f "$WORK/proxy/nginx.conf" | head -1)

