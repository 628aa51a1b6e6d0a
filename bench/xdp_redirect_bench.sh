#!/usr/bin/env bash
# Packets per second into a TUN reader: taken off a veth by XDP (examples/xdp_redirect --from)
# against the same traffic forwarded by the IP stack (--stack), in interleaved rounds.
#
#   sudo bench/xdp_redirect_bench.sh [--build DIR] [--rounds N] [--seconds S] [--size BYTES]
#
# Two namespaces per measurement, made fresh and deleted after it: S sends UDP datagrams of
# --size payload bytes to 10.89.0.7 as fast as it can for --seconds (bench/udp_load); R holds the
# veth peer and the TUN, and runs the example, which counts what reaches the TUN. R forwards
# (ip_forward=1) only for the stack path; the XDP path must do without. Prints one line per
# measurement and the medians. Nothing outside the two namespaces is touched. Needs root.
set -euo pipefail

build=${TUNKIT_BENCH_BUILD:-$(dirname "$0")/../build-bench}
rounds=3
seconds=3
size=64
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "xdp_redirect_bench: unknown argument \"$1\"" >&2; exit 2 ;;
  esac
done
example=$build/examples/xdp_redirect
load=$build/bench/tunkit_udp_load
for f in "$example" "$load"; do
  [[ -x $f ]] || { echo "xdp_redirect_bench: $f is missing: cmake --build --preset bench" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "xdp_redirect_bench: needs root (network namespaces)" >&2; exit 1; }

ns_s=tkxdp-s-$$
ns_r=tkxdp-r-$$
cleanup() { ip netns del "$ns_s" 2>/dev/null || true; ip netns del "$ns_r" 2>/dev/null || true; }
trap cleanup EXIT

# One measurement: prints "PACKETS_PER_S RECEIVED SENT".
measure() {
  local mode=$1 out
  cleanup
  ip netns add "$ns_s"
  ip netns add "$ns_r"
  ip -n "$ns_s" link set lo up
  ip -n "$ns_r" link set lo up
  ip -n "$ns_s" link add vS type veth peer name vR netns "$ns_r"
  ip -n "$ns_s" addr add 192.168.63.1/24 dev vS
  ip -n "$ns_s" link set vS up
  ip -n "$ns_s" route add 10.89.0.0/24 via 192.168.63.2
  ip -n "$ns_r" addr add 192.168.63.2/24 dev vR
  ip -n "$ns_r" link set vR up
  ip netns exec "$ns_r" sysctl -qw net.ipv4.ip_forward=$([[ $mode == stack ]] && echo 1 || echo 0)
  local args=(--from vR)
  [[ $mode == stack ]] && args=(--stack)
  out=$(mktemp)
  ip netns exec "$ns_r" "$example" "${args[@]}" --timeout $((seconds + 3)) >"$out" 2>&1 &
  local reader=$!
  for _ in $(seq 50); do grep -q '^ready: ' "$out" && break; sleep 0.1; done
  grep -q '^ready: ' "$out" || { cat "$out" >&2; kill "$reader"; return 1; }
  ip netns exec "$ns_s" ping -c 1 -W 2 192.168.63.2 >/dev/null  # neighbours resolved
  local sent
  sent=$(ip netns exec "$ns_s" "$load" send --to 10.89.0.7:9 --size "$size" --seconds "$seconds" \
         --json | sed -n 's/.*"sent":\([0-9]*\).*/\1/p')
  wait "$reader"
  local line
  line=$(grep '^done: ' "$out")
  rm -f "$out"
  # done: N packets, B bytes, R packets/s
  read -r _ received _ _ _ rate _ <<<"$line"
  echo "$rate $received $sent"
}

declare -A rates
echo "xdp_redirect_bench: $rounds rounds, $seconds s of ${size}-byte UDP payloads per measurement"
for round in $(seq "$rounds"); do
  for mode in xdp stack; do
    read -r rate received sent <<<"$(measure "$mode")"
    printf 'round %d %-5s %9s packets/s into the TUN reader (%s received of %s sent)\n' \
      "$round" "$mode" "$rate" "$received" "$sent"
    rates[$mode]+="$rate "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
x=$(median <<<"${rates[xdp]}")
s=$(median <<<"${rates[stack]}")
echo "median: xdp $x packets/s, stack $s packets/s, xdp/stack $(awk -v a="$x" -v b="$s" 'BEGIN {printf "%.2f", a / b}')"
