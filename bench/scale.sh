#!/usr/bin/env bash
# Mesh scale benchmark: N peers, each a weave-daemon in its own network namespace on one
# underlay bridge, all started together, discovering each other
#   star: every peer is given only peer 1 (discovery finds the rest)
#   full: every peer is given every other peer's address
# For each size and mode it prints the time from the start (every daemon is launched first and
# waits at a gate, then all start at once) until every peer has an established connection to
# every other (or how far they got by the deadline), then, after the mesh has been idle for a
# while, the resident memory (RSS, and its private part: the rest is the binary's pages, shared
# by every daemon on a host) and CPU use of each daemon over an idle window.
#
# Usage: bench/scale.sh [SIZES] [MODES]     (default: "50 100" "star full")
#   BASELINE=/path/to/old/weave-daemon   run the same with that binary too and print ratios
#   DEADLINE=120   seconds to wait for a full mesh;  SETTLE=10  IDLE=30  seconds before and of
#   the idle window;  DAEMON_FLAGS="..."  extra flags for every daemon;  NO_BUILD=1  use
#   target/release as it is;  KEEP_LOGS=DIR  keep the last run's daemon logs there.
# Needs root and curl. The machine should be quiet: every daemon shares its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"50 100"}
for n in $SIZES; do [ "$n" -le 250 ] || { echo "at most 250 peers" >&2; exit 1; }; done
MODES=${2:-"star full"}
DEADLINE=${DEADLINE:-120}
SETTLE=${SETTLE:-10}
IDLE=${IDLE:-30}
read -r -a EXTRA <<<"${DAEMON_FLAGS:-}"
if [ "${NO_BUILD:-}" != 1 ]; then cargo build --release -p weave-daemon --bin weave-daemon -q; fi
NEW=$PWD/target/release/weave-daemon
P="sc$$"
UL=$P-ul
TICK=$(getconf CLK_TCK)
declare -a PIDS=()
declare -a NSS=()

cleanup() {
  exec 5>&-
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  NSS=()
  # A netns goes away in the background; its veths' underlay ends must be gone before the next run.
  for l in $(ip -n $UL -o link show type veth 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
    ip -n $UL link del "$l" 2>/dev/null || true
  done
  if [ -n "${KEEP_LOGS:-}" ] && [ -d "/tmp/$P" ]; then rm -rf "$KEEP_LOGS"; cp -r "/tmp/$P" "$KEEP_LOGS"; fi
  rm -rf "/tmp/$P"
}
# The kernel's ARP table is one for all namespaces, capped at gc_thresh3 (1024 by default):
# N hosts on one underlay need N*(N-1) entries, and past the cap a dial's SYN fails with ENOBUFS
# and waits out TCP's retries. Separate machines each have a table of their own, so raise the
# cap for the run and put it back after.
declare -A NEIGH=()
for k in 1 2 3; do
  NEIGH[$k]=$(sysctl -n net.ipv4.neigh.default.gc_thresh$k)
done
restore_neigh() {
  for k in 1 2 3; do sysctl -qw "net.ipv4.neigh.default.gc_thresh$k=${NEIGH[$k]}" || true; done
}
sysctl -qw net.ipv4.neigh.default.gc_thresh3=131072 net.ipv4.neigh.default.gc_thresh2=65536 \
  net.ipv4.neigh.default.gc_thresh1=32768
trap 'cleanup; ip netns del $UL 2>/dev/null || true; restore_neigh' EXIT

addr() { echo "10.98.0.$(($1 + 1))"; }

# The underlay: a bridge in a namespace of its own, which also polls the daemons' APIs.
ip netns add $UL
ip -n $UL link set lo up
ip -n $UL link add br0 type bridge
ip -n $UL link set br0 up
ip -n $UL addr add 10.98.0.254/24 dev br0

hosts() { # count
  for i in $(seq 1 "$1"); do
    local h=$P-h$i
    ip netns add "$h"; NSS+=("$h")
    ip -n "$h" link set lo up
    ip -n $UL link add "v$i" type veth peer name eth0 netns "$h"
    ip -n $UL link set "v$i" master br0 up
    ip -n "$h" addr add "$(addr "$i")/24" dev eth0
    ip -n "$h" link set eth0 up
    mkdir -p "/tmp/$P/h$i"
  done
}

launch() { # binary count mode
  local bin=$1 n=$2 mode=$3 i j
  for i in $(seq 1 "$n"); do
    local peers=()
    if [ "$mode" = star ]; then
      [ "$i" -gt 1 ] && peers=("$(addr 1)")
    else
      for j in $(seq 1 "$n"); do [ "$j" != "$i" ] && peers+=("$(addr "$j")"); done
    fi
    # Each daemon waits at a gate (after saying it is there), so all of them start together
    # and the time taken by launching N processes stays out of the measurement.
    ip netns exec "$P-h$i" sh -c 'touch "$1"; read -r _ <"$0"; shift; exec "$@"' \
      "/tmp/$P/go" "/tmp/$P/h$i.ready" "$bin" --name "$(printf '02:00:00:00:%02x:%02x' $((i / 256)) $((i % 256)))" \
      --nickname "p$i" --data-dir "/tmp/$P/h$i" --resolv-conf '' --docker-api '' \
      --http-addr "$(addr "$i"):6784" "${EXTRA[@]}" "${peers[@]}" >"/tmp/$P/h$i.log" 2>&1 5>&- &
    PIDS+=($!)
  done
}

# established connections of each daemon, one number per line (-1: no answer)
established() { # count
  local dir=/tmp/$P/metrics i
  rm -rf "$dir"; mkdir -p "$dir"
  ip netns exec $UL curl -s -m 3 -Z --parallel-max 64 "http://10.98.0.[2-$(($1 + 1))]:6784/metrics" \
    -o "$dir/#1" 2>/dev/null || true
  for i in $(seq 2 $(($1 + 1))); do
    awk '/^weave_connections\{state="established"\}/ { n = $2 } END { print (n == "" ? -1 : n) }' "$dir/$i" 2>/dev/null ||
      echo -1
  done
}

now() { date +%s.%N; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# The private part of RSS: the rest is the binary's pages, shared by every daemon on a host.
anon_kib() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A RESULT=()

run() { # label binary count mode
  local label=$1 bin=$2 n=$3 mode=$4 t0 t1 took="" counts full
  hosts "$n"
  # The gate: a FIFO held open here, so the daemons' opens do not block but their reads do,
  # until one line per daemon is written.
  rm -f "/tmp/$P/go"; mkfifo "/tmp/$P/go"; exec 5<>"/tmp/$P/go"
  launch "$bin" "$n" "$mode"
  while [ "$(find "/tmp/$P" -maxdepth 1 -name 'h*.ready' | wc -l)" -lt "$n" ]; do sleep 0.1; done
  t0=$(now)
  printf '\n%.0s' $(seq 1 "$n") >&5
  while :; do
    counts=$(established "$n")
    full=$(echo "$counts" | awk -v want=$((n - 1)) '$1 == want { c++ } END { print c + 0 }')
    t1=$(now)
    if [ "$full" -eq "$n" ]; then took=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }'); break; fi
    if awk -v a="$t0" -v b="$t1" -v d="$DEADLINE" 'BEGIN { exit !(b - a > d) }'; then break; fi
    sleep 0.5
  done
  local how
  if [ -n "$took" ]; then
    how="full mesh in ${took} s"
  else
    how=$(echo "$counts" | awk -v d="$DEADLINE" -v want=$((n - 1)) \
      '{ s += $1; if (min == "" || $1 < min) min = $1 } END { printf "NOT a full mesh after %d s: connections per peer min %d avg %.1f of %d", d, min, s / NR, want }')
  fi
  sleep "$SETTLE"
  local before=() pid
  for pid in "${PIDS[@]}"; do before+=("$(cpu_ticks "$pid")"); done
  sleep "$IDLE"
  local cpu=() rss=() anon=() k=0
  for pid in "${PIDS[@]}"; do
    cpu+=("$(( $(cpu_ticks "$pid") - before[k] ))")
    rss+=("$(rss_kib "$pid")")
    anon+=("$(anon_kib "$pid")")
    k=$((k + 1))
  done
  local stats
  stats=$(printf '%s\n' "${cpu[@]}" | awk -v t="$TICK" -v w="$IDLE" \
    '{ p = 100 * $1 / t / w; s += p; if (p > m) m = p } END { printf "idle CPU per daemon avg %.2f%% max %.2f%% of a core", s / NR, m }')
  local mem
  mem=$(printf '%s\n' "${rss[@]}" | awk '{ s += $1; if ($1 > m) m = $1 } END { printf "RSS per daemon avg %.1f MiB max %.1f MiB", s / NR / 1024, m / 1024 }')
  mem="$mem ($(printf '%s\n' "${anon[@]}" | awk '{ s += $1; if ($1 > m) m = $1 } END { printf "private avg %.1f MiB max %.1f MiB", s / NR / 1024, m / 1024 }'))"
  echo "$label $mode $n peers: $how; $mem; $stats"
  RESULT[$label,$mode,$n]="${took:-x} $(printf '%s\n' "${rss[@]}" | awk '{ s += $1 } END { printf "%.1f", s / NR / 1024 }') $(printf '%s\n' "${cpu[@]}" | awk -v t="$TICK" -v w="$IDLE" '{ s += 100 * $1 / t / w } END { printf "%.3f", s / NR }')"
  cleanup
}

echo "Mesh scale benchmark: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "daemon flags: ${DAEMON_FLAGS:-(defaults)}; deadline ${DEADLINE} s, idle window ${IDLE} s after ${SETTLE} s"
for n in $SIZES; do
  for mode in $MODES; do
    run new "$NEW" "$n" "$mode"
    if [ -n "${BASELINE:-}" ]; then run baseline "$BASELINE" "$n" "$mode"; fi
  done
done
if [ -n "${BASELINE:-}" ]; then
  echo "new against baseline (time to a full mesh, RSS, idle CPU; below 1 is better):"
  for n in $SIZES; do
    for mode in $MODES; do
      read -r nt nr nc <<<"${RESULT[new,$mode,$n]}"
      read -r bt br bc <<<"${RESULT[baseline,$mode,$n]}"
      echo "$mode $n: time $(awk -v a="$nt" -v b="$bt" 'BEGIN { if (a == "x" || b == "x") print "n/a (" a " s vs " b " s)"; else printf "%.2fx", a / b }'), RSS $(awk -v a="$nr" -v b="$br" 'BEGIN { printf "%.2fx", a / b }'), idle CPU $(awk -v a="$nc" -v b="$bc" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')"
    done
  done
fi
