//! Canned data for the tests: a three-peer cluster seen from host1, with one peer reached
//! through another, a target that keeps failing, traffic, IPAM, DNS and two services (one broken).

use crate::app::{App, Event, Stream};
use crate::model::{AllocationRow, Avail, DnsEntry, IpamData, PolicyData, RingOwner, Snapshot};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use weave_api::*;

pub const H1: &str = "02:00:00:00:00:01";
pub const H2: &str = "02:00:00:00:00:02";
pub const H3: &str = "02:00:00:00:00:03";
pub const H4: &str = "02:00:00:00:00:04";

fn peer(name: &str, nick: &str, conns: &[(&str, &str)]) -> PeerStatus {
    PeerStatus {
        name: name.into(),
        nick_name: nick.into(),
        uid: 1,
        short_id: 1,
        version: 3,
        connections: conns
            .iter()
            .map(|(n, k)| PeerConnectionStatus {
                name: n.to_string(),
                nick_name: k.to_string(),
                address: "10.99.0.1:6783".into(),
                outbound: true,
                established: true,
            })
            .collect(),
    }
}

pub fn conn(addr: &str, state: &str, peer: Option<(&str, &str)>, rx: u64, tx: u64) -> Connection {
    Connection {
        address: addr.into(),
        outbound: true,
        state: state.into(),
        peer: peer.map(|p| p.0.to_string()),
        nickname: peer.map(|p| p.1.to_string()),
        overlay: peer.map(|_| "sleeve".to_string()),
        encrypted: peer.is_some(),
        mtu: peer.map(|_| 1376),
        info: match peer {
            Some((n, k)) => format!("sleeve {n}({k})"),
            None => "dial tcp4 10.99.0.9:6783: connect: connection refused".into(),
        },
        traffic: Traffic {
            tx_packets: tx / 1000,
            tx_bytes: tx,
            rx_packets: rx / 1000,
            rx_bytes: rx,
            drops: 0,
        },
        forwarders: Vec::new(),
        switches: Vec::new(),
        fastdp: None,
        rtt_us: peer.map(|_| 420),
        expected_peer: None,
    }
}

fn service(id: &str, kind: ServiceKind, target: &str, state: ServiceState, reason: Option<&str>) -> Service {
    Service {
        id: id.into(),
        kind,
        protocol: Protocol::Tcp,
        target: target.into(),
        port: 80,
        target_id: None,
        target_address: None,
        publish_address: None,
        publish_port: None,
        weave_address: None,
        weave_port: None,
        fqdn: None,
        state,
        reason: reason.map(String::from),
        created: String::new(),
    }
}

/// An event as the events stream delivers it, from its SSE name and data.
pub fn streamed(name: &str, data: String, clock: &str) -> Event {
    let sse = weave_api::events::SseEvent { name: name.into(), data };
    Event::Stream(Stream::Item(weave_api::StreamItem::from_sse(sse)), clock.into())
}

/// A poll at `secs` after `t0` with traffic growing at a pace that varies over time.
pub fn snapshot(t0: Instant, secs: u64) -> Snapshot {
    let bytes = |base: u64| (0..secs).map(|i| base * (1 + (i * 7 % 5))).sum::<u64>();
    let mut attrs = BTreeMap::new();
    attrs.insert("name".to_string(), serde_json::Value::from("sleeve"));
    attrs.insert("mtu".to_string(), serde_json::Value::from(1376));
    let report = Report {
        ready: true,
        version: "0.1.0".into(),
        router: RouterStatus {
            protocol: "weave".into(),
            protocol_min_version: 1,
            protocol_max_version: 2,
            encryption: true,
            peer_discovery: true,
            name: H1.into(),
            nick_name: "host1".into(),
            port: 6783,
            peers: vec![
                peer(H1, "host1", &[(H2, "host2")]),
                peer(H2, "host2", &[(H1, "host1"), (H3, "host3")]),
                peer(H3, "host3", &[(H2, "host2")]),
                peer(H4, "host4", &[]),
            ],
            unicast_routes: vec![
                UnicastRoute { dest: H1.into(), via: "00:00:00:00:00:00".into() },
                UnicastRoute { dest: H2.into(), via: H2.into() },
                UnicastRoute { dest: H3.into(), via: H2.into() },
            ],
            broadcast_routes: vec![
                BroadcastRoute { source: H1.into(), via: vec![H2.into()] },
                BroadcastRoute { source: H2.into(), via: vec![] },
                BroadcastRoute { source: H3.into(), via: vec![] },
            ],
            connections: vec![LocalConnectionStatus {
                address: "10.99.0.2:6783".into(),
                outbound: true,
                state: "established".into(),
                info: format!("encrypted   sleeve {H2}(host2)"),
                attrs: Some(attrs),
            }],
            targets: vec!["10.99.0.2".into(), "10.99.0.9".into()],
            interface: "weave".into(),
            ..Default::default()
        },
        dns: Some(DnsStatus { domain: "weave.local.".into(), ..Default::default() }),
        services: vec![
            Service {
                publish_port: Some(8080),
                target_address: Some("10.32.0.7".into()),
                weave_address: Some("10.32.0.40/12".into()),
                ..service("svc-0a1b2c3d", ServiceKind::Export, "netns:web1", ServiceState::Active, None)
            },
            Service {
                weave_address: Some("10.32.0.50/12".into()),
                weave_port: Some(5432),
                fqdn: Some("db.weave.local.".into()),
                ..service(
                    "svc-4e5f6a7b",
                    ServiceKind::Bind,
                    "netns:db",
                    ServiceState::Broken,
                    Some("target netns:db is not attached on this host"),
                )
            },
        ],
        ..Default::default()
    };
    let status = Status {
        ready: true,
        version: "0.1.0".into(),
        name: H1.into(),
        nickname: "host1".into(),
        uid: 42,
        bridge: "weave".into(),
        data_dir: "/var/lib/weave".into(),
        router: RouterSummary {
            protocol: "weave".into(),
            protocol_min_version: 1,
            protocol_max_version: 2,
            port: 6783,
            encryption: true,
            peer_discovery: true,
            trusted_subnets: vec![],
            targets: vec!["10.99.0.2".into(), "10.99.0.9".into()],
            peers: 4,
            connections: ConnectionCounts { established: 1, retrying: 1, ..Default::default() },
            sleeve_rejected: 0,
        },
        ipam: None,
        dns: None,
        services: Default::default(),
    };
    let connections = vec![
        conn("10.99.0.2:6783", "established", Some((H2, "host2")), bytes(150_000), bytes(40_000)),
        conn("10.99.0.9:6783", "retrying", None, 0, 0),
    ];
    let ipam = Avail::Ready(IpamData {
        state: "ready".into(),
        range: "10.32.0.0/12".into(),
        default_subnet: "10.32.0.0/12".into(),
        range_size: 1 << 20,
        active: 3,
        owners: vec![
            RingOwner { peer: H1.into(), nickname: "host1".into(), ranges: 2, ips: 524288, known: true },
            RingOwner { peer: H2.into(), nickname: "host2".into(), ranges: 1, ips: 393216, known: true },
            RingOwner { peer: H4.into(), nickname: "host4".into(), ranges: 1, ips: 131072, known: false },
        ],
        allocations: vec![
            AllocationRow {
                ident: "netns:web1".into(),
                addrs: vec!["10.32.0.1/12".into()],
                is_container: true,
            },
            AllocationRow {
                ident: "netns:db".into(),
                addrs: vec!["10.32.0.2/12".into(), "10.40.0.1/24".into()],
                is_container: true,
            },
            AllocationRow {
                ident: "weave:expose".into(),
                addrs: vec!["10.32.0.3/12".into()],
                is_container: false,
            },
        ],
        problems: vec![format!("131072 IPs owned by unreachable {H4}(host4): weave rmpeer {H4}")],
    });
    let dns = Avail::Ready(vec![
        DnsEntry {
            name: "db.weave.local.".into(),
            address: "10.32.0.2".into(),
            origin: H1.into(),
            container_id: "netns:db".into(),
        },
        DnsEntry {
            name: "web1.weave.local.".into(),
            address: "10.32.0.1".into(),
            origin: H1.into(),
            container_id: "netns:web1".into(),
        },
        DnsEntry {
            name: "web2.weave.local.".into(),
            address: "10.32.128.1".into(),
            origin: H2.into(),
            container_id: "4f2a9c81be07".into(),
        },
    ]);
    // host2's connection tried fastdp first and fell back; its VXLAN device stays, off the bridge.
    let mut connections = connections;
    let c = &mut connections[0];
    c.forwarders = vec![
        Forwarder {
            name: "fastdp".into(),
            state: "failed".into(),
            reason: Some("no fastdp heartbeat for 15 s".into()),
        },
        Forwarder { name: "sleeve".into(), state: "established".into(), reason: None },
    ];
    c.switches = vec![
        OverlaySwitch {
            at: "2026-11-28T11:58:01Z".into(),
            from: None,
            to: Some("fastdp".into()),
            reason: "connection started".into(),
        },
        OverlaySwitch {
            at: "2026-11-28T11:59:47Z".into(),
            from: Some("fastdp".into()),
            to: Some("sleeve".into()),
            reason: "fastdp unhealthy: no heartbeat for 15 s".into(),
        },
    ];
    c.fastdp = Some(FastdpDevice {
        device: "vethwe-vx02".into(),
        on_bridge: false,
        tx_packets: 12,
        tx_bytes: 1_700,
        rx_packets: 10,
        rx_bytes: 1_400,
    });
    let hop = |dest: &str, path: &[&str]| UnicastHop {
        dest: dest.into(),
        via: path.first().copied().unwrap_or("00:00:00:00:00:00").into(),
        path: path.iter().map(|p| p.to_string()).collect(),
    };
    let routes =
        Some(Routes { unicast: vec![hop(H1, &[]), hop(H2, &[H2]), hop(H3, &[H2, H3])], broadcast: vec![] });
    let policy = Avail::Ready(policy());
    Snapshot { at: t0 + Duration::from_secs(secs), status, report, connections, routes, ipam, dns, policy }
}

/// Two policies (one isolating both ways) and three drops, as the daemon lists them (oldest
/// first).
fn policy() -> PolicyData {
    let info = |name: &str, selector: &str, ingress, egress, selected| PolicyInfo {
        name: name.into(),
        selector: selector.into(),
        ingress_rules: ingress,
        egress_rules: egress,
        selected,
        source: serde_json::Value::Null,
    };
    let drop = |time, src: &str, dst: &str, protocol: &str, port, direction: &str, by: &[&str]| PolicyDrop {
        time,
        src: src.into(),
        dst: dst.into(),
        protocol: protocol.into(),
        port,
        direction: direction.into(),
        isolating: by.iter().map(|s| s.to_string()).collect(),
    };
    PolicyData::new(
        vec![
            info("default/db-from-api", "app=db", Some(1), None, 1),
            info("default/lockdown", "", Some(0), Some(1), 3),
        ],
        vec![
            drop(
                1_764_331_081,
                "10.32.0.5",
                "10.32.0.9",
                "tcp",
                Some(5432),
                "ingress",
                &["default/db-from-api"],
            ),
            drop(1_764_331_090, "10.32.0.9", "10.40.0.1", "udp", Some(53), "egress", &["default/lockdown"]),
            drop(
                1_764_331_095,
                "10.44.0.2",
                "10.32.0.9",
                "icmp",
                None,
                "ingress",
                &["default/db-from-api", "default/lockdown"],
            ),
        ],
    )
}

/// An app that has seen `polls` polls and a few streamed events.
pub fn app(polls: u64) -> App {
    let t0 = Instant::now();
    let mut app = App::new("127.0.0.1:6784", "/root/.cache/weave/top.log");
    app.update(Event::Stream(Stream::Connected, "12:00:00".into()));
    for i in 0..polls {
        app.update(Event::Snapshot(Box::new(snapshot(t0, i)), format!("12:00:{i:02}")));
    }
    let events = [
        ("peer_added", format!(r#"{{"type":"peer_added","name":"{H3}","nickname":"host3"}}"#)),
        ("connection_established", format!(r#"{{"type":"connection_established","peer":"{H2}","address":"10.99.0.2:6783"}}"#)),
        ("routes_changed", r#"{"type":"routes_changed"}"#.to_string()),
        (
            "connection_closed",
            r#"{"type":"connection_closed","peer":null,"address":"10.99.0.9:6783","reason":"connection refused"}"#.to_string(),
        ),
        ("allocation_added", r#"{"type":"allocation_added","ident":"netns:web1","cidr":"10.32.0.1/12"}"#.to_string()),
        (
            "dns_entry_added",
            format!(r#"{{"type":"dns_entry_added","hostname":"web1.weave.local.","address":"10.32.0.1","container_id":"netns:web1","origin":"{H1}"}}"#),
        ),
        (
            "overlay_switched",
            format!(r#"{{"type":"overlay_switched","peer":"{H2}","at":"2026-11-28T11:59:47Z","from":"fastdp","to":"sleeve","reason":"fastdp unhealthy: no heartbeat for 15 s"}}"#),
        ),
    ];
    for (i, (name, data)) in events.into_iter().enumerate() {
        app.update(streamed(name, data, &format!("12:00:3{i}")));
    }
    app
}

/// Peer `i` (1-based) of [`cluster`]: `02:00:00:00:01:NN`, nicknamed `hostNN`.
pub fn cluster_peer(i: usize) -> (String, String) {
    (format!("02:00:00:00:01:{i:02x}"), format!("host{i:02}"))
}

/// A poll from host01 in a cluster of `n` peers, at `secs` after `t0`. Up to 12 peers: a full
/// mesh, except that our dial to host07 fails (it is reached through others), we have no link
/// to host10, and host04's link to host05 is announced by host04 only. Larger: a ring with
/// chords 7 apart (most peers several hops away), our dial to the middle peer failing, one
/// link connecting, and host(n-1) and host(n) an island no one else reaches. Our links run
/// fastdp, except host03 on sleeve (fell back) and host06 on encrypted sleeve.
pub fn cluster(t0: Instant, n: usize, secs: u64) -> Snapshot {
    use std::collections::BTreeSet;
    let mut links: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut link = |a: usize, b: usize| {
        if a != b {
            links.insert((a.min(b), a.max(b)));
        }
    };
    let (failing, connecting, one_sided) = if n <= 12 {
        for a in 1..=n {
            for b in a + 1..=n {
                if (a, b) != (1, 7) && (a, b) != (1, 10) {
                    link(a, b);
                }
            }
        }
        (Some(7), None, Some((4, 5)))
    } else {
        for a in 1..=n - 2 {
            link(a, a % (n - 2) + 1);
            if a + 7 <= n - 2 {
                link(a, a + 7);
            }
        }
        link(n - 1, n);
        (Some(n / 2), Some(n - 2), None)
    };
    let neighbours = |i: usize| -> Vec<usize> {
        links.iter().filter_map(|&(a, b)| (a == i).then_some(b).or((b == i).then_some(a))).collect()
    };
    // Breadth-first from us, lowest name first: the paths the API would give.
    let mut paths: BTreeMap<usize, Vec<usize>> = BTreeMap::from([(1, vec![])]);
    let mut frontier = vec![1];
    while !frontier.is_empty() {
        let mut next = vec![];
        for cur in frontier {
            for nb in neighbours(cur) {
                if !paths.contains_key(&nb) {
                    let mut p = paths[&cur].clone();
                    p.push(nb);
                    paths.insert(nb, p);
                    next.push(nb);
                }
            }
        }
        next.sort_unstable();
        frontier = next;
    }
    let peers: Vec<PeerStatus> = (1..=n)
        .map(|i| {
            let (name, nick) = cluster_peer(i);
            let mut conns: Vec<(String, String)> = neighbours(i).into_iter().map(cluster_peer).collect();
            if let Some((a, b)) = one_sided.filter(|(a, _)| *a == i) {
                let _ = a;
                conns.push(cluster_peer(b));
            }
            let conns: Vec<(&str, &str)> = conns.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            peer(&name, &nick, &conns)
        })
        .collect();
    let (us, us_nick) = cluster_peer(1);
    let mut connections: Vec<Connection> = neighbours(1)
        .into_iter()
        .filter(|&i| Some(i) != connecting)
        .map(|i| {
            let (name, nick) = cluster_peer(i);
            let base = 20_000 * i as u64;
            let grown = |b: u64| (0..secs).map(|s| b * (1 + (s * 3 + i as u64) % 4)).sum::<u64>();
            let mut c = conn(
                &format!("10.99.1.{i}:6783"),
                "established",
                Some((&name, &nick)),
                grown(base),
                grown(base / 3),
            );
            c.overlay = Some(if i == 3 || i == 6 { "sleeve" } else { "fastdp" }.into());
            c.encrypted = i == 6;
            c.traffic.drops = if i == 3 { secs * 2 } else { 0 };
            if i == 3 {
                c.forwarders = vec![Forwarder {
                    name: "fastdp".into(),
                    state: "failed".into(),
                    reason: Some("no fastdp heartbeat for 15 s".into()),
                }];
            }
            c
        })
        .collect();
    if let Some(i) = failing {
        let mut c = conn(&format!("10.99.1.{i}:6783"), "retrying", None, 0, 0);
        c.info = "read timeout: no message for 60s".into();
        c.expected_peer = Some(cluster_peer(i).0);
        connections.push(c);
    }
    if let Some(i) = connecting {
        let (name, nick) = cluster_peer(i);
        let mut c = conn(&format!("10.99.1.{i}:6783"), "pending", Some((&name, &nick)), 0, 0);
        c.overlay = None;
        connections.push(c);
    }
    let name_of = |i: usize| cluster_peer(i).0;
    let unicast = paths
        .iter()
        .map(|(&dest, p)| UnicastHop {
            dest: name_of(dest),
            via: p.first().map(|&v| name_of(v)).unwrap_or_else(|| "00:00:00:00:00:00".into()),
            path: p.iter().map(|&v| name_of(v)).collect(),
        })
        .collect::<Vec<_>>();
    let mut s = snapshot(t0, secs);
    s.report.router.name = us.clone();
    s.report.router.nick_name = us_nick.clone();
    s.report.router.peers = peers;
    s.report.router.unicast_routes =
        unicast.iter().map(|u| UnicastRoute { dest: u.dest.clone(), via: u.via.clone() }).collect();
    s.report.router.broadcast_routes = vec![];
    s.report.router.connections = vec![];
    s.status.name = us;
    s.status.nickname = us_nick;
    s.status.router.peers = n as u32;
    s.connections = connections;
    s.routes = Some(Routes { unicast, broadcast: vec![] });
    s
}

/// An app that has seen `polls` polls of [`cluster`] with `n` peers.
pub fn cluster_app(n: usize, polls: u64) -> App {
    let t0 = Instant::now();
    let mut app = App::new("127.0.0.1:6784", "/root/.cache/weave/top.log");
    app.update(Event::Stream(Stream::Connected, "12:00:00".into()));
    for i in 0..polls {
        app.update(Event::Snapshot(Box::new(cluster(t0, n, i)), format!("12:00:{i:02}")));
    }
    app
}
