#!/usr/bin/env bash
# Exercises the edge's live operations with the real binaries, under load:
#
#   1. graceful upgrade: a second edge process started with --upgrade takes
#      over the listening sockets from the first (SIGQUIT), with requests
#      flowing the whole time — none may fail;
#   2. SIGHUP reloads: a valid change is applied, an invalid file is
#      rejected and the running config keeps serving;
#   3. edgectl against the admin API: regions, drain/undrain, purge, reload.
#
#   deploy/local/edge-ops-check.sh      (CI runs it; takes about 20 s)
# Ports 17301 (origin), 17443 (edge), 17464 (metrics), 17901 (admin).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug"
WORK="$(mktemp -d /tmp/meridian-edge-ops.XXXXXX)"
PIDS=()
cleanup() {
  touch "$WORK/stop"
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "edge-ops-check: FAIL: $*" >&2; tail -n 20 "$WORK"/*.log >&2 || true; exit 1; }

cargo build -q -p meridian-edge -p meridian-server --bins
./certs/generate.sh >/dev/null

sed -e 's/^listen = .*/listen = "127.0.0.1:17301"/' regions/chicago.toml > "$WORK/chicago.toml"
write_edge_config() { # extra TOML appended
  cat > "$WORK/edge.toml" <<TOML
[listen]
https = "127.0.0.1:17443"
metrics = "127.0.0.1:17464"
upgrade_sock = "$WORK/upgrade.sock"
[admin]
listen = "127.0.0.1:17901"
token = "edge-ops-check-token-0001"
[tls]
certs = [{ names = ["localhost"], cert = "$ROOT/certs/localhost.crt", key = "$ROOT/certs/localhost.key" }]
[edge]
internal_secret = "meridian-dev-internal-secret-0001"
access_log = false
[health]
interval_ms = 200
[[regions]]
id = "chicago"
latitude = 41.8781
longitude = -87.6298
origin = "127.0.0.1:17301"
[[routes]]
prefix = "/api/catalog"
service = "catalog"
$1
TOML
}
metric() { # name, label filter → summed value
  curl -fsS http://127.0.0.1:17464/metrics | awk -v n="$1" -v f="$2" \
    'index($0, n) == 1 && index($0, f) { s += $NF } END { print s + 0 }'
}
export MERIDIAN_EDGE_ADMIN_URL=http://127.0.0.1:17901 MERIDIAN_EDGE_ADMIN_TOKEN=edge-ops-check-token-0001
URL=https://localhost:17443/api/catalog/categories

"$BIN/origin" --region "$WORK/chicago.toml" > "$WORK/origin.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:17301/readyz >/dev/null 2>&1 && break; sleep 0.1; done
write_edge_config ""
"$BIN/edge" --config "$WORK/edge.toml" > "$WORK/edge-a.log" 2>&1 &
EDGE_A=$!
PIDS+=($EDGE_A)
for _ in $(seq 1 100); do curl -fsS --cacert certs/ca.crt "$URL" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS --cacert certs/ca.crt "$URL" >/dev/null || fail "edge A does not serve"

# Load: four loops of new connections until $WORK/stop exists.
for n in 1 2 3 4; do
  ( while [[ ! -e "$WORK/stop" ]]; do
      curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 --cacert certs/ca.crt "$URL" || echo "000"
    done > "$WORK/codes.$n" ) &
done
sleep 2

echo "==> graceful upgrade: edge B takes the sockets from edge A"
"$BIN/edge" --config "$WORK/edge.toml" --upgrade > "$WORK/edge-b.log" 2>&1 &
EDGE_B=$!
PIDS+=($EDGE_B)
sleep 1
kill -QUIT "$EDGE_A"
for _ in $(seq 1 200); do kill -0 "$EDGE_A" 2>/dev/null || break; sleep 0.1; done
kill -0 "$EDGE_A" 2>/dev/null && fail "edge A did not exit after handing over"
kill -0 "$EDGE_B" 2>/dev/null || fail "edge B is not running"
sleep 1

echo "==> SIGHUP: a valid change is applied"
write_edge_config $'[[cache.rules]]\nprefix = "/api/catalog"\nmax_ttl_ms = 60000'
kill -HUP "$EDGE_B"
for _ in $(seq 1 50); do [[ $(metric meridian_edge_config_reloads_total 'result="ok"') == 1 ]] && break; sleep 0.1; done
[[ $(metric meridian_edge_config_reloads_total 'result="ok"') == 1 ]] || fail "SIGHUP reload not applied"
curl -fsS --cacert certs/ca.crt "$URL" >/dev/null
curl -fsS -D - -o /dev/null --cacert certs/ca.crt "$URL" | grep -qi '^x-cache: HIT' || fail "the reloaded cache rule is not in force"

echo "==> SIGHUP: an invalid file is rejected, the old config keeps serving"
write_edge_config 'bogus_key = 1'
kill -HUP "$EDGE_B"
for _ in $(seq 1 50); do [[ $(metric meridian_edge_config_reloads_total 'result="failed"') == 1 ]] && break; sleep 0.1; done
[[ $(metric meridian_edge_config_reloads_total 'result="failed"') == 1 ]] || fail "invalid reload not counted"
curl -fsS -D - -o /dev/null --cacert certs/ca.crt "$URL" | grep -qi '^x-cache: HIT' || fail "old config not serving"

echo "==> edgectl"
EDGECTL="$BIN/edgectl"
# Output is captured before matching: `| grep -q` would close the pipe early.
expect() { # description, pattern, command...
  local what="$1" pattern="$2" out
  shift 2
  out=$("$@" 2>&1) || fail "$what: $out"
  grep -q -- "$pattern" <<<"$out" || fail "$what: $out"
}
expect "edgectl regions" '"id": "chicago"' "$EDGECTL" regions
if out=$("$EDGECTL" reload 2>&1); then fail "edgectl reload accepted an invalid file"; fi
grep -q bogus_key <<<"$out" || fail "the rejection does not name the key: $out"
write_edge_config $'[[cache.rules]]\nprefix = "/api/catalog"\nmax_ttl_ms = 60000'
expect "edgectl reload" reloaded "$EDGECTL" reload
expect "edgectl purge" purged "$EDGECTL" purge --prefix /api/catalog
expect "edgectl drain" '"drained": true' "$EDGECTL" drain chicago
expect "edgectl undrain" '"drained": false' "$EDGECTL" undrain chicago
if "$EDGECTL" --token wrong-token-wrong drain chicago >/dev/null 2>&1; then fail "a wrong token was accepted"; fi

touch "$WORK/stop"
sleep 1
total=$(cat "$WORK"/codes.* | wc -l)
bad=$(cat "$WORK"/codes.* | grep -vc '^200$' || true)
echo "edge-ops-check: $total requests during upgrade and reloads, $bad failed"
[[ $total -gt 100 ]] || fail "too little load ($total requests)"
[[ $bad == 0 ]] || fail "$bad requests failed: $(sort "$WORK"/codes.* | uniq -c | tr '\n' ' ')"
echo "edge-ops-check: ok"
