#!/usr/bin/env bash
# Starts a real Prometheus (Debian's package; installed if missing) against
# the local stack of deploy/local/run.sh, on http://127.0.0.1:9090, with
# its data in .run/prometheus. Ctrl-C stops it.
#
#   deploy/local/prometheus.sh [extra prometheus flags]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
if ! command -v prometheus >/dev/null; then
  echo "==> installing prometheus (Debian package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v promtool >/dev/null && promtool check config "$ROOT/deploy/prometheus/prometheus.yml"
mkdir -p "$ROOT/.run/prometheus"
exec prometheus \
  --config.file="$ROOT/deploy/prometheus/prometheus.yml" \
  --storage.tsdb.path="$ROOT/.run/prometheus" \
  --web.listen-address=127.0.0.1:9090 "$@"
