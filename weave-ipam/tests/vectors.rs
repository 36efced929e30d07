//! Decodes every `IPallocation` message captured from real weavers
//! (testdata/weave-2.8) with this crate's message types, checks the decoded values against
//! each record's comment line (the full decoded meaning, field by field), round-trips them, and
//! spells out the facts the README states.

mod common;

use common::*;
use weave_ipam::messages::{GossipState, Unicast};
use weave_ipam::paxos::{NodeId, ProposalId};
use weave_ipam::ring::Entry;
use weave_ipam::{Address, PeerName, Range};

const FILES: [&str; 4] = [
    "tcp-plain/a_to_b.hex",
    "tcp-plain/b_to_a.hex",
    "tcp-encrypted/weaver_to_peer.hex",
    "tcp-encrypted/peer_to_weaver.hex",
];

fn ip(s: &str) -> Address {
    s.parse().unwrap()
}

/// The resolved gob type of a stream's first value (type ids aside).
fn gob_type(stream: &[u8]) -> weave_wire::gob::Type {
    weave_wire::gob::decode_all(stream).unwrap().remove(0).0
}

fn state_of(r: &IpamRecord) -> GossipState {
    match r.tag {
        5 => match Unicast::decode(&r.payload).unwrap() {
            Unicast::RingUpdate(s) => s,
            other => panic!("{}: {other:?}", r.label),
        },
        _ => GossipState::decode(&r.payload).unwrap(),
    }
}

#[test]
fn every_ipam_message_decodes_as_its_comment_says() {
    let mut counts = [0usize; 3];
    for file in FILES {
        for r in ipam_records(file) {
            let what = format!("{file} {}", r.label);
            match r.tag {
                4 | 6 => {
                    let state = GossipState::decode(&r.payload).unwrap_or_else(|e| panic!("{what}: {e}"));
                    let text = r.meaning.strip_prefix("IPAM gossipState ").expect("gossipState comment");
                    assert_eq!(note_of_state(&state), parse_note(text), "{what}");
                    // The comparison has teeth: any changed value shows.
                    let mut off = state.clone();
                    off.now += 1;
                    assert_ne!(note_of_state(&off), parse_note(text));
                    if let Some(e) = off.ring.as_mut().and_then(|r| r.entries.last_mut()) {
                        off.now -= 1;
                        e.free ^= 1;
                        assert_ne!(note_of_state(&off), parse_note(text));
                    }
                    assert_eq!(GossipState::decode(&state.encode()).unwrap(), state, "{what}: round trip");
                    // Our stream defines the same types (names, fields, shapes) as weaver's.
                    assert_eq!(gob_type(&state.encode()), gob_type(&r.payload), "{what}: gob types");
                    counts[if r.tag == 4 { 0 } else { 2 }] += 1;
                }
                5 => {
                    let msg = Unicast::decode(&r.payload).unwrap_or_else(|e| panic!("{what}: {e}"));
                    match &msg {
                        Unicast::RingUpdate(state) => {
                            let text = r.meaning.strip_prefix("IPAM unicast kind=1(RingUpdate) ").unwrap();
                            assert_eq!(note_of_state(state), parse_note(text), "{what}");
                        }
                        Unicast::SpaceRequest(range) | Unicast::SpaceRequestDenied(range) => {
                            let kind = if matches!(msg, Unicast::SpaceRequest(_)) {
                                "kind=0(SpaceRequest)"
                            } else {
                                "kind=2(SpaceRequestDenied)"
                            };
                            let want =
                                format!("IPAM unicast {kind} {{Start:{} End:{}}}", range.start, range.end);
                            assert_eq!(r.meaning, want, "{what}");
                        }
                    }
                    assert_eq!(Unicast::decode(&msg.encode()).unwrap(), msg, "{what}: round trip");
                    assert_eq!(gob_type(&msg.encode()[1..]), gob_type(&r.payload[1..]), "{what}: gob types");
                    counts[1] += 1;
                }
                t => panic!("{what}: tag {t}"),
            }
        }
    }
    // gossip, unicast, broadcast: 2+2+4 gossip (initial and periodic), 4 unicasts, 5+2+2 broadcasts.
    assert_eq!(counts, [8, 4, 9]);
}

#[test]
fn first_ring_after_consensus() {
    let recs = ipam_records("tcp-plain/a_to_b.hex");
    let s = state_of(record(&recs, "[msg 10]"));
    assert_eq!(s.now, 1795804712);
    assert!(s.paxos.is_none(), "Paxos is not sent once the ring exists");
    assert_eq!(s.nicknames.unwrap(), [(HOST_A, "hostA".to_string()), (HOST_B, "hostB".to_string())].into());
    let ring = s.ring.unwrap();
    assert_eq!((ring.start, ring.end, ring.peer), (ip("10.32.0.0"), ip("10.48.0.0"), HOST_A));
    assert_eq!(
        ring.entries,
        [
            Entry { token: ip("10.32.0.0"), peer: HOST_A, version: 1, free: 524287 },
            Entry { token: ip("10.40.0.0"), peer: HOST_B, version: 0, free: 524288 },
        ]
    );
    assert_eq!(ring.seeds, [HOST_A, HOST_B]);
    ring.check_invariants().unwrap();
    // A got the lower half of the /12, B the upper.
    assert_eq!(ring.owned_ranges(), [Range { start: ip("10.32.0.0"), end: ip("10.40.0.0") }]);
    assert_eq!(ring.owned_ranges_of_peer(HOST_B), [Range { start: ip("10.40.0.0"), end: ip("10.48.0.0") }]);
}

#[test]
fn paxos_promise_then_accept() {
    let a = NodeId { name: HOST_A, uid: UID_A };
    let b = NodeId { name: HOST_B, uid: UID_B };
    let r1 = ProposalId { round: 1, proposer: a };
    let recs = ipam_records("tcp-plain/a_to_b.hex");

    let p = state_of(record(&recs, "[msg 2]")).paxos.unwrap();
    assert!(p.is_empty(), "the initial gossip has an empty, non-nil Paxos map");

    let p = state_of(record(&recs, "[msg 8]")).paxos.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[&a].promise, r1);
    assert!(!p[&a].accepted.valid());

    let p = state_of(record(&recs, "[msg 9]")).paxos.unwrap();
    assert_eq!((p[&a].promise, p[&a].accepted), (r1, r1));
    assert_eq!(p[&a].accepted_val.value, [HOST_A, HOST_B]);
    assert_eq!(p[&a].accepted_val.origin, r1);
    assert_eq!(p[&b].promise, r1);
    assert!(!p[&b].accepted.valid());

    let back = ipam_records("tcp-plain/b_to_a.hex");
    let p = state_of(record(&back, "[msg 9]")).paxos.unwrap();
    assert!(p.values().all(|c| c.accepted == r1 && c.accepted_val.value == [HOST_A, HOST_B]));
}

#[test]
fn claim_in_other_peers_range_and_donation() {
    let a2b = ipam_records("tcp-plain/a_to_b.hex");
    let b2a = ipam_records("tcp-plain/b_to_a.hex");
    let e = |t: &str, p: PeerName, v: u32, f: u32| Entry { token: ip(t), peer: p, version: v, free: f };

    // t=8.46: A asks B for the single address 10.40.0.5 ...
    let req = record(&a2b, "[msg 12]");
    assert_eq!((req.tag, req.src, req.dst), (5, HOST_A, Some(HOST_B)));
    assert_eq!(
        Unicast::decode(&req.payload).unwrap(),
        Unicast::SpaceRequest(Range { start: ip("10.40.0.5"), end: ip("10.40.0.6") })
    );
    // ... and B gives it, answering with its ring.
    let ring = state_of(record(&b2a, "[msg 10]")).ring.unwrap();
    assert_eq!(ring.peer, HOST_B);
    assert_eq!(
        ring.entries,
        [
            e("10.32.0.0", HOST_A, 1, 524287),
            e("10.40.0.0", HOST_B, 1, 5),
            e("10.40.0.5", HOST_A, 0, 1),
            e("10.40.0.6", HOST_B, 0, 524282)
        ]
    );

    // t=11.60: B asks A for space in 10.32.0.0/13; A donates 10.38.0.0/15.
    assert_eq!(
        Unicast::decode(&record(&b2a, "[msg 12]").payload).unwrap(),
        Unicast::SpaceRequest(Range { start: ip("10.32.0.0"), end: ip("10.40.0.0") })
    );
    let unicast = state_of(record(&a2b, "[msg 13]")).ring.unwrap();
    let broadcast = state_of(record(&a2b, "[msg 14]")).ring.unwrap();
    // The unicast was encoded before A reported its free space, the broadcast after.
    assert_eq!(unicast.entries[0], e("10.32.0.0", HOST_A, 2, 393216));
    assert_eq!(broadcast.entries[0], e("10.32.0.0", HOST_A, 3, 393215));
    assert_eq!(unicast.entries[1..], broadcast.entries[1..]);
    assert_eq!(broadcast.entries[1], e("10.38.0.0", HOST_B, 0, 131072));
    assert_eq!(broadcast.entries[3], e("10.40.0.5", HOST_A, 1, 0));

    // The last periodic gossip: both agree.
    let last_a = state_of(record(&a2b, "[msg 21]")).ring.unwrap();
    let last_b = state_of(record(&b2a, "[msg 19]")).ring.unwrap();
    assert_eq!(last_a.entries, last_b.entries);
    assert_eq!(last_a.entries[1], e("10.38.0.0", HOST_B, 1, 131071));
    assert_eq!(last_a.entries[2], e("10.40.0.0", HOST_B, 2, 4));
}

#[test]
fn single_peer_ring_with_consensus_1() {
    let recs = ipam_records("tcp-encrypted/weaver_to_peer.hex");
    let s = state_of(record(&recs, "seq=8"));
    assert_eq!(s.nicknames.unwrap(), [(HOST_A, "hostA".to_string())].into());
    let ring = s.ring.unwrap();
    assert_eq!(ring.entries, [Entry { token: ip("10.32.0.0"), peer: HOST_A, version: 1, free: 1048575 }]);
    assert_eq!(ring.seeds, [HOST_A]);
}
