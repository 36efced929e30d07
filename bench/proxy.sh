#!/usr/bin/env bash
# The Docker API proxy's overhead against dockerd itself, in the same run: the latency of
# `GET /containers/json` (docker ps) and `GET /containers/{id}/json` (docker inspect) over
# curl (N calls each, so the docker CLI's own start-up does not hide the difference), the same
# through the docker CLI, and a SIZE_MB (default 1024) `docker cp` into a container and back
# out. Prints each figure direct and through the proxy, and the ratio proxy/direct.
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
# ms per call of: curl over SOCKET to PATH, N times.
curl_ms() {
  local t0; t0=$(now)
  for _ in $(seq "$N"); do curl -sf --unix-socket "$1" "http://d$2" >/dev/null; done
  echo "scale=3; ($(now) - $t0) / 1000000 / $N" | bc
}
cli_ms() {
  local host=$1; shift
  local n=$((N / 5)) t0; t0=$(now)
  for _ in $(seq "$n"); do /usr/bin/docker -H "$host" "$@" >/dev/null; done
  echo "scale=3; ($(now) - $t0) / 1000000 / $n" | bc
}
row() { printf "%-34s %10s %10s %7s\n" "$1" "$2" "$3" "$(echo "scale=2; $3 / $2" | bc)"; }
DS=/run/docker.sock; PS=/var/run/weave/weave.sock
printf "%-34s %10s %10s %7s\n" "measure" "direct" "proxy" "ratio"
row "GET /containers/json (ms/call)" "$(curl_ms $DS /v1.41/containers/json)" "$(curl_ms $PS /v1.41/containers/json)"
row "GET /containers/ID/json (ms/call)" "$(curl_ms $DS /v1.41/containers/$ID/json)" "$(curl_ms $PS /v1.41/containers/$ID/json)"
row "docker ps (ms/call)" "$(cli_ms unix://$DS ps)" "$(cli_ms unix://$PS ps)"
row "docker inspect (ms/call)" "$(cli_ms unix://$DS inspect target)" "$(cli_ms unix://$PS inspect target)"
head -c "${SIZE_MB}M" /dev/urandom >"$DIR/blob"
cp_s() {
  local t0; t0=$(now)
  /usr/bin/docker -H "$1" cp "$DIR/blob" target:/tmp/blob
  local up; up=$(echo "scale=3; ($(now) - $t0) / 1000000000" | bc)
  t0=$(now)
  /usr/bin/docker -H "$1" cp target:/tmp/blob - >/dev/null
  echo "$up $(echo "scale=3; ($(now) - $t0) / 1000000000" | bc)"
}
read -r du dd <<<"$(cp_s unix://$DS)"
read -r pu pd <<<"$(cp_s unix://$PS)"
row "docker cp ${SIZE_MB} MiB in (s)" "$du" "$pu"
row "docker cp ${SIZE_MB} MiB out (s)" "$dd" "$pd"
$D rm -f target >/dev/null
'
