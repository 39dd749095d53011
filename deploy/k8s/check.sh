#!/usr/bin/env bash
# Validates the Kubernetes deployment as far as one machine can (CI runs
# it): the generated files are current, every kustomization renders (the
# whole system and each region alone), every rendered object passes the
# Kubernetes schemas of $K8S_VERSION in strict mode (unknown fields are
# errors; the Prometheus Operator's PodMonitors and PrometheusRule have no
# schema there and are checked by check.py), and check.py cross-checks regions, Services,
# selectors, Secrets and the mounted configs with `edge --check` and
# `origin --check`.
#
#   deploy/k8s/check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
# The newest Kubernetes the pinned validator knows; the manifests need 1.30+
# (the preStop sleep action).
K8S_VERSION="${K8S_VERSION:-1.37.0}"
TOOLS="${MERIDIAN_TOOLS_DIR:-/var/tmp/meridian-tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log() { echo "k8s check: $*" >&2; }

# shellcheck source=deploy/local/lib.sh
source deploy/local/lib.sh
deploy/local/prereqs.sh --k8s
k8s_tools

log "the Containerfile builds what exists (no engine here to build it)"
cargo metadata --no-deps --format-version 1 | python3 deploy/container/check.py

log "generated files are current"
python3 deploy/k8s/generate.py --check

cargo build -q -p meridian-edge -p meridian-server --bins
WORK="$(mktemp -d /tmp/meridian-k8s.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

for dir in deploy/k8s deploy/k8s/base/edge deploy/k8s/regions/*/; do
  dir="${dir%/}"
  out="$WORK/$(echo "$dir" | tr / _).yaml"
  "$KUSTOMIZE" build "$dir" >"$out"
  objects=$(grep -c '^kind:' "$out" || true)
  log "$dir renders ($objects objects); schemas of Kubernetes $K8S_VERSION"
  # --quiet prints only warnings and failures: the only warnings allowed
  # are the Prometheus Operator's kinds, which have no schema there.
  report="$("$KUBERNETES_VALIDATE_VENV/bin/kubernetes-validate" -k "$K8S_VERSION" --strict --quiet "$out" 2>&1)" || {
    echo "$report" >&2
    exit 1
  }
  unexpected="$(echo "$report" | grep -Ev "Couldn't find schema for kind (PodMonitor|PrometheusRule) with api version monitoring.coreos.com/v1" | grep . || true)"
  if [[ -n $unexpected ]]; then
    echo "$unexpected" >&2
    exit 1
  fi
done

log "regions, Services, selectors, Secrets and configs (edge --check, origin --check)"
"$KUBERNETES_VALIDATE_VENV/bin/python" deploy/k8s/check.py "$WORK/deploy_k8s.yaml" \
  --edge "$CARGO_TARGET_DIR/debug/edge" --origin "$CARGO_TARGET_DIR/debug/origin" --work "$WORK" --self-test
