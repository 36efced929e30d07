//! The virtual Ethernet switch over sleeve: containers on different hosts share a segment.

use std::time::Duration;
use weave_e2e::{wait_for, Cluster, Host, Netns};

const CONNECT: Duration = Duration::from_secs(30);

fn ping(from: &Netns, to: &str) -> Result<(), String> {
    let out = from.exec("ping", &["-c", "1", "-W", "1", to]);
    if out.ok() {
        Ok(())
    } else {
        Err(out.stdout.lines().last().unwrap_or_default().to_string())
    }
}

fn established_sleeve(h: &Host) -> Result<(), String> {
    let conns = h.connections()?;
    match conns.iter().find(|c| c.state == "established") {
        Some(c) if c.overlay.as_deref() == Some("sleeve") => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

#[test]
fn cross_host_ping_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&["--no-fastdp"]);
    let _d2 = h2.start_daemon(&["--no-fastdp", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    wait_for("sleeve established", CONNECT, || established_sleeve(h1));
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    wait_for("b pings a", CONNECT, || ping(&b, "10.32.0.1"));
    let out = h1.weave(&["status", "connections"]);
    assert!(out.stdout.contains("established sleeve "), "{}", out.stdout);
    assert!(out.stdout.contains(" mtu="), "{}", out.stdout);
}
