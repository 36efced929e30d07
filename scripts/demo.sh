#!/usr/bin/env bash
# The main job: build weave and run a two-host weave network in network namespaces on this
# machine, show its status, then take it down. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace --bins
export PATH="$PWD/target/debug:$PATH"

tag="wdemo$$"
cleanup() {
  for h in 1 2; do
    ip netns exec "$tag-h$h" weave stop >/dev/null 2>&1 || true
    ip netns del "$tag-h$h" 2>/dev/null || true
    rm -rf "/tmp/$tag-h$h"
  done
  ip netns del "$tag-ul" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$tag-ul"
ip -n "$tag-ul" link add br0 type bridge
ip -n "$tag-ul" link set br0 up
for h in 1 2; do
  ns="$tag-h$h"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$tag-ul" link add "vh$h" type veth peer name eth0 netns "$ns"
  ip -n "$tag-ul" link set "vh$h" master br0 up
  ip -n "$ns" addr add "10.99.0.$h/24" dev eth0
  ip -n "$ns" link set eth0 up
  peers=""; [ "$h" = 2 ] && peers="10.99.0.1"
  ip netns exec "$ns" weave launch --name "02:00:00:00:00:0$h" --nickname "host$h" \
     --data-dir "/tmp/$ns" --resolv-conf '' --docker-api '' $peers
done
for h in 1 2; do
  echo "=== host$h: weave status"
  ip netns exec "$tag-h$h" weave status
done
