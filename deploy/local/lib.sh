# Shell helpers shared by the scripts in deploy/local (sourced, not run).

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
