#!/usr/bin/env bash
# The main job: build weave and bring up a three-host weave network in network namespaces on
# this machine (`weave demo up`), show it working, then take it down. Needs root.
# Keep it up instead with: target/release/weave demo up --hosts 3
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --bins
export PATH="$PWD/target/release:$PATH"

trap 'weave demo down >/dev/null 2>&1 || true' EXIT
weave demo down >/dev/null 2>&1 || true
weave demo up --hosts 3
echo
echo "=== host1: weave status"
ip netns exec weavedemo-h1 weave status
echo "=== host1: weave status connections"
ip netns exec weavedemo-h1 weave status connections
echo "=== host1: weave ps"
ip netns exec weavedemo-h1 weave ps
echo "=== container on host1 pings the container on host3 (10.32.0.3)"
ip netns exec weavedemo-c1 ping -c 3 10.32.0.3
