#!/usr/bin/env bash
# IPAM benchmark: address allocations per second through the REST API (Weave's `POST /ip/{id}`,
# one new owner per request, every answer durable on disk first), on "hosts" that are network
# namespaces on one underlay bridge:
#   1 peer, one client issuing requests one after another (one keep-alive connection)
#   1 peer, 16 concurrent clients
#   3 peers where space must be borrowed: host 1 is seeded with the whole range, hosts 2 and 3
#     start with nothing and allocate concurrently (16 clients each) in a small range, so they
#     ask host 1 and each other for space again and again
# plus the latency of a first allocation that has to borrow. Needs root and curl.
# Usage: bench/ipam.sh [ALLOCATIONS] (default 2000); PROFILE=debug to use the debug build,
# NO_BUILD=1 to use the binaries as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
PROFILE=${PROFILE:-release}
if [ "${NO_BUILD:-}" != 1 ]; then
  if [ "$PROFILE" = release ]; then cargo build --release --bins -q; else cargo build --bins -q; fi
fi
BIN=$PWD/target/$PROFILE
P="ib$$"
UL=$P-ul
API=http://127.0.0.1:6784
declare -A PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for ns in $P-h1 $P-h2 $P-h3 $UL; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "/tmp/$P"
}
trap cleanup EXIT

hosts() { # count
  ip netns add $UL; ip -n $UL link add br0 type bridge; ip -n $UL link set br0 up
  for i in $(seq 1 "$1"); do
    local h=$P-h$i
    ip netns add $h; ip -n $h link set lo up
    ip -n $UL link add vh$i type veth peer name eth0 netns $h
    ip -n $UL link set vh$i master br0 up
    ip -n $h addr add 10.99.0.$i/24 dev eth0; ip -n $h link set eth0 up
    mkdir -p /tmp/$P/h$i
  done
}

daemon() { # index flags...
  local i=$1; shift
  ip netns exec $P-h$i "$BIN/weave-daemon" --name 02:00:00:00:00:0$i --nickname h$i \
    --data-dir /tmp/$P/h$i --resolv-conf '' --docker-api '' "$@" >/tmp/$P/h$i.log 2>&1 &
  PIDS[$i]=$!
  for _ in $(seq 1 200); do
    ip netns exec $P-h$i curl -sf $API/status >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "daemon $i did not start: $(tail -3 /tmp/$P/h$i.log)" >&2; exit 1
}

now() { date +%s.%N; }

# allocate HOST PREFIX COUNT PARALLEL: POST /ip/PREFIX-1..COUNT; prints the seconds taken and
# fails unless every answer was an address.
allocate() {
  local h=$P-h$1 prefix=$2 count=$3 par=$4 t0 t1 ok
  local par_flags=()
  [ "$par" -gt 1 ] && par_flags=(-Z --parallel-max "$par" --parallel-immediate)
  t0=$(now)
  ok=$(ip netns exec $h curl -s --no-progress-meter "${par_flags[@]}" -X POST -w '\n%{http_code}\n' \
         "$API/ip/$prefix-[1-$count]" | grep -c '^200$' || true)
  t1=$(now)
  [ "$ok" -eq "$count" ] || { echo "only $ok of $count allocations on host $1 succeeded" >&2; exit 1; }
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

rate() { # count seconds
  echo "$1 $2" | awk '{printf "%d allocations in %.2f s = %.0f/s", $1, $2, $1 / $2}'
}

echo "IPAM allocation benchmark ($PROFILE build, $N allocations per run)"

# One peer, seeded with itself so the ring exists at once.
hosts 3
daemon 1 --ipalloc-init seed=02:00:00:00:00:01
s=$(allocate 1 seq "$N" 1)
echo "  1 peer, sequential:           $(rate "$N" "$s")"
s=$(allocate 1 par "$N" 16)
echo "  1 peer, 16 concurrent:        $(rate "$N" "$s")"
stop() { # index: kill -9, and wait until every thread is gone (and the ports are free)
  kill -9 "${PIDS[$1]}" 2>/dev/null || true
  wait "${PIDS[$1]}" 2>/dev/null || true
}
stop 1
rm -f /tmp/$P/h1/weave.db

# Three peers: all space on host 1; hosts 2 and 3 borrow. A /21 holds 2046 host addresses.
RANGE=10.48.0.0/21
M=$(( N / 2 < 900 ? N / 2 : 900 ))
SEED=seed=02:00:00:00:00:01
daemon 1 --ipalloc-range $RANGE --ipalloc-init $SEED 10.99.0.2 10.99.0.3
daemon 2 --ipalloc-range $RANGE --ipalloc-init $SEED 10.99.0.1 10.99.0.3
daemon 3 --ipalloc-range $RANGE --ipalloc-init $SEED 10.99.0.1 10.99.0.2
for i in 1 2 3; do
  for _ in $(seq 1 300); do
    n=$(ip netns exec $P-h$i curl -s $API/api/v1/connections | grep -o '"state":"established"' | wc -l || true)
    [ "$n" -ge 2 ] && break
    sleep 0.1
  done
done
s=$(allocate 2 first 1 1)
echo "  3 peers, first allocation that borrows: $(echo "$s" | awk '{printf "%.1f ms", $1 * 1000}')"
t0=$(now)
allocate 2 b "$M" 16 >/dev/null &
a2=$!
allocate 3 b "$M" 16 >/dev/null &
a3=$!
wait $a2; wait $a3
t1=$(now)
s=$(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}')
echo "  3 peers, borrowing, 2 x 16 concurrent on hosts 2 and 3: $(rate $((2 * M)) "$s")"
# Every address was handed out once.
dups=$(for i in 1 2 3; do ip netns exec $P-h$i curl -s $API/ip; done |
       grep -o '"addrs":\["[0-9./]*"' | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || { echo "duplicate addresses found" >&2; exit 1; }
echo "  no address handed out twice"
