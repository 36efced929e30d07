#!/usr/bin/env bash
# A fuzz campaign: every decoder target for SECONDS each, with large inputs, and every input's
# allocation bounded by its size (the targets run their decoder inside weave_fuzz::within: going
# over 1 MiB + 64 bytes per input byte, or the gob decoder's own budget, aborts, and libFuzzer
# keeps the input under artifacts/). Prints executions and their rate per target; exits 1 if any
# target crashed, leaked, timed out or went over a bound.
#
#   fuzz/campaign.sh [SECONDS] [TARGET...]
#
# Defaults: 300 s per target; the decoder targets (gob_decode control_stream sleeve_packet
# dns_request dns_gossip; `secretbox`, the differential cipher check, can be named too).
# FUZZ_MAX_LEN (default 262144) is libFuzzer's -max_len; corpora grow under fuzz/corpus/TARGET
# (seeded from the Weave Net captures in testdata/), logs go to fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")"

SECS=${1:-300}
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(gob_decode control_stream sleeve_packet dns_request dns_gossip)
MAX_LEN=${FUZZ_MAX_LEN:-262144}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
# cargo-fuzz needs nightly flags (sanitizers); the stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1

# Seeds: whole frames of the captured control streams, their bodies (gob streams), and the
# captured sleeve payloads. Each is one data line of a .hex file (first field).
seed() { # seed TARGET FILE SKIP_BYTES
  local dir=corpus/$1 i=0
  mkdir -p "$dir"
  grep -v '^#' "../testdata/weave-2.8/$2" | awk 'NF { print $1 }' | while read -r hex; do
    i=$((i + 1))
    echo "$hex" | perl -ne 'chomp; print pack("H*", $_)' | tail -c +$(($3 + 1)) >"$dir/seed-$(basename "$2" .hex)-$i"
  done
}
for f in tcp-plain/a_to_b.hex tcp-plain/b_to_a.hex; do
  seed control_stream "$f" 0
  seed gob_decode "$f" 4
done
seed sleeve_packet sleeve/plain.hex 0
mkdir -p logs

cargo fuzz build -O

printf '%-16s %8s %12s %10s %10s %s\n' target seconds executions execs/s corpus result
failed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  log=logs/$t.log
  set +e
  cargo fuzz run -O "$t" "corpus/$t" -- \
    -max_len="$MAX_LEN" -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  units=$(find "corpus/$t" -type f | wc -l)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc, see fuzz/$log and fuzz/artifacts/$t)"
    failed=1
  fi
  printf '%-16s %8s %12s %10s %10s %s\n' "$t" "$SECS" "${execs:-?}" "${rate:-?}" "$units" "$result"
done
exit $failed
