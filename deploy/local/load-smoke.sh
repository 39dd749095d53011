#!/usr/bin/env bash
# The load generator's smoke run (CI, ~1 minute): every scenario through the
# edge on embedded stores, open loop in two steps, every region behind a
# relay, and chaos meanwhile: a region paused and resumed, another cut off
# and restored (neither is the region this machine's shoppers are routed
# to, so no request may fail), and delay added to the serving one. Fails on
# any failed request, on
# books that do not balance (lost or duplicated orders, shared payments,
# oversold or unaccounted units), or on a report without its parts.
#
#   deploy/local/load-smoke.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="$(mktemp -d /tmp/meridian-load-smoke.XXXXXX)"
deploy/local/load.sh --relays -- --rate 10,20 --step-secs 6 --shoppers 16 --strict \
  --chaos 2s:pause:dallas --chaos 5s:resume:dallas --chaos 3s:delay=5ms:chicago \
  --chaos 6s:cut:virginia --chaos 9s:restore:virginia --out "$OUT"
python3 - "$OUT/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
def need(ok, what):
    if not ok:
        problems.append(what)
need(len(r["steps"]) == 2, "two steps")
for s in r["steps"]:
    need(s["sessions"] > 0 and s["requests"] > 0, f"step {s['offered']}: traffic")
    need(all(k in s["latency"] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")), "percentiles per step")
scenarios = {"browse", "search", "checkout", "new_shopper", "returning", "seller", "carrier"}
need(scenarios <= set(r["scenarios"]), f"every scenario ran: {sorted(r['scenarios'])}")
need(r["checkouts"]["placed"] > 0, "orders were placed")
v = r["verification"]
need(v is not None and v["ok"] and v["orders_checked"] == r["checkouts"]["placed"], f"the books: {v}")
want = [("pause", "dallas"), ("delay=5ms", "chicago"), ("resume", "dallas"), ("cut", "virginia"), ("restore", "virginia")]
need([(c["action"], c["region"]) for c in r["chaos"]] == want and all(c["ok"] for c in r["chaos"]), f"chaos: {r['chaos']}")
need(len(r["timeline"]) >= 10 and sum(t["failed"] for t in r["timeline"]) == 0, "a timeline without failures")
if problems:
    print("load-smoke: the report lacks: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"load-smoke: OK ({r['checkouts']['placed']} orders, books balanced, report complete)")
PY
for f in report.json report.txt report.svg; do
  [[ -s $OUT/$f ]] || { echo "load-smoke: $OUT/$f is missing or empty" >&2; exit 1; }
done
rm -rf "$OUT"
