#!/usr/bin/env bash
# Chaos, the long form (CI runs 10 cycles as part of the e2e suite): 3 hosts in namespaces, two
# clients per host attaching and detaching continuously while that host's daemon is killed with
# -9 at a random moment and relaunched, CYCLES times per host (all three hosts at once). At the
# end: every target all-or-nothing (its interface holds exactly the addresses IPAM lists for it),
# no address held twice across the cluster (every peer's IPAM, every target's interface), no
# stray host veth, no leaked device or nft rule against a first start, `weave ipam check` clean.
# The seed it prints reproduces a run. Needs root. Usage: scripts/chaos.sh [CYCLES]
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${1:-100}
cargo build --workspace --bins -q
CHAOS_CYCLES=$CYCLES cargo nextest run -p weave-e2e --test attach \
  attaches_and_detaches_cut_by_kill_9_end_all_or_nothing_3 --no-capture 2>&1 \
  | grep -E "chaos seed|requests answered|PASS|FAIL|panicked|assert" || true
