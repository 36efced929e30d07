#!/usr/bin/env bash
# Datapath benchmark: TCP throughput (1 and 4 streams) and ping RTT between two containers on
# two "hosts" (network namespaces on one underlay bridge), over:
#   veth      a plain veth pair between the two containers (no overlay at all)
#   vxlan     a hand-made kernel VXLAN overlay between the hosts
#   sleeve    weave's userspace overlay
#   sleeve-nacl weave's userspace overlay with --password and --sleeve-cipher nacl (Weave Net's
#               NaCl secretbox, what Weave Net peers use)
#   sleeve-enc  weave's userspace overlay with --password: the negotiated AEAD (AES-256-GCM with
#               AES instructions on both ends, else ChaCha20-Poly1305; status says which)
#   fastdp    weave's fast datapath (kernel VXLAN driven by weave), same MTU as the hand-made one
# and prints each against kernel VXLAN measured in the same run (the mean of its runs when the
# modes list vxlan more than once, e.g. `vxlan fastdp vxlan fastdp`), and the encrypted sleeve
# modes also against plain sleeve of the same run. Needs root, iperf3.
# Usage: bench/datapath.sh [SECONDS_PER_TEST] [MODES...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
shift || true
MODES=${*:-"veth vxlan fastdp sleeve sleeve-nacl sleeve-enc"}
cargo build --release --bins -q
BIN=$PWD/target/release
P="wb$$"
UL=$P-ul H1=$P-h1 H2=$P-h2 C1=$P-c1 C2=$P-c2

cleanup() {
  for ns in $C1 $C2 $H1 $H2 $UL; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "/tmp/$P"
}
trap cleanup EXIT

hosts() {
  ip netns add $UL; ip -n $UL link add br0 type bridge; ip -n $UL link set br0 up
  local i=1
  for h in $H1 $H2; do
    ip netns add $h; ip -n $h link set lo up
    ip -n $UL link add vh$i type veth peer name eth0 netns $h
    ip -n $UL link set vh$i master br0 up
    ip -n $h addr add 10.99.0.$i/24 dev eth0; ip -n $h link set eth0 up
    i=$((i+1))
  done
  ip netns add $C1; ip -n $C1 link set lo up
  ip netns add $C2; ip -n $C2 link set lo up
}

# Container veth into a host bridge (for the hand-made VXLAN).
plug() { # host container addr bridge mtu
  ip -n $1 link add v$2 type veth peer name eth0 netns $2
  ip -n $1 link set v$2 master $4 mtu $5 up
  ip -n $2 link set eth0 mtu $5 up
  ip -n $2 addr add $3 dev eth0
}

# CPU seconds used so far by the weave daemons (0 when none run).
daemon_cpu() {
  local total=0 pid
  for h in $H1 $H2; do
    for pid in $(ip netns pids $h 2>/dev/null); do
      [ "$(cat /proc/$pid/comm 2>/dev/null)" = weave-daemon ] || continue
      total=$(awk -v t=$total '{print t + ($14 + $15) / 100}' /proc/$pid/stat)
    done
  done
  echo $total
}

measure() { # mode
  ip netns exec $C2 iperf3 -s -D -1 -B 10.32.0.2 >/dev/null 2>&1
  sleep 0.5
  local one four rtt cpu0 cpu1 json bytes
  cpu0=$(daemon_cpu)
  json=$(ip netns exec $C1 iperf3 -c 10.32.0.2 -t "$SECS" -J)
  cpu1=$(daemon_cpu)
  one=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
  bytes=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bytes"])')
  # Daemon CPU per GB moved (single stream): robust to other load on the machine.
  CPU_PER_GB=$(python3 -c "print(f'{($cpu1 - $cpu0) / ($bytes / 1e9):.2f}' if $bytes else '-')")
  ip netns exec $C2 iperf3 -s -D -1 -B 10.32.0.2 >/dev/null 2>&1
  sleep 0.5
  four=$(ip netns exec $C1 iperf3 -c 10.32.0.2 -t "$SECS" -P 4 -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
  # Back-to-back pings: spaced-out ones mostly measure how fast an idle CPU wakes up.
  rtt=$(ip netns exec $C1 ping -c 1000 -i 0.002 -q 10.32.0.2 | awk -F/ '/rtt/ {print $5}')
  echo "$1 $one $four $rtt $CPU_PER_GB"
}

setup_veth() {
  ip netns add $C1; ip -n $C1 link set lo up; ip netns add $C2; ip -n $C2 link set lo up
  ip -n $C1 link add eth0 type veth peer name eth0 netns $C2
  ip -n $C1 addr add 10.32.0.1/12 dev eth0; ip -n $C1 link set eth0 up
  ip -n $C2 addr add 10.32.0.2/12 dev eth0; ip -n $C2 link set eth0 up
}

setup_vxlan() {
  hosts
  local i=1 other
  for h in $H1 $H2; do
    other=$((3-i))
    ip -n $h link add br1 type bridge; ip -n $h link set br1 up
    ip -n $h link add vx1 type vxlan id 42 dstport 4789 local 10.99.0.$i remote 10.99.0.$other
    ip -n $h link set vx1 master br1 mtu 1450 up
    i=$((i+1))
  done
  plug $H1 $C1 10.32.0.1/12 br1 1450
  plug $H2 $C2 10.32.0.2/12 br1 1450
}

setup_weave() { # extra daemon flags
  hosts
  mkdir -p /tmp/$P
  local i=1
  for h in $H1 $H2; do
    local peer=""; [ $i = 2 ] && peer=10.99.0.1
    ip netns exec $h "$BIN/weave" launch --name 02:00:00:00:00:0$i --nickname h$i --data-dir /tmp/$P/h$i \
      --resolv-conf '' --docker-api '' "$@" $peer >/dev/null
    i=$((i+1))
  done
  for _ in $(seq 100); do
    ip netns exec $H1 "$BIN/weave" status connections | grep -q "established $EXPECT" && break
    sleep 0.1
  done
  ip netns exec $H1 "$BIN/weave" attach 10.32.0.1/12 netns:$C1 >/dev/null
  ip netns exec $H2 "$BIN/weave" attach 10.32.0.2/12 netns:$C2 >/dev/null
  for _ in $(seq 100); do ip netns exec $C1 ping -c1 -W1 10.32.0.2 >/dev/null 2>&1 && break; done
}

results=()
for mode in $MODES; do
  EXPECT=sleeve; [ $mode = fastdp ] && EXPECT=fastdp
  case $mode in
    veth) setup_veth ;;
    vxlan) setup_vxlan ;;
    fastdp) setup_weave --mtu 1450 ;;
    sleeve) setup_weave --no-fastdp ;;
    sleeve-nacl) setup_weave --no-fastdp --password bench-password --sleeve-cipher nacl ;;
    sleeve-enc) setup_weave --no-fastdp --password bench-password ;;
    *) echo "unknown mode $mode" >&2; exit 1 ;;
  esac
  if [ "${mode#sleeve-}" != "$mode" ]; then
    CIPHER=$(ip netns exec $H1 "$BIN/weave" status connections | grep -oE 'cipher=(aes-256-gcm|chacha20-poly1305|nacl)' | head -1)
    echo "$mode: ${CIPHER:-cipher=?}" >&2
  fi
  results+=("$(measure $mode)")
  cleanup
done

printf '%-11s %12s %12s %10s %13s   %s\n' mode "TCP 1 (Gb/s)" "TCP 4 (Gb/s)" "RTT (ms)" "daemon CPU s/GB" "vs kernel VXLAN (1 stream, 4 streams, RTT)"
base=$(printf '%s\n' "${results[@]}" | awk '$1=="vxlan"')
plain=""
for r in "${results[@]}"; do
  # Encrypted modes compare with the plain sleeve run before them (list sleeve in each round).
  [ "${r%% *}" = sleeve ] && plain=$r
  python3 - "$r" "$base" "$plain" <<'PY'
import sys
m, one, four, rtt, cpu = sys.argv[1].split()
plain = sys.argv[3].split()
# The base is the mean of every vxlan run (list vxlan more than once to average out noise).
rows = [l.split() for l in sys.argv[2].splitlines() if l.strip()]
ratio = ""
if rows:
    b = [sum(float(r[i]) for r in rows) / len(rows) for i in (1, 2, 3)]
    ratio = f"{float(one)/b[0]:.2f}x  {float(four)/b[1]:.2f}x  {float(rtt)/b[2]:.2f}x"
cpu = cpu if m.startswith("sleeve") or m == "fastdp" else "-"
if plain and m.startswith("sleeve-"):
    ratio += f"   ({float(one)/float(plain[1]):.2f}x plain sleeve, 1 stream)"
print(f"{m:<11} {float(one):12.2f} {float(four):12.2f} {float(rtt):10.3f} {cpu:>15}   {ratio}")
PY
done
