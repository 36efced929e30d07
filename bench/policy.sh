#!/usr/bin/env bash
# Network policy benchmark (not a test), against the same run without policies:
#   1. fastdp TCP throughput (1 stream) and ping RTT between containers on two hosts, with no
#      policy vs 100 policies over 1,000 targets on both hosts (the measured pair selected by
#      policies and allowed), alternating RUNS times; goal: at most 5% lower throughput.
#   2. attach to enforced: a new target's set elements in the kernel at 10,000 targets
#      (model update + one nft transaction); goal: under 100 ms.
#   3. the rule set's size: sets, elements, rules, the nft batch, and the kernel's unreclaimable
#      slab growth while loading it (noisy where other work runs on the machine).
# Needs root, iperf3. Usage: bench/policy.sh [SECONDS_PER_TEST] [RUNS]
# PROFILE=debug uses debug builds (the datapath is the kernel's either way; the attach-to-enforced
# figure then includes unoptimised model code, an upper bound).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then FLAG=--release; else FLAG=; fi
cargo build $FLAG --bins -q
cargo build $FLAG -q -p weave-daemon --example policy_load
BIN=$PWD/target/$PROFILE
LOAD=$BIN/examples/policy_load
P="wp$$"
UL=$P-ul H1=$P-h1 H2=$P-h2 C1=$P-c1 C2=$P-c2 S=$P-s

cleanup() {
  for ns in $C1 $C2 $H1 $H2 $UL $S; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "/tmp/$P"
}
trap cleanup EXIT

ip netns add $UL; ip -n $UL link add br0 type bridge; ip -n $UL link set br0 up
i=1
for h in $H1 $H2; do
  ip netns add $h; ip -n $h link set lo up
  ip -n $UL link add vh$i type veth peer name eth0 netns $h
  ip -n $UL link set vh$i master br0 up
  ip -n $h addr add 10.99.0.$i/24 dev eth0; ip -n $h link set eth0 up
  i=$((i+1))
done
ip netns add $C1; ip -n $C1 link set lo up
ip netns add $C2; ip -n $C2 link set lo up
mkdir -p /tmp/$P
i=1
for h in $H1 $H2; do
  peer=""; [ $i = 2 ] && peer=10.99.0.1
  ip netns exec $h "$BIN/weave" launch --name 02:00:00:00:00:0$i --nickname h$i --data-dir /tmp/$P/h$i \
    --resolv-conf '' --docker-api '' --mtu 1450 $peer >/dev/null
  i=$((i+1))
done
for _ in $(seq 100); do
  ip netns exec $H1 "$BIN/weave" status connections | grep -q "established fastdp" && break
  sleep 0.1
done
ip netns exec $H1 "$BIN/weave" attach 10.32.0.1/12 netns:$C1 >/dev/null
ip netns exec $H2 "$BIN/weave" attach 10.32.0.2/12 netns:$C2 >/dev/null
for _ in $(seq 100); do ip netns exec $C1 ping -c1 -W1 10.32.0.2 >/dev/null 2>&1 && break; done

measure() {
  ip netns exec $C2 iperf3 -s -D -1 -B 10.32.0.2 >/dev/null 2>&1
  sleep 0.5
  local gbps rtt
  gbps=$(ip netns exec $C1 iperf3 -c 10.32.0.2 -t "$SECS" -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
  rtt=$(ip netns exec $C1 ping -c 1000 -i 0.002 -q 10.32.0.2 | awk -F/ '/rtt/ {print $5}')
  echo "$gbps ${rtt:-nan}"
}

# Three cases, alternating: no policy; the pair selected (the server isolated and allowed from
# the client: its connections tracked); the pair selected by no policy (others are).
none=() sel=() other=()
for run in $(seq "$RUNS"); do
  none+=("$(measure)")
  for h in $H1 $H2; do
    ip netns exec $h "$LOAD" apply 1000 100 10.32.0.1=client 10.32.0.2=server >/dev/null
  done
  [[ $(ip netns exec $H2 nft list set inet weave_policy iso_in) == *10.32.0.2* ]]
  sel+=("$(measure)")
  for h in $H1 $H2; do
    ip netns exec $h "$LOAD" apply 1000 100 10.32.0.1=bystander 10.32.0.2=bystander >/dev/null
  done
  other+=("$(measure)")
  for h in $H1 $H2; do ip netns exec $h "$LOAD" remove; done
done
python3 - "${none[*]}" "${sel[*]}" "${other[*]}" <<'PY'
import sys
def mean(s, i):
    v = [float(x) for x in s.split()[i::2]]
    return sum(v) / len(v)
n, s, o = sys.argv[1:4]
print(f"fastdp TCP 1 stream (Gb/s): no policy {mean(n,0):.2f}; 100 policies/1,000 targets, pair selected {mean(s,0):.2f} ({mean(s,0)/mean(n,0):.3f}x), pair not selected {mean(o,0):.2f} ({mean(o,0)/mean(n,0):.3f}x)")
print(f"fastdp ping RTT (ms):       no policy {mean(n,1):.3f}; pair selected {mean(s,1):.3f} ({mean(s,1)/mean(n,1):.3f}x), pair not selected {mean(o,1):.3f} ({mean(o,1)/mean(n,1):.3f}x)")
PY

ip netns add $S
echo "attach to enforced:"
ip netns exec $S "$LOAD" latency 10000 100 20
echo "rule set size:"
for t in 1000 10000; do
  ip netns exec $S "$LOAD" apply $t 100
  ip netns exec $S "$LOAD" remove
done
