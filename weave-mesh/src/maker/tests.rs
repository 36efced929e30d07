use super::*;
use crate::peers::{ConnSummary, Peer, Peers};
use rand::SeedableRng;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn us() -> Peers {
    Peers::new(Peer::new(PeerName(1), "us".into(), 1, 1, Some(1)))
}

#[test]
fn direct_peers_are_dialled_now_and_retried_with_growing_backoff() {
    let t0 = Instant::now();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut m = ConnectionMaker::new(6783, true);
    m.initiate(t0, vec![("10.0.0.2".into(), addr("10.0.0.2:0"))], false);
    let (attempts, _) = m.run(t0, &[], &us());
    assert_eq!(attempts, [Attempt { address: "10.0.0.2:6783".into(), accept_new_peer: true }]);
    // Attempting: not dialled twice.
    assert!(m.run(t0, &[], &us()).0.is_empty());
    let mut last_gap = Duration::ZERO;
    let mut now = t0;
    for round in 0..8 {
        m.dial_failed(now, "10.0.0.2:6783", "connection refused".into(), &mut rng);
        let (attempts, next) = m.run(now, &[], &us());
        assert!(attempts.is_empty());
        let next = next.expect("a retry is scheduled");
        let gap = next - now;
        // interval/2 .. 1.5*interval, interval = 2s * 1.5^round, capped at 6 min.
        let interval = Duration::from_secs_f64((2.0 * 1.5f64.powi(round)).min(360.0));
        assert!(gap >= interval / 2 && gap <= interval * 3 / 2, "round {round}: {gap:?}");
        if round < 6 {
            assert!(gap > last_gap / 3, "backoff grows");
        }
        last_gap = gap;
        now = next;
        assert_eq!(m.run(now, &[], &us()).0.len(), 1);
    }
}

#[test]
fn connections_to_ourselves_are_never_retried_and_not_counted() {
    let t0 = Instant::now();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut m = ConnectionMaker::new(6783, true);
    m.initiate(t0, vec![("10.0.0.1".into(), addr("10.0.0.1:0"))], false);
    m.run(t0, &[], &us());
    m.connection_created("10.0.0.1:6783", true, PeerName(1));
    m.connection_terminated(
        t0,
        "10.0.0.1:6783",
        true,
        Ending::ConnectToSelf,
        "cannot connect to ourself".into(),
        &mut rng,
    );
    assert_eq!(m.termination_count, 0);
    let (attempts, next) = m.run(t0 + Duration::from_secs(3600), &[], &us());
    assert!(attempts.is_empty() && next.is_none());
    assert!(m.direct_peers(true).is_empty(), "never-retried targets are not active");
    assert_eq!(m.direct_peers(false), ["10.0.0.1"]);
}

#[test]
fn discovery_targets_come_from_other_peers_connections() {
    let t0 = Instant::now();
    let mut ps = us();
    let mut p2 = Peer::new(PeerName(2), "b".into(), 2, 1, Some(2));
    // 2 dialled 3 (outbound: use the address as is) and 4 dialled 2 (inbound: 4's IP, our port).
    p2.conns.insert(
        PeerName(3),
        ConnSummary { remote_tcp_addr: "10.0.0.3:7000".into(), outbound: true, established: true },
    );
    p2.conns.insert(
        PeerName(4),
        ConnSummary { remote_tcp_addr: "10.0.0.4:41234".into(), outbound: false, established: true },
    );
    p2.conns.insert(
        PeerName(1),
        ConnSummary { remote_tcp_addr: "10.0.0.1:6783".into(), outbound: false, established: true },
    );
    let upd = weave_wire::topology::encode_topology(&[p2.summary()]);
    ps.apply_update(&upd).unwrap();
    let ours = [OurConn { peer: PeerName(2), addr: "10.0.0.2:6783", outbound: true }];
    let mut m = ConnectionMaker::new(6783, true);
    let mut got: Vec<Attempt> = m.run(t0, &ours, &ps).0;
    got.sort_by(|a, b| a.address.cmp(&b.address));
    assert_eq!(
        got,
        [
            Attempt { address: "10.0.0.3:7000".into(), accept_new_peer: false },
            Attempt { address: "10.0.0.4:6783".into(), accept_new_peer: false },
        ]
    );
    // Each discovered target knows the peer announced there.
    let peer_at = |a: &str| m.targets()[a].peer;
    assert_eq!((peer_at("10.0.0.3:7000"), peer_at("10.0.0.4:6783")), (Some(PeerName(3)), Some(PeerName(4))));
    // Without discovery nothing is dialled.
    let mut m = ConnectionMaker::new(6783, false);
    assert!(m.run(t0, &ours, &ps).0.is_empty());
}

#[test]
fn forgetting_suspends_nothing_else_and_replace_swaps_the_list() {
    let t0 = Instant::now();
    let mut m = ConnectionMaker::new(6783, false);
    m.initiate(t0, vec![("a".into(), addr("10.0.0.2:0")), ("b".into(), addr("10.0.0.3:0"))], false);
    m.forget(&["a".into()]);
    assert_eq!(m.direct_peers(false), ["b"]);
    m.initiate(t0, vec![("c".into(), addr("10.0.0.4:0"))], true);
    assert_eq!(m.direct_peers(false), ["c"]);
}

#[test]
fn a_peer_without_port_is_not_dialled_while_it_is_connected_inbound() {
    let t0 = Instant::now();
    let mut m = ConnectionMaker::new(6783, false);
    m.initiate(t0, vec![("10.0.0.2".into(), addr("10.0.0.2:0"))], false);
    let ours = [OurConn { peer: PeerName(2), addr: "10.0.0.2:51234", outbound: false }];
    assert!(m.run(t0, &ours, &us()).0.is_empty());
}

#[test]
fn a_failing_target_remembers_the_peer_its_last_connection_reached() {
    let t0 = Instant::now();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut m = ConnectionMaker::new(6783, false);
    m.initiate(t0, vec![("10.0.0.2".into(), addr("10.0.0.2:0"))], false);
    m.run(t0, &[], &us());
    assert_eq!(m.targets()["10.0.0.2:6783"].peer, None, "not known before it connects");
    m.connection_created("10.0.0.2:6783", true, PeerName(2));
    m.connection_terminated(t0, "10.0.0.2:6783", true, Ending::Error, "read timeout".into(), &mut rng);
    let t = &m.targets()["10.0.0.2:6783"];
    assert_eq!((t.state, t.peer), (TargetState::Waiting, Some(PeerName(2))));
}

#[test]
fn of_a_newly_discovered_pair_the_peer_with_the_smaller_name_dials_first() {
    let t0 = Instant::now();
    let mut ps = Peers::new(Peer::new(PeerName(5), "us".into(), 5, 1, Some(5)));
    let mut p2 = Peer::new(PeerName(2), "b".into(), 2, 1, Some(2));
    for (peer, addr) in [(3, "10.0.0.3:6783"), (6, "10.0.0.6:6783")] {
        p2.conns.insert(
            PeerName(peer),
            ConnSummary { remote_tcp_addr: addr.into(), outbound: true, established: true },
        );
    }
    p2.conns.insert(
        PeerName(5),
        ConnSummary { remote_tcp_addr: "10.0.0.5:6783".into(), outbound: false, established: true },
    );
    ps.apply_update(&weave_wire::topology::encode_topology(&[p2.summary()])).unwrap();
    let ours = [OurConn { peer: PeerName(2), addr: "10.0.0.2:6783", outbound: true }];
    let mut m = ConnectionMaker::new(6783, true);
    let (now, next) = m.run(t0, &ours, &ps);
    // 6 waits for us; 3 is to dial us, so we wait for it.
    assert_eq!(now, [Attempt { address: "10.0.0.6:6783".into(), accept_new_peer: false }]);
    assert_eq!(next, Some(t0 + DISCOVERED_DEFER));
    // 3 did not dial us meanwhile (it may not reach us): we dial it.
    let (later, _) = m.run(t0 + DISCOVERED_DEFER, &ours, &ps);
    assert_eq!(later, [Attempt { address: "10.0.0.3:6783".into(), accept_new_peer: false }]);

    // A peer we were given is dialled at once, whatever its name.
    let mut m = ConnectionMaker::new(6783, true);
    m.initiate(t0, vec![("10.0.0.3".into(), addr("10.0.0.3:0"))], false);
    let (now, _) = m.run(t0, &ours, &ps);
    assert!(now.iter().any(|a| a.address == "10.0.0.3:6783"), "{now:?}");
}
