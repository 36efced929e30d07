#!/usr/bin/env bash
# Network policy through the daemon (not a test): the whole path a user's attach takes, where
# bench/policy.sh times the model and the kernel alone. One host, POLICIES policies applied
# with `weave policy apply` (selecting app=web0..9), then N targets attached one at a time
# with `weave attach --label app=webK`; for each, the time from starting `weave attach` until
# its address is in the kernel's policy set of its selector (attach -> API -> attach service
# -> target event -> policy model -> nft), and the time `weave attach` itself took.
# Needs root. Usage: bench/policy-wired.sh [N] [POLICIES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
POLICIES=${2:-100}
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then FLAG=--release; else FLAG=; fi
cargo build $FLAG --bins -q
BIN=$PWD/target/$PROFILE
P="wpw$$"
H=$P-h

cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "/tmp/$P"
}
trap cleanup EXIT

ip netns add $H; ip -n $H link set lo up
mkdir -p /tmp/$P
ip netns exec $H "$BIN/weave" launch --name 02:00:00:00:00:01 --nickname h1 --data-dir /tmp/$P/h \
  --resolv-conf '' --docker-api '' --ipalloc-init seed=02:00:00:00:00:01 >/dev/null
python3 - "$POLICIES" > /tmp/$P/policies.yaml <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"""---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p{i}}}
spec:
  podSelector: {{matchLabels: {{app: web{i % 10}}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{role: client{i}}}}}}}]
    ports: [{{protocol: TCP, port: {8000 + i}}}]""")
PY
ip netns exec $H "$BIN/weave" policy apply -f /tmp/$P/policies.yaml >/dev/null
python3 - "$N" "$BIN/weave" "$H" "$P" <<'PY'
import subprocess, sys, time
n, weave, host, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def sh(*a):
    return subprocess.run(a, check=True, capture_output=True, text=True).stdout
enforced, attach = [], []
for i in range(n):
    ns = f"{prefix}-t{i}"
    sh("ip", "netns", "add", ns)
    t0 = time.monotonic()
    addr = sh("ip", "netns", "exec", host, weave, "attach", "--label", f"app=web{i % 10}", f"netns:{ns}").split()[0]
    t1 = time.monotonic()
    # The set the policies' selector app=webK fills (every policy's sets are listed at once).
    while addr not in sh("ip", "netns", "exec", host, "nft", "list", "sets", "inet"):
        if time.monotonic() - t0 > 10:
            sys.exit(f"{addr} not enforced within 10 s")
    enforced.append(time.monotonic() - t0)
    attach.append(t1 - t0)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] * 1000
print(f"{n} attaches, policies applied through the daemon:")
print(f"  weave attach returned:   median {pct(attach, .5):.1f} ms, p95 {pct(attach, .95):.1f} ms")
print(f"  address in the kernel's policy set: median {pct(enforced, .5):.1f} ms, p95 {pct(enforced, .95):.1f} ms"
      f" (from the start of weave attach; includes polling nft)")
PY
