#!/usr/bin/env bash
# Churn: one daemon in a namespace "host", one namespace "container" attached (an address from
# IPAM, seeded with the host alone) and detached CYCLES times with the weave CLI. After a
# warm-up of 100 cycles, and again at the end, it records the daemon's RSS (VmRSS of
# /proc/PID/status), its open file descriptors (/proc/PID/fd) and the size of the database
# (weave.db) and of the names file (dns-entries.json) under --data-dir, and fails when:
#   RSS grew by more than 2 MiB,
#   there are more open fds than after the warm-up (waited on for up to 10 s, as a connection
#     of the last request may still be closing),
#   the database grew by more than 1 MiB (the bound: cycles leave no state behind, so a file
#     that keeps growing with them is a leak of pages, not data), or the names file passed
#     4 KiB (it holds the names live at the last fold: here at most one), or
#     the log of name changes beside it passed 1 MiB,
#   anything of the target is left (ethwe, a weave veth, an address in IPAM) or `weave ipam
#     check` is not clean.
# A progress line every 1000 cycles shows the trend. Traffic goes only to the namespaces made
# here; they go away on exit.
# Needs root. Usage: bench/churn.sh [CYCLES] (default 10000); PROFILE=debug for the debug
# build, NO_BUILD=1 to use the binaries as they are, BIN=DIR for binaries elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${1:-10000}
WARM=${WARM:-100}
PROFILE=${PROFILE:-release}
if [ "${NO_BUILD:-}" != 1 ]; then
  flags=(-q -p weave-daemon -p weave-cli --bin weave-daemon --bin weave)
  if [ "$PROFILE" = release ]; then cargo build --release "${flags[@]}"; else cargo build "${flags[@]}"; fi
fi
BIN=${BIN:-$PWD/target/$PROFILE}
H="ch$$-h"
C="ch$$-c"
DIR=$(mktemp -d /tmp/weave-churn.XXXXXX)
PID=

cleanup() {
  [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  for ns in "$H" "$C"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$H"
ip -n "$H" link set lo up
ip netns add "$C"
weave() { ip netns exec "$H" "$BIN/weave" "$@"; }

ip netns exec "$H" "$BIN/weave-daemon" --name 02:00:00:00:00:01 --nickname churn --data-dir "$DIR" \
  --resolv-conf '' --docker-api '' --ipalloc-init seed=02:00:00:00:00:01 >"$DIR/daemon.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  weave status >/dev/null 2>&1 && break
  sleep 0.05
done
weave status >/dev/null || { echo "daemon did not start: $(tail -3 "$DIR/daemon.log")" >&2; exit 1; }

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; } # KiB
fds() { ls "/proc/$PID/fd" | wc -l; }
size() { stat -c %s "$DIR/$1" 2>/dev/null || echo 0; }
cycle() {
  weave attach "netns:$C" >/dev/null || { echo "attach failed at cycle $1" >&2; exit 1; }
  weave detach "netns:$C" >/dev/null || { echo "detach failed at cycle $1" >&2; exit 1; }
}
line() { # label
  printf '%-12s rss=%6d KiB  fds=%4d  weave.db=%8d B  dns-entries.json=%5d B  .log=%6d B\n' \
    "$1" "$(rss)" "$(fds)" "$(size weave.db)" "$(size dns-entries.json)" "$(size dns-entries.log)"
}

echo "churn: $CYCLES attach/detach cycles ($PROFILE build), after $WARM warm-up cycles"
for i in $(seq 1 $WARM); do cycle "$i"; done
rss0=$(rss); fds0=$(fds); db0=$(size weave.db); names0=$(size dns-entries.json)
line "warm"
t0=$(date +%s.%N)
for i in $(seq 1 "$CYCLES"); do
  cycle "$i"
  [ $((i % 1000)) -eq 0 ] && line "$i"
done
t1=$(date +%s.%N)
fds1=$(fds)
for _ in $(seq 1 100); do
  fds1=$(fds)
  [ "$fds1" -le "$fds0" ] && break
  sleep 0.1
done
rss1=$(rss); db1=$(size weave.db); names1=$(size dns-entries.json)
line "end"
echo "$CYCLES $t0 $t1" | awk '{printf "%d cycles in %.1f s (%.1f cycles/s)\n", $1, $3 - $2, $1 / ($3 - $2)}'
printf 'growth: rss %+d KiB, fds %+d, weave.db %+d B, dns-entries.json %+d B\n' \
  $((rss1 - rss0)) $((fds1 - fds0)) $((db1 - db0)) $((names1 - names0))

fail=0
[ $((rss1 - rss0)) -le 2048 ] || { echo "FAIL: RSS grew by more than 2 MiB"; fail=1; }
[ "$fds1" -le "$fds0" ] || { echo "FAIL: open fds grew"; fail=1; }
[ $((db1 - db0)) -le 1048576 ] || { echo "FAIL: weave.db grew by more than 1 MiB"; fail=1; }
# The log of name changes is folded into the names file once it outgrows them (4096 lines);
# the file then holds the names live at that moment: here at most the one target's, whatever
# the cycles (the log records its going).
[ "$names1" -le 4096 ] || { echo "FAIL: dns-entries.json passed 4 KiB"; fail=1; }
[ "$(size dns-entries.log)" -le 1048576 ] || { echo "FAIL: dns-entries.log passed 1 MiB"; fail=1; }
if ip netns exec "$C" ip link show ethwe >/dev/null 2>&1; then echo "FAIL: ethwe left in the target"; fail=1; fi
if ip -n "$H" -o link show type veth | grep -q vethwep; then echo "FAIL: a weave veth is left"; fail=1; fi
if weave ipam check -o json | grep -Eq '"ok": ?false'; then echo "FAIL: weave ipam check: $(weave ipam check)"; fail=1; fi
[ "$fail" -eq 0 ] && echo "ok: nothing grew beyond its bound and nothing was left behind"
exit "$fail"
