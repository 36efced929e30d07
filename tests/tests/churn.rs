//! Churn, the short form of `bench/churn.sh`: one daemon, one target attached (IPAM address)
//! and detached a few hundred times. Nothing may accumulate: no open file descriptor, no veth,
//! no address in the target or in IPAM, and `weave ipam check` stays clean.

use std::time::Duration;
use weave_e2e::{ethwe_addrs, wait_for, Cluster, Netns};

/// Attach/detach cycles measured (after a warm-up, so lazily opened files count as baseline).
const CYCLES: usize = 300;
const WARM_UP: usize = 20;

/// Open file descriptors of a process.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).expect("read the daemon's /proc fd list")
}

#[test]
fn attach_detach_churn_leaves_no_fd_device_or_address_behind_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let seed = format!("seed={}", h.peer_name());
    let d = h.start_daemon(&["--ipalloc-init", &seed]);
    h.wait_ready();
    let t = Netns::new("churn");
    let id = format!("netns:{}", t.name);
    let cycle = |i: usize| {
        let out = h.weave(&["attach", &id]);
        assert!(out.ok(), "attach #{i}: {out:?}");
        // The address is really there (checked now and then: each check is a process).
        if i.is_multiple_of(50) {
            assert_eq!(ethwe_addrs(&t).len(), 1, "attach #{i}: {:?}", ethwe_addrs(&t));
        }
        let out = h.weave(&["detach", &id]);
        assert!(out.ok(), "detach #{i}: {out:?}");
    };
    for i in 0..WARM_UP {
        cycle(i);
    }
    let before = fds(d.pid());
    for i in 0..CYCLES {
        cycle(WARM_UP + i);
    }
    // A connection of the last request may still be closing: wait for it, with a deadline.
    wait_for("the daemon's fds to return to their count after the warm-up", Duration::from_secs(10), || {
        let now = fds(d.pid());
        if now <= before {
            Ok(())
        } else {
            Err(format!("{now} open, {before} before {CYCLES} cycles"))
        }
    });
    // Nothing of the target is left: no ethwe, no host veth, no address in IPAM.
    assert!(ethwe_addrs(&t).is_empty(), "{:?}", ethwe_addrs(&t));
    let veths = h.ns.exec("ip", &["-o", "link", "show", "type", "veth"]);
    assert!(!veths.stdout.contains("vethwep"), "{}", veths.stdout);
    let (code, body) = h.http("GET", "/api/v1/ipam/allocations");
    assert_eq!(code, 200, "{body}");
    let owners: Vec<weave_api::Allocation> = serde_json::from_str(&body).expect("allocations");
    assert!(owners.iter().all(|a| a.ident != id || a.addrs.is_empty()), "{body}");
    let out = h.weave(&["ipam", "check", "-o", "json"]);
    let check: weave_api::IpamCheck = serde_json::from_str(&out.stdout).expect("ipam check JSON");
    assert!(check.ok, "{check:?}");
}
