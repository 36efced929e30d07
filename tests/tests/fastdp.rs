//! The fast datapath: kernel VXLAN between peers, chosen automatically, falling back to sleeve
//! when the VXLAN path fails and coming back when it recovers; a killed daemon's kernel path
//! keeps forwarding.

use std::time::Duration;
use weave_api::Connection;
use weave_e2e::{tcp_transfer, wait_for, Cluster, Host, Netns};

const CONNECT: Duration = Duration::from_secs(30);
/// The contract: between weave peers, sleeve within 15 s of the VXLAN path failing...
const FALLBACK: Duration = Duration::from_secs(15);
/// ...and fastdp again within 30 s of it recovering.
const RECOVERY: Duration = Duration::from_secs(30);

fn ping(from: &Netns, to: &str) -> Result<(), String> {
    let out = from.exec("ping", &["-c", "1", "-W", "1", to]);
    if out.ok() {
        Ok(())
    } else {
        Err(out.stdout.lines().last().unwrap_or_default().to_string())
    }
}

/// The established connection from `h` to `peer`.
fn conn_to(h: &Host, peer: &Host) -> Result<Connection, String> {
    let conns = h.connections()?;
    conns
        .into_iter()
        .find(|c| c.state == "established" && c.peer.as_deref() == Some(&peer.peer_name()))
        .ok_or_else(|| format!("no established connection from {} to {}", h.nickname(), peer.nickname()))
}

fn overlay_is(h: &Host, peer: &Host, want: &str) -> Result<Connection, String> {
    let c = conn_to(h, peer)?;
    if c.overlay.as_deref() == Some(want) {
        Ok(c)
    } else {
        Err(format!("overlay {:?}, switches {:?}", c.overlay, c.switches))
    }
}

/// Blocks or unblocks UDP to the VXLAN port on the underlay bridge.
fn block_vxlan(c: &Cluster, on: bool) {
    if on {
        let rules = "table bridge weavetest { chain drop6784 { type filter hook forward priority 0; \
                     udp dport 6784 drop; }; }";
        let out = c.underlay.exec("nft", &[rules]);
        assert!(out.ok(), "{out:?}");
    } else {
        let out = c.underlay.exec("nft", &["delete", "table", "bridge", "weavetest"]);
        assert!(out.ok(), "{out:?}");
    }
}

/// Bytes the host's fastdp device for `peer` sent and received, from the API.
fn fastdp_bytes(h: &Host, peer: &Host) -> (u64, u64) {
    let c = conn_to(h, peer).unwrap();
    let d = c.fastdp.expect("the connection shows its fastdp device");
    (d.tx_bytes, d.rx_bytes)
}

#[test]
fn fastdp_carries_traffic_falls_back_to_sleeve_and_returns_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&[]);
    let _d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    wait_for("h1 uses fastdp", CONNECT, || overlay_is(h1, h2, "fastdp"));
    wait_for("h2 uses fastdp", CONNECT, || overlay_is(h2, h1, "fastdp"));
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    wait_for("b pings a", CONNECT, || ping(&b, "10.32.0.1"));

    // The weave text status and the API agree; the data went through the VXLAN device.
    let text = h1.weave(&["status", "connections"]).stdout;
    assert!(text.contains("established fastdp "), "{text}");
    assert!(text.contains("mtu=1376"), "{text}");
    let (tx0, _) = fastdp_bytes(h1, h2);
    tcp_transfer(&a, &b, "10.32.0.2", 10);
    let (tx1, _) = fastdp_bytes(h1, h2);
    assert!(tx1 - tx0 > 10_000_000, "10 MB went through the fastdp device: {tx0} -> {tx1}");
    let sleeve = conn_to(h1, h2).unwrap().traffic;

    // Heartbeats (all-zero MACs) reach h2's VXLAN device, and the bridge keeps them from the
    // containers (it drops frames whose source MAC is zero).
    let dev = conn_to(h2, h1).unwrap().fastdp.expect("h2's device").device;
    let zero = "ether dst 00:00:00:00:00:00";
    let seen =
        h2.ns.exec("timeout", &["10", "tcpdump", "--immediate-mode", "-i", &dev, "-c", "2", "-nn", zero]);
    assert!(seen.stderr.contains("2 packets captured"), "heartbeats on {dev}: {seen:?}");
    let leaked = b.exec("timeout", &["3", "tcpdump", "--immediate-mode", "-i", "ethwe", "-nn", zero]);
    assert!(leaked.stderr.contains("0 packets captured"), "no heartbeat in the container: {leaked:?}");

    // The underlay drops VXLAN: both ends fall back to sleeve, and say why.
    block_vxlan(&c, true);
    let conn = wait_for("h1 falls back to sleeve", FALLBACK, || overlay_is(h1, h2, "sleeve"));
    wait_for("h2 falls back to sleeve", FALLBACK, || overlay_is(h2, h1, "sleeve"));
    let last = conn.switches.last().expect("the switch is recorded");
    assert_eq!((last.from.as_deref(), last.to.as_deref()), (Some("fastdp"), Some("sleeve")), "{last:?}");
    assert!(last.reason.contains("heartbeat"), "{last:?}");
    let fastdp = conn.forwarders.iter().find(|f| f.name == "fastdp").expect("the fastdp forwarder");
    assert_eq!(fastdp.state, "unhealthy", "{fastdp:?}");
    wait_for("a pings b over sleeve", CONNECT, || ping(&a, "10.32.0.2"));
    tcp_transfer(&a, &b, "10.32.0.2", 2);
    let after = conn_to(h1, h2).unwrap().traffic;
    assert!(
        after.tx_bytes - sleeve.tx_bytes > 2_000_000,
        "the transfer went over sleeve: {sleeve:?} {after:?}"
    );

    // VXLAN is back: so is fastdp.
    block_vxlan(&c, false);
    let conn = wait_for("h1 returns to fastdp", RECOVERY, || overlay_is(h1, h2, "fastdp"));
    wait_for("h2 returns to fastdp", RECOVERY, || overlay_is(h2, h1, "fastdp"));
    let last = conn.switches.last().expect("the return is recorded");
    assert_eq!((last.from.as_deref(), last.to.as_deref()), (Some("sleeve"), Some("fastdp")), "{last:?}");
    let (tx2, _) = fastdp_bytes(h1, h2);
    tcp_transfer(&a, &b, "10.32.0.2", 2);
    let (tx3, _) = fastdp_bytes(h1, h2);
    assert!(tx3 - tx2 > 2_000_000, "back on the VXLAN device: {tx2} -> {tx3}");
}

#[test]
fn a_peer_without_fastdp_gets_sleeve_while_the_others_keep_fastdp_3() {
    let c = Cluster::new(3);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    let _d1 = h1.start_daemon(&[]);
    let _d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    let _d3 = h3.start_daemon(&["--no-fastdp", &h1.addr.to_string(), &h2.addr.to_string()]);
    h1.wait_established_to(&[h2, h3], CONNECT);
    h3.wait_established_to(&[h1, h2], CONNECT);
    wait_for("h1-h2 on fastdp", CONNECT, || overlay_is(h1, h2, "fastdp"));
    wait_for("h2-h1 on fastdp", CONNECT, || overlay_is(h2, h1, "fastdp"));
    for (x, y) in [(h1, h3), (h3, h1), (h2, h3), (h3, h2)] {
        let conn = wait_for("pairs with h3 on sleeve", CONNECT, || overlay_is(x, y, "sleeve"));
        assert!(conn.forwarders.iter().all(|f| f.name == "sleeve"), "{:?}", conn.forwarders);
    }
    // Every container reaches every other (ARP broadcasts included) across both overlays.
    let cs = [
        h1.container("c1", &["10.32.0.1/12"]),
        h2.container("c2", &["10.32.0.2/12"]),
        h3.container("c3", &["10.32.0.3/12"]),
    ];
    for (i, from) in cs.iter().enumerate() {
        for j in 0..3 {
            if i != j {
                let to = format!("10.32.0.{}", j + 1);
                wait_for(&format!("c{} pings {to}", i + 1), CONNECT, || ping(from, &to));
            }
        }
    }
    // Only h1 and h2 made fastdp devices, for each other.
    for (h, n) in [(h1, 1), (h2, 1), (h3, 0)] {
        let links = h.ns.exec("ip", &["-o", "link", "show"]).stdout;
        assert_eq!(links.matches("vethwe-vx").count(), n, "{}: {links}", h.nickname());
    }
}

#[test]
fn a_killed_daemon_leaves_fastdp_forwarding_and_its_successor_adopts_it_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&[]);
    let mut d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    wait_for("fastdp", CONNECT, || overlay_is(h1, h2, "fastdp"));
    wait_for("fastdp", CONNECT, || overlay_is(h2, h1, "fastdp"));
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    wait_for("b pings a", CONNECT, || ping(&b, "10.32.0.1"));

    d2.kill();
    // Without its daemon, h2's kernel still forwards, both ways, every time.
    for _ in 0..5 {
        ping(&a, "10.32.0.2").expect("a pings b with h2's daemon dead");
        ping(&b, "10.32.0.1").expect("b pings a with h2's daemon dead");
    }
    let device = h2.ns.exec("ip", &["-o", "link", "show", "master", "weave"]).stdout;
    assert!(device.contains("vethwe-vx"), "the device stays on the bridge: {device}");

    // A new daemon takes the device over as it is.
    let d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    wait_for("fastdp again", CONNECT, || overlay_is(h2, h1, "fastdp"));
    assert!(d2.log_text().contains("adopted the device there"), "{}", d2.log_text());
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
}

#[test]
fn heartbeats_check_the_path_carries_the_mtu_2() {
    // The underlay carries 1400 bytes: VXLAN frames of the default MTU (1376 + 64) do not fit,
    // so fastdp never becomes established and sleeve carries the traffic; a smaller --mtu fits.
    for (mtu, want) in [(None, "sleeve"), (Some("1300"), "fastdp")] {
        let c = Cluster::new(2);
        let (h1, h2) = (c.host(0), c.host(1));
        for (i, h) in [h1, h2].iter().enumerate() {
            h.ns.ip(&["link", "set", "eth0", "mtu", "1400"]);
            c.underlay.ip(&["link", "set", &format!("vh{}", i + 1), "mtu", "1400"]);
        }
        let flags: Vec<&str> = mtu.map(|m| vec!["--mtu", m]).unwrap_or_default();
        let _d1 = h1.start_daemon(&flags);
        let mut flags2 = flags.clone();
        let peer = h1.addr.to_string();
        flags2.push(&peer);
        let _d2 = h2.start_daemon(&flags2);
        h2.wait_established_to(&[h1], CONNECT);
        let a = h1.container("ca", &["10.32.0.1/12"]);
        let _b = h2.container("cb", &["10.32.0.2/12"]);
        wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
        if want == "sleeve" {
            // The full-size heartbeats never arrive: fastdp gives up, sleeve carries on.
            let conn = wait_for("fastdp gives up", FALLBACK, || {
                let conn = conn_to(h1, h2)?;
                match conn.forwarders.iter().find(|f| f.name == "fastdp") {
                    Some(f) if f.state == "unhealthy" => Ok(conn),
                    other => Err(format!("{other:?}")),
                }
            });
            assert_eq!(conn.overlay.as_deref(), Some("sleeve"), "{conn:?}");
            let f = conn.forwarders.iter().find(|f| f.name == "fastdp").expect("fastdp was tried");
            let reason = f.reason.clone().unwrap_or_default();
            assert!(reason.contains("no fastdp heartbeat"), "{reason}");
            ping(&a, "10.32.0.2").expect("sleeve carries the traffic");
        } else {
            wait_for("fastdp with the smaller MTU", CONNECT, || overlay_is(h1, h2, "fastdp"));
        }
    }
}

#[test]
fn a_password_means_encrypted_sleeve_and_the_status_says_why_2() {
    // Weave encrypts fastdp with IPsec ESP, which this kernel lacks: the pair uses encrypted
    // sleeve, and the fastdp forwarder's failure names the reason.
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&["--password", "s3cret"]);
    let _d2 = h2.start_daemon(&["--password", "s3cret", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    let conn = wait_for("encrypted sleeve", CONNECT, || {
        let conn = overlay_is(h1, h2, "sleeve")?;
        match conn.forwarders.iter().find(|f| f.name == "fastdp") {
            Some(f) if f.state == "failed" => Ok(conn),
            other => Err(format!("fastdp forwarder {other:?}")),
        }
    });
    assert!(conn.encrypted, "{conn:?}");
    let f = conn.forwarders.iter().find(|f| f.name == "fastdp").unwrap();
    assert!(f.reason.as_deref().unwrap_or_default().contains("IPsec ESP"), "{f:?}");
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let _b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b over encrypted sleeve", CONNECT, || ping(&a, "10.32.0.2"));
    let links = h1.ns.exec("ip", &["-o", "link", "show"]).stdout;
    assert!(!links.contains("vethwe-vx"), "no fastdp device for an encrypted pair: {links}");
}
