#!/usr/bin/env bash
# Soak, by hand: 5 hosts in namespaces with a named container each and pings flowing, one host at
# a time cut off the underlay for 2-6 s and healed, for SECONDS (default 600). Checks after each
# heal (every pair pings within 10 s) and at the end (DNS and the IPAM ring agree on every host;
# RSS and open files within a small margin of the first minute's). Needs root.
# Usage: scripts/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins -q
SOAK_SECS=${1:-600} cargo nextest run -p weave-e2e --test soak --run-ignored only --no-capture 2>&1 \
  | grep -E "soak|cycle|RSS|PASS|FAIL|panicked|assert" || true
