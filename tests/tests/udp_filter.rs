//! `--restrict-udp-to-peers`: the overlay ports (UDP 6783 sleeve, 6784 fastdp) take datagrams
//! only from the addresses of this peer's connections. Weave's data plane is unauthenticated
//! without a password: anyone who can reach the port and knows a peer name can inject frames.

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

/// Packets counted by the drop rule of weave's UDP filter on `h`.
fn dropped(h: &Host) -> Result<u64, String> {
    let out = h.ns.exec("nft", &["list", "chain", "inet", "weave-peers", "input"]);
    if !out.ok() {
        return Err(format!("no filter: {}", out.stderr.trim()));
    }
    let line = out.stdout.lines().find(|l| l.contains("drop")).ok_or_else(|| out.stdout.clone())?;
    let n = line.split("packets ").nth(1).and_then(|s| s.split_whitespace().next());
    n.and_then(|n| n.parse().ok()).ok_or_else(|| line.to_string())
}

/// Datagrams the daemon on `h` received and threw away: those naming no known peer, and those
/// naming a connected peer that did not decode.
fn refused_by_daemon(h: &Host) -> u64 {
    let conns: u64 = h.connections().expect("connections").iter().map(|c| c.traffic.drops).sum();
    h.status().expect("status").router.sleeve_rejected + conns
}

/// 100 datagrams to each overlay port of `to`, each naming `as_peer` as its sender.
fn inject(from: &Host, to: &Host, as_peer: &Host) {
    let name: String = as_peer.peer_name().split(':').collect();
    let script = format!(
        "import os, socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         me = bytes.fromhex('{name}')\n\
         for port in (6783, 6784):\n\
         \x20   for i in range(100): s.sendto(me + os.urandom(40 + i), ('{}', port))\n",
        to.addr
    );
    let out = from.ns.exec("python3", &["-c", &script]);
    assert!(out.ok(), "{out:?}");
}

#[test]
fn only_peers_reach_the_overlay_ports_3() {
    let c = Cluster::new(3);
    let (h1, h2, outsider) = (c.host(0), c.host(1), c.host(2));
    let _d1 = h1.start_daemon(&["--no-fastdp", "--restrict-udp-to-peers"]);
    let _d2 = h2.start_daemon(&["--no-fastdp", "--restrict-udp-to-peers", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    wait_for("b pings a", CONNECT, || ping(&b, "10.32.0.1"));
    let (dropped0, refused0) = (dropped(h1).unwrap(), refused_by_daemon(h1));

    // A host that is no peer, pretending to be h2: the kernel drops all 200, the daemon sees none.
    inject(outsider, h1, h2);
    wait_for("the outsider's datagrams are dropped", CONNECT, || match dropped(h1)? - dropped0 {
        n if n >= 200 => Ok(()),
        n => Err(format!("{n} dropped")),
    });
    assert_eq!(refused_by_daemon(h1), refused0, "the daemon received none of them");

    // The same from h2, a peer, does reach the daemon (which rejects garbage itself): the filter,
    // not the daemon, kept the outsider's out.
    inject(h2, h1, h2);
    wait_for("the peer's garbage reaches the daemon", CONNECT, || match refused_by_daemon(h1) - refused0 {
        n if n >= 50 => Ok(()),
        n => Err(format!("{n} refused by the daemon")),
    });
    ping(&a, "10.32.0.2").expect("peers still work");
    ping(&b, "10.32.0.1").expect("peers still work");
}

#[test]
fn peers_keep_fastdp_behind_the_filter_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&["--restrict-udp-to-peers"]);
    let _d2 = h2.start_daemon(&["--restrict-udp-to-peers", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let _b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    wait_for("the connection is on fastdp", CONNECT, || {
        let conns = h1.connections()?;
        match conns.iter().find(|c| c.state == "established") {
            Some(c) if c.overlay.as_deref() == Some("fastdp") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    // The first heartbeats of a new connection may come before the filter knows the peer;
    // once it does, nothing of the peer's is dropped.
    let before = dropped(h1).unwrap();
    for _ in 0..5 {
        ping(&a, "10.32.0.2").expect("a pings b");
    }
    assert_eq!(dropped(h1).unwrap(), before, "the peer's traffic passes");
}
