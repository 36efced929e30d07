#!/usr/bin/env bash
# The REST API against its own OpenAPI document: schemathesis (from PyPI, in a venv under
# ~/.cache) generates requests from /api/v1/openapi.json, valid and invalid, and checks every
# answer against the document (status codes, content types, bodies, no 5xx). The daemon runs in
# fresh network, mount and pid namespaces (only loopback, a tmpfs over /run), so nothing it does
# reaches the host. Skipped: reset and shutdown (they end the run), events (a stream), connect
# (it dials peers). Needs root. Usage: scripts/conformance.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-50}
VENV=${WEAVE_CONFORMANCE_VENV:-$HOME/.cache/weave-conformance}
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q schemathesis==4.32.5
fi
cargo build -q -p weave-daemon --bin weave-daemon
DAEMON=$PWD/target/debug/weave-daemon
WORK=$(mktemp -d /tmp/weave-conformance.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

CONFIG=$PWD/scripts/conformance.toml
unshare --net --mount --pid --fork --mount-proc bash -s "$DAEMON" "$WORK" "$VENV" "$EXAMPLES" "$CONFIG" <<'EOF'
set -euo pipefail
DAEMON=$1 WORK=$2 VENV=$3 EXAMPLES=$4 CONFIG=$5
ip link set lo up
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/docker/plugins /var/run/weave
"$DAEMON" --name 00:00:00:00:00:01 --data-dir "$WORK/data" --no-fastdp --ipalloc-range 10.32.0.0/12 \
  >"$WORK/daemon.log" 2>&1 &
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:6784/status >/dev/null && break
  sleep 0.1
done
curl -sf http://127.0.0.1:6784/status >/dev/null || { cat "$WORK/daemon.log"; exit 1; }
rc=0
"$VENV/bin/st" --config-file "$CONFIG" run http://127.0.0.1:6784/api/v1/openapi.json \
  --exclude-path /api/v1/reset --exclude-path /api/v1/shutdown --exclude-path /api/v1/events \
  --exclude-operation-id connect --exclude-checks positive_data_acceptance \
  --max-examples "$EXAMPLES" --workers 2 --no-color || rc=$?
if grep -q "panicked" "$WORK/daemon.log"; then
  echo "conformance: the daemon panicked:"; grep -A3 panicked "$WORK/daemon.log"; rc=1
fi
exit $rc
EOF
