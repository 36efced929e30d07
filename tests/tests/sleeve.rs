//! The virtual Ethernet switch over sleeve: containers on different hosts share a segment.

use std::time::Duration;
use weave_e2e::{binary, tcp_transfer, udp_payloads, wait_for, wait_until, Background, Cluster, Host, Netns};

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
    let conns = h1.connections().unwrap();
    let t = &conns.iter().find(|c| c.state == "established").expect("one connection").traffic;
    assert!(t.tx_packets > 0 && t.rx_packets > 0 && t.tx_bytes > 0 && t.rx_bytes > 0, "{t:?}");
}

#[test]
fn garbage_at_the_sleeve_port_is_dropped_and_counted_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&["--no-fastdp"]);
    let _d2 = h2.start_daemon(&["--no-fastdp", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    wait_for("sleeve established", CONNECT, || established_sleeve(h2));
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    let drops = || h2.connections().unwrap().iter().find(|c| c.state == "established").unwrap().traffic.drops;
    let rejected = || h2.status().unwrap().router.sleeve_rejected;
    let (drops0, rejected0) = (drops(), rejected());

    // From h1's address: 200 datagrams of random bytes (no peer's name), 50 too short to name a
    // sender, and 100 that name h1 (the connected peer) followed by random or truncated records.
    let name: String = h1.peer_name().split(':').collect();
    let script = format!(
        "import os, random, socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         dst = ('{}', 6783)\n\
         me = bytes.fromhex('{name}')\n\
         for _ in range(200): s.sendto(os.urandom(random.randint(6, 1400)), dst)\n\
         for i in range(50): s.sendto(os.urandom(i % 6), dst)\n\
         for i in range(100): s.sendto(me + os.urandom(random.choice([1, 3, 13, 20, 200, 1300])), dst)\n",
        h2.addr
    );
    let out = h1.ns.exec("python3", &["-c", &script]);
    assert!(out.ok(), "{out:?}");
    wait_for("the garbage is counted", CONNECT, || {
        let (d, r) = (drops() - drops0, rejected() - rejected0);
        if d >= 100 && r >= 250 {
            Ok(())
        } else {
            Err(format!("{d} drops on the connection, {r} rejected"))
        }
    });
    // Nothing else noticed.
    ping(&a, "10.32.0.2").expect("a still pings b");
    ping(&b, "10.32.0.1").expect("b still pings a");
    established_sleeve(h2).expect("the connection is still up");
}

fn udpcat() -> String {
    binary("udpcat").display().to_string()
}

/// Three hosts in a full mesh, each with one container.
fn three_hosts(c: &Cluster) -> (Vec<weave_e2e::Daemon>, Netns, Netns, Netns) {
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    let d = vec![
        h1.start_daemon(&["--no-fastdp"]),
        h2.start_daemon(&["--no-fastdp", &h1.addr.to_string()]),
        h3.start_daemon(&["--no-fastdp", &h1.addr.to_string()]),
    ];
    h1.wait_established_to(&[h2, h3], CONNECT);
    h3.wait_established_to(&[h1, h2], CONNECT);
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    let cc = h3.container("cc", &["10.32.0.3/12"]);
    (d, a, b, cc)
}

#[test]
fn arp_broadcasts_and_multicast_reach_the_other_hosts_3() {
    let c = Cluster::new(3);
    let (_d, a, b, cc) = three_hosts(&c);
    wait_for("a pings c", CONNECT, || ping(&a, "10.32.0.3"));

    // An ARP request for an address nobody has is broadcast: both other hosts hear it.
    let mut dumps: Vec<Background> = [&b, &cc]
        .iter()
        .map(|ns| {
            Background::spawn_ready(
                ns,
                "timeout",
                &[
                    "20",
                    "tcpdump",
                    "--immediate-mode",
                    "-l",
                    "-n",
                    "-i",
                    "ethwe",
                    "-c",
                    "1",
                    "arp and host 10.32.0.99",
                ],
                "listening on",
            )
        })
        .collect();
    let _ = a.exec("ping", &["-c", "3", "-i", "0.3", "-W", "1", "10.32.0.99"]);
    for (i, d) in dumps.drain(..).enumerate() {
        let (code, out) = d.finish(Duration::from_secs(25));
        assert_eq!(code, Some(0), "host {} did not hear the ARP broadcast", i + 2);
        assert!(out.contains("Request who-has 10.32.0.99"), "{out}");
    }

    // A UDP multicast group: both listeners on the other hosts get the datagram.
    let cat = udpcat();
    let mut listeners: Vec<Background> = [&b, &cc]
        .iter()
        .map(|ns| Background::spawn(ns, &cat, &["listen", "0.0.0.0:5000", "239.1.2.3", "1", "20"]))
        .collect();
    for l in &mut listeners {
        l.wait_line("listening");
    }
    // Send until both have heard (each exits after one datagram), or give up.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline && listeners.iter_mut().any(|l| l.running()) {
        let out = a.exec(&cat, &["send", "239.1.2.3:5000", "hello-multicast"]);
        assert!(out.ok(), "{out:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for l in listeners {
        let (code, out) = l.finish(Duration::from_secs(1));
        assert_eq!(code, Some(0), "a multicast listener heard nothing: {out}");
        assert!(out.contains("hello-multicast"), "{out}");
    }
}

#[test]
fn a_line_without_discovery_carries_traffic_through_the_middle_3() {
    let c = Cluster::new(3);
    let (ha, hb, hc) = (c.host(0), c.host(1), c.host(2));
    let _db = hb.start_daemon(&["--no-fastdp", "--no-discovery"]);
    let _da = ha.start_daemon(&["--no-fastdp", "--no-discovery", &hb.addr.to_string()]);
    let _dc = hc.start_daemon(&["--no-fastdp", "--no-discovery", &hb.addr.to_string()]);
    hb.wait_established_to(&[ha, hc], CONNECT);
    let a = ha.container("ca", &["10.32.0.1/12"]);
    let cc = hc.container("cc", &["10.32.0.3/12"]);
    wait_for("a pings c through b", CONNECT, || ping(&a, "10.32.0.3"));
    wait_for("c pings a through b", CONNECT, || ping(&cc, "10.32.0.1"));
    assert_eq!(ha.established_peers().unwrap(), [hb.peer_name()], "no direct A-C connection");
}

/// The ICMP echo requests a namespace has received.
fn in_echos(ns: &Netns) -> u64 {
    let snmp = ns.exec("cat", &["/proc/net/snmp"]).stdout;
    let mut lines = snmp.lines().filter(|l| l.starts_with("Icmp:"));
    let (names, values) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    let i = names.split_whitespace().position(|n| n == "InEchos").expect("InEchos");
    values.split_whitespace().nth(i).and_then(|v| v.parse().ok()).expect("a number")
}

#[test]
fn a_password_hides_the_payload_and_replays_are_dropped_4() {
    let c = Cluster::new(4);
    let (h1, h2, h3, h4) = (c.host(0), c.host(1), c.host(2), c.host(3));
    let _d = [
        h1.start_daemon(&["--no-fastdp", "--password", "s3cret"]),
        h2.start_daemon(&["--no-fastdp", "--password", "s3cret", &h1.addr.to_string()]),
        // A plain pair on the same underlay shows the capture would see the pattern.
        h3.start_daemon(&["--no-fastdp", "--ipalloc-range", ""]),
        h4.start_daemon(&["--no-fastdp", &h3.addr.to_string()]),
    ];
    h2.wait_established_to(&[h1], CONNECT);
    h4.wait_established_to(&[h3], CONNECT);
    let out = h1.weave(&["status", "connections"]);
    assert!(out.stdout.contains("established encrypted   sleeve"), "{}", out.stdout);
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    let p = h3.container("cp", &["10.33.0.1/12"]);
    let _q = h4.container("cq", &["10.33.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    wait_for("p pings q", CONNECT, || ping(&p, "10.33.0.2"));

    let pcap = format!("/tmp/{}-underlay.pcap", c.underlay.name);
    // Immediate mode: each packet reaches the file at once, not a ring block per second later.
    let dump = Background::spawn(
        &c.underlay,
        "tcpdump",
        &["-i", "br0", "--immediate-mode", "-U", "-w", &pcap, "udp"],
    );
    let captured = |hex: &str| {
        let bytes = std::fs::read(&pcap).unwrap_or_default();
        let pat: Vec<u8> =
            (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        bytes.windows(pat.len()).any(|w| w == pat.as_slice())
    };
    // tcpdump -w says "listening on" before its capture file takes packets: the capture is
    // live once a probe over the clear pair shows up in it.
    let probe = "9b0be9b0be9b0be9";
    wait_for("the underlay capture takes packets", CONNECT, || {
        p.exec("ping", &["-c", "1", "-W", "1", "-p", probe, "10.33.0.2"]);
        if captured(probe) {
            Ok(())
        } else {
            Err("the probe is not in the capture yet".into())
        }
    });
    let (secret, plain) = ("5ec7e75ec7e75ec7", "0b5e7ab1e0b5e7ab");
    assert!(a.exec("ping", &["-c", "3", "-i", "0.2", "-p", secret, "10.32.0.2"]).ok());
    assert!(p.exec("ping", &["-c", "3", "-i", "0.2", "-p", plain, "10.33.0.2"]).ok());
    // The clear pair's pings, sent after the encrypted ones, show the capture has them all.
    wait_until("the unencrypted pair's pattern in the capture", Duration::from_secs(10), || captured(plain));
    dump.stop();
    let secret_seen = captured(secret);
    let bytes = std::fs::read(&pcap).expect("capture written");
    let _ = std::fs::remove_file(&pcap);
    assert!(!secret_seen, "the encrypted pair's pattern must never appear in clear");

    // Replay an encrypted datagram h1 -> h2 that carried an echo request: it must be dropped.
    let request = udp_payloads(&bytes)
        .into_iter()
        .find(|(s, d, pl)| *s == h1.addr.octets() && *d == h2.addr.octets() && pl.len() == 6 + 24 + 14 + 98)
        .expect("an encrypted echo request in the capture");
    let hex: String = request.2.iter().map(|b| format!("{b:02x}")).collect();
    let before = in_echos(&b);
    let out = h1.ns.exec(&udpcat(), &["sendhex", &format!("{}:6783", h2.addr), &hex]);
    assert!(out.ok(), "{out:?}");
    // A fresh ping afterwards: when its reply is back, the replay has been handled too.
    wait_for("a fresh ping", CONNECT, || ping(&a, "10.32.0.2"));
    assert_eq!(in_echos(&b), before + 1, "only the fresh echo request reached the container");
}

#[test]
fn pmtu_discovery_and_fragmentation_over_a_small_underlay_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    // Every underlay hop carries at most 1400 bytes.
    for (i, h) in [h1, h2].iter().enumerate() {
        h.ns.ip(&["link", "set", "eth0", "mtu", "1400"]);
        c.underlay.ip(&["link", "set", &format!("vh{}", i + 1), "mtu", "1400"]);
    }
    let _d1 = h1.start_daemon(&["--no-fastdp"]);
    let _d2 = h2.start_daemon(&["--no-fastdp", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    // 1400 - 28 (IP/UDP) - 6 (sender) - 14 (frame header) - 14 (Ethernet) = 1338.
    wait_for("the MTU is discovered", CONNECT, || {
        let conns = h1.connections()?;
        match conns.first().and_then(|c| c.mtu) {
            Some(1338) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b", CONNECT, || ping(&a, "10.32.0.2"));
    // 8000-byte pings: not DF, fragmented on the way.
    let out = a.exec("ping", &["-c", "3", "-s", "8000", "-W", "2", "10.32.0.2"]);
    assert!(out.ok(), "{out:?}");
    // A TCP transfer: DF segments larger than the overlay MTU get ICMP "fragmentation needed".
    tcp_transfer(&a, &b, "10.32.0.2", 20);
}

#[test]
fn a_docker_style_forward_drop_policy_does_not_stop_weave_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    // As Docker leaves a host: bridged frames go through iptables, and FORWARD drops.
    for h in [h1, h2] {
        assert!(
            h.ns.exec("sysctl", &["-qw", "net.bridge.bridge-nf-call-iptables=1"]).ok(),
            "br_netfilter is needed"
        );
        assert!(h.ns.exec("nft", &["add", "table", "ip", "filter"]).ok());
        let chain = "{ type filter hook forward priority 0; policy drop; }";
        assert!(h.ns.exec("nft", &["add", "chain", "ip", "filter", "FORWARD", chain]).ok());
    }
    let _d1 = h1.start_daemon(&["--no-fastdp"]);
    let _d2 = h2.start_daemon(&["--no-fastdp", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], CONNECT);
    let a = h1.container("ca", &["10.32.0.1/12"]);
    let a2 = h1.container("ca2", &["10.32.0.3/12"]);
    let b = h2.container("cb", &["10.32.0.2/12"]);
    wait_for("a pings b across hosts", CONNECT, || ping(&a, "10.32.0.2"));
    wait_for("a pings a2 on the same host", CONNECT, || ping(&a, "10.32.0.3"));
    assert!(ping(&b, "10.32.0.1").is_ok());
    // Routed in from outside through an exposed host, and the replies back out.
    let out = h1.outside();
    assert!(h1.weave(&["expose", "10.32.0.9/12"]).ok());
    wait_for("the outside pings b through the exposed host", CONNECT, || ping(&out, "10.32.0.2"));
    // A firewall reload that drops our rules: weave puts them back.
    assert!(h1.ns.exec("nft", &["flush", "chain", "ip", "filter", "FORWARD"]).ok());
    assert!(ping(&a, "10.32.0.3").is_err(), "the reload took effect");
    wait_for("weave restores its rules", Duration::from_secs(30), || ping(&a, "10.32.0.3"));
    wait_for("and the outside's path", CONNECT, || ping(&out, "10.32.0.2"));
    drop(a2);
}
