#!/usr/bin/env bash
# examples/try.sh NAME PROGRAM: runs one example the way a user would, with a few seconds of demo
# traffic, and prints every command it runs (a recipe to copy) and what the example printed.
# `./dev try NAME` builds the example and calls this; NAME is forwarder, udp_tunnel or
# ping_responder, PROGRAM the built example.
#
# Everything happens in a private network and mount namespace made for the run (unshare; with
# --user --map-root-user when not root): the namespaces `ip netns add` makes there, the veth
# pair and the TUN devices exist only inside it, /run/netns is a scratch tmpfs, and the host's
# interfaces are never touched. Everything is torn down on exit (a trap, and the private
# namespace going away with the last process). Each step is bounded in time (ping -c/-W, the
# examples' --timeout, and `timeout` around the whole run).
set -euo pipefail

usage() {
  echo "usage: examples/try.sh forwarder|udp_tunnel|ping_responder PROGRAM" >&2
  exit 2
}
[ $# -eq 2 ] || usage
name=$1
bin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
case $name in forwarder | udp_tunnel | ping_responder) ;; *) usage ;; esac
[ -x "$bin" ] || { echo "try: $bin is not a program (build it first)" >&2; exit 1; }

if [ -z "${TUNKIT_TRY_INSIDE:-}" ]; then
  run=(unshare --mount --net --fork)
  if [ "$(id -u)" -ne 0 ]; then run=(unshare --user --map-root-user --mount --net --fork); fi
  export TUNKIT_TRY_INSIDE=1
  exec timeout --kill-after=5 60 "${run[@]}" "$0" "$name" "$bin"
fi

# --- inside the private namespaces ------------------------------------------------------------
mount -t tmpfs tunkit-try /run  # a scratch /run: `ip netns add` keeps its names in /run/netns
mkdir -p /run/netns
ip link set lo up
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del tka 2>/dev/null || true
  ip netns del tkb 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Prints a command as a recipe line, then runs it.
step() {
  printf '$ %s\n' "$*"
  "$@"
}
# The same for a program left running in the background; its output goes to $work/$1.log.
start() {
  local log=$work/$1.log
  shift
  printf '$ %s &\n' "$*"
  "$@" >"$log" 2>&1 &
  pids+=($!)
}
# Waits (at most 10 s) for the line "ready: ..." in $work/$1.log.
wait_ready() {
  for _ in $(seq 100); do
    grep -q '^ready:' "$work/$1.log" && return 0
    sleep 0.1
  done
  echo "try: $1 did not get ready:" >&2
  cat "$work/$1.log" >&2
  return 1
}
# Ends the background programs (SIGTERM, as Ctrl-C would) and shows what each printed.
finish() {
  local jobs=""
  for i in $(seq ${#pids[@]}); do jobs+=" %$i"; done
  printf '$ kill -TERM%s; wait   # as Ctrl-C: each prints its counters and exits\n' "$jobs"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local rc=0
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  pids=()
  for log in "$@"; do
    echo
    echo "== what $log printed =="
    cat "$work/$log.log"
  done
  [ $rc -eq 0 ] || status=1
}
status=0
# A step whose failure is reported, not fatal: the example's own output is still shown.
check() {
  step "$@" || { echo "try: failed: $*" >&2; status=1; }
}

echo "== ./dev try $name: the commands (copy them to run it yourself, as root) =="
case $name in
  ping_responder)
    # One namespace: the responder's TUN gets 10.77.0.1/24 and fd00:77::1/64 and answers for
    # every other address of both subnets.
    step ip netns add tka
    start ping_responder ip netns exec tka "$bin" --count 6 --timeout 20
    wait_ready ping_responder
    check ip netns exec tka ping -c 3 -i 0.2 -W 1 10.77.0.2
    check ip netns exec tka ping -6 -c 3 -i 0.2 -W 1 fd00:77::2
    finish ping_responder
    ;;
  forwarder)
    # Two TUN devices joined by the forwarder, then moved into two namespaces (an open descriptor
    # follows its device): a ping from one namespace reaches the other only through it.
    step ip netns add tka
    step ip netns add tkb
    step ip tuntap add dev fwa mode tun
    step ip tuntap add dev fwb mode tun
    start forwarder "$bin" --timeout 20 fwa fwb
    wait_ready forwarder
    step ip link set fwa netns tka
    step ip link set fwb netns tkb
    step ip -n tka addr add 10.201.0.1/24 dev fwa
    step ip -n tka link set fwa up
    step ip -n tka route add 10.201.1.0/24 dev fwa
    step ip -n tkb addr add 10.201.1.1/24 dev fwb
    step ip -n tkb link set fwb up
    step ip -n tkb route add 10.201.0.0/24 dev fwb
    check ip netns exec tka ping -c 3 -i 0.2 -W 1 10.201.1.1
    finish forwarder
    ;;
  udp_tunnel)
    # Two namespaces joined by a veth pair (the "internet"), a tunnel instance in each: the
    # ping to 10.60.0.2 goes through both TUN devices inside UDP datagrams over the veth pair.
    step ip netns add tka
    step ip netns add tkb
    step ip link add vA netns tka type veth peer name vB netns tkb
    step ip -n tka addr add 192.168.60.1/24 dev vA
    step ip -n tka link set vA up
    step ip -n tkb addr add 192.168.60.2/24 dev vB
    step ip -n tkb link set vB up
    start tunnel_a ip netns exec tka "$bin" --local 192.168.60.1:5000 \
      --remote 192.168.60.2:5000 --tun-addr 10.60.0.1/24 --timeout 20
    start tunnel_b ip netns exec tkb "$bin" --local 192.168.60.2:5000 \
      --remote 192.168.60.1:5000 --tun-addr 10.60.0.2/24 --timeout 20
    wait_ready tunnel_a
    wait_ready tunnel_b
    check ip netns exec tka ping -c 3 -i 0.2 -W 1 10.60.0.2
    finish tunnel_a tunnel_b
    ;;
esac
echo
echo "== done: the namespaces, devices and veth pair are gone with this run =="
exit $status
