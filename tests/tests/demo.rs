//! `weave demo`: a working cluster on one machine, and nothing left after `down`.
//!
//! `weave demo` uses fixed names (`weavedemo-*`, /tmp/weavedemo), as a user expects. So that a
//! demo someone left running, or another run of this suite, cannot collide with the test, it runs
//! in a private mount namespace with tmpfs over /run/netns and /tmp/weavedemo: the namespaces and
//! data it makes are its own and vanish with it.

use std::process::Command;

const SCRIPT: &str = r#"
set -u
mkdir -p /run/netns /tmp/weavedemo
mount -t tmpfs weave-e2e-demo /run/netns || exit 20
mount -t tmpfs weave-e2e-demo /tmp/weavedemo || exit 21
trap '"$W" demo down >/dev/null 2>&1' EXIT
"$W" demo up --hosts 2 || exit 10
echo "namespaces=$(ip netns list | grep -c '^weavedemo-')"
"$W" demo up >/dev/null 2>&1
echo "again=$?"
"$W" demo down || exit 11
echo "after=$(ip netns list | grep -c '^weavedemo-')"
"#;

#[test]
fn demo_up_and_down_2() {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", SCRIPT])
        .env("W", weave_e2e::binary("weave"))
        .output()
        .expect("run unshare");
    // The mount point the script made; removed only when empty, so never a user's demo data.
    let _ = std::fs::remove_dir("/tmp/weavedemo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("all 2 containers reach each other over weave."), "{stdout}");
    // 1 underlay + 2 hosts + 2 containers.
    assert!(stdout.contains("namespaces=5\n"), "{stdout}");
    assert!(stdout.contains("again=1\n"), "a second demo is refused: {stdout}");
    assert!(stdout.contains("after=0\n"), "demo down removes every namespace: {stdout}");
}
