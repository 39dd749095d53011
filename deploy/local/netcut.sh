#!/usr/bin/env bash
# Cuts (and restores) the loopback traffic of one TCP port at the network
# layer, for stores no relay can stand in front of: a Kafka client follows
# the broker's advertised address, and the local broker (noida-db) cannot
# advertise another one, so a relay would see only the first connection.
#
#   deploy/local/netcut.sh cut PORT       every packet to or from PORT stalls
#   deploy/local/netcut.sh restore PORT   traffic flows again
#   deploy/local/netcut.sh status         which ports are cut
#
# How: this kernel has no netem and no tc actions (drop), but htb works, so
# cut ports' packets go to an htb class of 8 bit/s: connections hang as
# behind a dead link (no reset), and queued packets are dropped on restore
# (TCP resends them). The htb root on `lo` exists only while a port is cut;
# everything else passes through its 10 Gbit/s default class meanwhile.
# Needs root (tc).
set -euo pipefail
usage() { echo "usage: $0 {cut|restore} PORT | status" >&2; exit 2; }
command -v tc >/dev/null || { echo "netcut.sh: tc not found (Debian package iproute2)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "netcut.sh: needs root (tc qdisc on lo)" >&2; exit 1; }
action=${1:-}
port=${2:-}
ROOT_HANDLE=1:
CUT_CLASS=1:2
has_root() { tc qdisc show dev lo | grep -q "qdisc htb 1: root"; }
cut_ports() { # the ports with a filter, one per line
  has_root || return 0
  # u32 shows a port match as the 32-bit word at offset 20: source port
  # in the high half, destination port in the low half.
  local word hex
  for word in $(tc filter show dev lo parent $ROOT_HANDLE 2>/dev/null | awk '/match/ {split($2, a, "/"); print a[1]}'); do
    for hex in "${word:0:4}" "${word:4:4}"; do
      if ((16#$hex)); then echo $((16#$hex)); fi
    done
  done | sort -un
}
add_root() {
  has_root && return 0
  tc qdisc add dev lo root handle $ROOT_HANDLE htb default 1 r2q 1000000
  tc class add dev lo parent $ROOT_HANDLE classid 1:1 htb rate 10gbit quantum 65536
  tc class add dev lo parent $ROOT_HANDLE classid $CUT_CLASS htb rate 8bit ceil 8bit burst 1 cburst 1 quantum 1500
}
case "$action" in
  status)
    ports=$(cut_ports)
    if [[ -z $ports ]]; then echo "netcut.sh: no port is cut"; else echo "netcut.sh: cut: $(echo $ports)"; fi
    ;;
  cut)
    [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || usage
    if cut_ports | grep -qx "$port"; then echo "netcut.sh: port $port is already cut"; exit 0; fi
    add_root
    # Both directions: to the port (requests) and from it (answers).
    tc filter add dev lo parent $ROOT_HANDLE protocol ip prio 1 u32 match ip dport "$port" 0xffff classid $CUT_CLASS
    tc filter add dev lo parent $ROOT_HANDLE protocol ip prio 1 u32 match ip sport "$port" 0xffff classid $CUT_CLASS
    echo "netcut.sh: port $port is cut"
    ;;
  restore)
    [[ $port =~ ^[0-9]+$ ]] || usage
    if ! cut_ports | grep -qx "$port"; then echo "netcut.sh: port $port was not cut"; exit 0; fi
    others=$(cut_ports | grep -vx "$port" || true)
    # u32 filters cannot be removed one by one without their handles; take
    # the root away and put back the other cuts.
    tc qdisc del dev lo root
    for p in $others; do "$0" cut "$p" >/dev/null; done
    echo "netcut.sh: port $port is restored"
    ;;
  *) usage ;;
esac
