#!/usr/bin/env bash
# Runs every test: unit, protocol-vector, simulation and end-to-end (namespaces; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# End-to-end tests drive the real binaries, so build them first.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi

# The REST API against its OpenAPI document, a short run (scripts/conformance.sh 500 for long).
./scripts/conformance.sh 25
