#!/usr/bin/env bash
# weaveDNS benchmark: queries per second and p99 latency at concurrency 1 and 50, against
# weave-daemon's DNS server and against dnsmasq (Debian's) serving the same record, in one run,
# both on loopback inside one network namespace. The load generator is tests/src/bin/dnsload.rs
# (one UDP socket per client, next query as soon as the answer arrives; 1 s counts as lost).
# Then name registration over HTTP: REG names (default 3000) through Weave's
# `PUT /name/{container}/{ip}?fqdn=`, one client after another and 50 at once (curl), every
# answer durable on disk first.
# Needs root, dnsmasq and curl. Usage: bench/dns.sh [SECONDS_PER_RUN] (default 5); PROFILE=debug
# for the debug build, NO_BUILD=1 to use the binaries as they are, BIN=DIR for binaries elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
PROFILE=${PROFILE:-release}
if [ "${NO_BUILD:-}" != 1 ]; then
  flags=(-q -p weave-daemon -p weave-cli -p weave-e2e --bin weave-daemon --bin weave --bin dnsload)
  if [ "$PROFILE" = release ]; then cargo build --release "${flags[@]}"; else cargo build "${flags[@]}"; fi
fi
BIN=${BIN:-$PWD/target/$PROFILE}
NS="db$$"
DIR=$(mktemp -d /tmp/weave-dns-bench.XXXXXX)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

NAME=bench.weave.local
ADDR=10.32.0.7
in_ns "$BIN/weave-daemon" --name 02:00:00:00:00:77 --nickname bench --data-dir "$DIR" \
  --ipalloc-range "" --resolv-conf "" --docker-api "" --dns-listen-address 127.0.0.1:53 \
  >"$DIR/daemon.log" 2>&1 &
PIDS+=($!)
in_ns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --pid-file= \
  --user=root --listen-address=127.0.0.1 --bind-interfaces --port=5353 \
  --host-record="$NAME,$ADDR" --local=/weave.local/ --local-ttl=1 >"$DIR/dnsmasq.log" 2>&1 &
PIDS+=($!)

# Wait (with a deadline) until both answer the record.
for _ in $(seq 1 100); do
  in_ns "$BIN/weave" dns-add "$ADDR" -h "$NAME" >/dev/null 2>&1 && break
  sleep 0.1
done
for port in 53 5353; do
  ok=
  for _ in $(seq 1 50); do
    if [ "$(in_ns dig @127.0.0.1 -p $port +short +tries=1 +time=1 $NAME 2>/dev/null)" = "$ADDR" ]; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "server on port $port does not answer $NAME"; cat "$DIR"/*.log; exit 1; }
done

# Each pair in turn, the existing name and then one that does not exist (NXDOMAIN from both:
# dnsmasq is told weave.local is local); the ratio is weave's rate over dnsmasq's.
printf '%-10s %-8s %11s %10s %10s %10s %8s %6s\n' server name concurrency qps p50_us p99_us lost ratio
for c in 1 50; do
  for kind in exists nxdomain; do
    q=$NAME; extra=()
    [ $kind = nxdomain ] && { q=missing.weave.local; extra=(nxdomain); }
    wq=
    for s in weave:53 dnsmasq:5353; do
      out=$(in_ns "$BIN/dnsload" "127.0.0.1:${s#*:}" "$q" "$c" "$SECS" "${extra[@]}")
      eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(qps|p50_us|p99_us|lost)=')"
      ratio=-
      if [ -z "$wq" ]; then wq=$qps; else ratio=$(echo "$wq $qps" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'); fi
      printf '%-10s %-8s %11s %10s %10s %10s %8s %6s\n' "${s%%:*}" "$kind" "$c" "$qps" "$p50_us" "$p99_us" "$lost" "$ratio"
    done
  done
done

# register COUNT PARALLEL TAG: PUT COUNT new names (TAG-1.weave.local ...), each its own
# container and address; prints the seconds taken and fails unless every answer was a 204.
REG=${REG:-3000}
register() {
  local count=$1 par=$2 tag=$3 t0 t1 ok
  local par_flags=()
  [ "$par" -gt 1 ] && par_flags=(-Z --parallel-max "$par" --parallel-immediate)
  seq 1 "$count" | awk -v t="$tag" '{ printf "url = \"http://127.0.0.1:6784/name/%s-%d/10.40.%d.%d?fqdn=%s-%d.weave.local\"\n", t, $1, int($1 / 250), $1 % 250 + 1, t, $1 }' >"$DIR/$tag.curl"
  t0=$(date +%s.%N)
  ok=$(in_ns curl -s --no-progress-meter "${par_flags[@]}" -X PUT -o /dev/null -w '%{http_code}\n' -K "$DIR/$tag.curl" | grep -c '^204$' || true)
  t1=$(date +%s.%N)
  [ "$ok" -eq "$count" ] || { echo "only $ok of $count registrations succeeded" >&2; exit 1; }
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}
echo
printf '%-10s %11s %10s %10s\n' register concurrency names names_s
for c in 1 50; do
  s=$(register "$REG" "$c" "c$c")
  printf '%-10s %11s %10s %10s\n' weave "$c" "$REG" "$(echo "$REG $s" | awk '{printf "%.0f", $1 / $2}')"
done
# The last name is durable and answered.
[ "$(in_ns dig @127.0.0.1 +short +tries=1 +time=1 "c50-$REG.weave.local")" != "" ] || { echo "c50-$REG not answered" >&2; exit 1; }
# Saved names: the names file plus the log of names added since (this run removes none).
saved=$(cat "$DIR/dns-entries.json" "$DIR/dns-entries.log" 2>/dev/null | grep -o '"hostname"' | wc -l)
[ "$saved" -ge $((2 * REG)) ] || { echo "only $saved names saved, want $((2 * REG))+" >&2; exit 1; }
