#!/usr/bin/env bash
# The Docker API proxy's overhead against dockerd itself, in the same run: the latency of
# `GET /containers/json` (docker ps) and `GET /containers/{id}/json` (docker inspect) over
# curl (N calls each, so the docker CLI's own start-up does not hide the difference), the same
# through the docker CLI (N/5 calls), and a SIZE_MB (default 1024) `docker cp` into a container
# and back out (the better of two). Direct and proxy alternate, so other load on the machine
# falls on both. Prints each figure direct and through the proxy, and the ratio proxy/direct.
#
# Everything runs in private namespaces made here (mount, network, pid): a tmpfs /run (so the
# proxy socket /var/run/weave/weave.sock and Docker's sockets are private), a dockerd with its
# own data root and cgroup parent, and weave-daemon; all of it ends with the script.
# Needs root, docker.io and busybox-static. Usage: bench/proxy.sh [N] (default 300);
# PROFILE=debug for the debug build, NO_BUILD=1 to use the binaries as they are, BIN=DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
SIZE_MB=${SIZE_MB:-1024}
PROFILE=${PROFILE:-release}
if [ "${NO_BUILD:-}" != 1 ]; then
  flags=(-q -p weave-daemon -p weave-cli --bin weave-daemon --bin weave)
  if [ "$PROFILE" = release ]; then cargo build --release "${flags[@]}"; else cargo build "${flags[@]}"; fi
fi
BIN=${BIN:-$PWD/target/$PROFILE}
DIR=$(mktemp -d /var/tmp/weave-proxy-bench.XXXXXX)
CG="weave-proxy-bench-$$"
cleanup() {
  for f in /sys/fs/cgroup/$CG /sys/fs/cgroup/*/$CG; do
    [ -d "$f" ] && find "$f" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT

export BIN DIR N SIZE_MB CG
unshare --mount --net --pid --fork --mount-proc --propagation private bash -euo pipefail -c '
mount -t tmpfs -o mode=755 bench /run
mkdir -p /run/docker/plugins
ip link set lo up
dockerd --data-root "$DIR/root" --exec-root /run/docker --pidfile /run/docker.pid \
  -H unix:///run/docker.sock --storage-driver vfs --cgroup-parent "/$CG" --log-level warn \
  >"$DIR/dockerd.log" 2>&1 &
D="/usr/bin/docker -H unix:///run/docker.sock"
P="/usr/bin/docker -H unix:///var/run/weave/weave.sock"
for _ in $(seq 300); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
# The image: busybox with a link per applet.
mkdir -p "$DIR/img/bin" "$DIR/img/tmp" "$DIR/img/etc"
cp /bin/busybox "$DIR/img/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$DIR/img/bin/$a"; done
tar -C "$DIR/img" -c . | $D import - bench/busybox >/dev/null
"$BIN/weave-daemon" --data-dir "$DIR/weave" --resolv-conf "" --no-plugin >"$DIR/weave.log" 2>&1 &
for _ in $(seq 300); do $P version >/dev/null 2>&1 && break; sleep 0.2; done
ID=$($D run -d --name target bench/busybox sleep 3600)

now() { date +%s%N; }
# Direct and proxy alternate in ROUNDS rounds, so load from elsewhere on the machine falls on
# both alike. pair CALLS CMD...: CMD is run with the socket as $1; prints "direct_ms proxy_ms"
# per call.
ROUNDS=10
pair() {
  local calls=$1; shift
  local per=$((calls / ROUNDS)) d=0 p=0 t0
  [ "$per" -ge 1 ] || per=1
  for _ in $(seq "$ROUNDS"); do
    t0=$(now); for _ in $(seq "$per"); do "$@" "$DS"; done; d=$((d + $(now) - t0))
    t0=$(now); for _ in $(seq "$per"); do "$@" "$PS"; done; p=$((p + $(now) - t0))
  done
  echo "$(echo "scale=3; $d / 1000000 / ($per * $ROUNDS)" | bc) $(echo "scale=3; $p / 1000000 / ($per * $ROUNDS)" | bc)"
}
api() { curl -sf --unix-socket "$1" "http://d$2" >/dev/null; }
cli() { local s=$1; shift; /usr/bin/docker -H "unix://$s" "$@" >/dev/null; }
ps_api() { api "$1" /v1.41/containers/json; }
inspect_api() { api "$1" "/v1.41/containers/$ID/json"; }
ps_cli() { cli "$1" ps; }
inspect_cli() { cli "$1" inspect target; }
row() { printf "%-34s %10s %10s %7s\n" "$1" "$2" "$3" "$(echo "scale=2; $3 / $2" | bc)"; }
DS=/run/docker.sock; PS=/var/run/weave/weave.sock
printf "%-34s %10s %10s %7s\n" "measure" "direct" "proxy" "ratio"
read -r a b <<<"$(pair "$N" ps_api)"; row "GET /containers/json (ms/call)" "$a" "$b"
read -r a b <<<"$(pair "$N" inspect_api)"; row "GET /containers/ID/json (ms/call)" "$a" "$b"
read -r a b <<<"$(pair $((N / 5)) ps_cli)"; row "docker ps (ms/call)" "$a" "$b"
read -r a b <<<"$(pair $((N / 5)) inspect_cli)"; row "docker inspect (ms/call)" "$a" "$b"
head -c "${SIZE_MB}M" /dev/urandom >"$DIR/blob"
cp_s() {
  local t0; t0=$(now)
  /usr/bin/docker -H "$1" cp "$DIR/blob" target:/tmp/blob
  local up; up=$(echo "scale=3; ($(now) - $t0) / 1000000000" | bc)
  t0=$(now)
  /usr/bin/docker -H "$1" cp target:/tmp/blob - >/dev/null
  echo "$up $(echo "scale=3; ($(now) - $t0) / 1000000000" | bc)"
}
# Twice each, alternating; the better of two.
read -r du dd <<<"$(cp_s unix://$DS)"
read -r pu pd <<<"$(cp_s unix://$PS)"
read -r du2 dd2 <<<"$(cp_s unix://$DS)"
read -r pu2 pd2 <<<"$(cp_s unix://$PS)"
min() { echo "if ($1 < $2) $1 else $2" | bc; }
row "docker cp ${SIZE_MB} MiB in (s)" "$(min "$du" "$du2")" "$(min "$pu" "$pu2")"
row "docker cp ${SIZE_MB} MiB out (s)" "$(min "$dd" "$dd2")" "$(min "$pd" "$pd2")"
$D rm -f target >/dev/null
'
