//! `weave demo`: a working cluster on one machine, and nothing left after `down`.

use std::process::Command;

struct DemoDown;

impl Drop for DemoDown {
    fn drop(&mut self) {
        let _ = Command::new(weave_e2e::binary("weave")).args(["demo", "down"]).output();
    }
}

fn demo_namespaces() -> usize {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("weavedemo-")).count()
}

#[test]
fn demo_up_and_down_2() {
    let weave = weave_e2e::binary("weave");
    let _guard = DemoDown;
    let out = Command::new(&weave).args(["demo", "up", "--hosts", "2"]).output().expect("run weave demo up");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("all 2 containers reach each other over weave."), "{stdout}");
    // 1 underlay + 2 hosts + 2 containers.
    assert_eq!(demo_namespaces(), 5);
    let again = Command::new(&weave).args(["demo", "up"]).output().expect("run");
    assert_eq!(again.status.code(), Some(1), "a second demo is refused");
    let out = Command::new(&weave).args(["demo", "down"]).output().expect("run weave demo down");
    assert!(out.status.success());
    assert_eq!(demo_namespaces(), 0);
}
