use super::*;
use weave_wire::topology::encode_topology;

fn name(n: u64) -> PeerName {
    PeerName(n)
}

fn peer(n: u64, version: u64, uid: u64, short: Option<u16>) -> Peer {
    Peer::new(name(n), format!("p{n}"), uid, version, short)
}

fn link(p: &mut Peer, to: u64, outbound: bool, established: bool) {
    p.conns.insert(
        name(to),
        ConnSummary { remote_tcp_addr: format!("10.0.0.{to}:6783").into(), outbound, established },
    );
}

fn update(peers: &[Peer]) -> Vec<u8> {
    encode_topology(&peers.iter().map(Peer::summary).collect::<Vec<_>>())
}

#[test]
fn new_peers_and_placeholders_are_added_and_reported() {
    let mut us = peer(1, 1, 11, Some(1));
    link(&mut us, 2, true, true);
    let mut ps = Peers::new(us);
    let mut p2 = peer(2, 3, 22, Some(2));
    link(&mut p2, 1, false, true);
    link(&mut p2, 3, true, true);
    let a = ps.apply_update(&update(&[p2])).unwrap();
    assert_eq!(a.received, [name(2)].into());
    assert_eq!(a.new, [name(2)].into());
    // Peer 3 is only referenced: a placeholder with version 0.
    assert_eq!(ps.get(&name(3)).unwrap().version, 0);
    assert_eq!(ps.get(&name(2)).unwrap().conns.len(), 2);
}

#[test]
fn merge_keeps_newer_versions_and_breaks_ties_on_uid_then_short_id() {
    let mut ps = Peers::new(peer(1, 1, 11, Some(1)));
    ps.apply_update(&update(&[peer(2, 5, 50, Some(2))])).unwrap();
    // Older version: ignored.
    let a = ps.apply_update(&update(&[peer(2, 4, 99, Some(2))])).unwrap();
    assert!(a.new.is_empty());
    assert_eq!(ps.get(&name(2)).unwrap().uid, 50);
    // Same version, higher uid: accepted.
    let a = ps.apply_update(&update(&[peer(2, 5, 60, Some(2))])).unwrap();
    assert_eq!(a.new, [name(2)].into());
    assert_eq!(ps.get(&name(2)).unwrap().uid, 60);
    // Same version and uid: only gaining a short id counts.
    let a = ps.apply_update(&update(&[peer(2, 5, 60, Some(9))])).unwrap();
    assert!(a.new.is_empty());
    // Newer version: accepted, with the short id moving.
    ps.apply_update(&update(&[peer(2, 6, 60, Some(9))])).unwrap();
    assert_eq!(ps.by_short_id(9), Some(name(2)));
    assert_eq!(ps.by_short_id(2), None);
}

#[test]
fn news_of_an_old_incarnation_of_ourselves_bumps_our_version() {
    let mut ps = Peers::new(peer(1, 3, 11, Some(1)));
    let a = ps.apply_update(&update(&[peer(1, 7, 999, Some(1))])).unwrap();
    assert!(a.changes.local_modified);
    assert_eq!(ps.ourself().version, 8);
    assert_eq!(ps.ourself().uid, 11, "our identity is ours");
}

#[test]
fn unreachable_unpinned_peers_are_collected() {
    let mut us = peer(1, 1, 11, Some(1));
    link(&mut us, 2, true, true);
    let mut ps = Peers::new(us);
    let mut p2 = peer(2, 1, 22, Some(2));
    link(&mut p2, 3, true, true);
    let p4 = peer(4, 1, 44, Some(4)); // nobody connects to 4
    ps.apply_update(&update(&[p2, peer(3, 1, 33, Some(3)), p4])).unwrap();
    let mut ch = Changes::default();
    ps.garbage_collect(&mut ch);
    let removed: Vec<PeerName> = ch.removed.iter().map(|p| p.name).collect();
    assert_eq!(removed, [name(4)]);
    // Pinned by a local connection: kept even when unreachable.
    let mut ch = Changes::default();
    ps.fetch_with_default(peer(5, 0, 55, Some(5)), &mut ch);
    ps.garbage_collect(&mut ch);
    assert!(ps.get(&name(5)).is_some());
    ps.dereference(&name(5));
    ps.garbage_collect(&mut ch);
    assert!(ps.get(&name(5)).is_none());
}

#[test]
fn a_lower_name_wins_a_short_id_collision_and_we_move() {
    let mut ps = Peers::new(peer(5, 1, 55, Some(7)));
    let a = ps.apply_update(&update(&[peer(2, 1, 22, Some(7))])).unwrap();
    assert!(a.changes.short_ids_invalidated);
    assert!(a.changes.local_modified);
    assert_eq!(ps.by_short_id(7), Some(name(2)));
    let us = ps.ourself();
    assert_ne!(us.short_id, 7);
    assert_eq!(ps.by_short_id(us.short_id), Some(name(5)));
    assert_eq!(us.version, 2);
    // A higher name colliding with us leaves us alone.
    let before = ps.ourself().short_id;
    ps.apply_update(&update(&[peer(9, 1, 99, Some(before))])).unwrap();
    assert_eq!(ps.ourself().short_id, before);
}

#[test]
fn bad_updates_change_nothing() {
    let mut ps = Peers::new(peer(1, 1, 11, Some(1)));
    assert!(ps.apply_update(b"\x05garbage").is_err());
    let mut full = update(&[peer(2, 1, 22, Some(2))]);
    full.truncate(full.len() - 3);
    assert!(ps.apply_update(&full).is_err());
    assert_eq!(ps.len(), 1);
}
