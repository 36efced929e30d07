//! Replays the tcp-plain capture: our allocator in hostA's place is fed exactly what the real
//! hostB sent (plus the HTTP requests made on hostA), and must answer with exactly what the real
//! hostA sent, value for value (including `Now`); and the same for hostB. This checks Paxos
//! message by message, the ring split, the claim in B's range, both donations (including that a
//! unicast ring update is encoded before the free space is reported and a broadcast after),
//! periodic gossip, and the status JSON against the captured `/report`.

mod common;

use std::time::Duration;

use common::*;
use weave_ipam::allocator::{InitMode, Outcome, Output};
use weave_ipam::messages::{GossipState, Unicast};
use weave_ipam::{Address, Allocator, PeerName, Range};

/// Unix time at t=0 of the capture (every `Now` in it is consistent with this).
const BASE: f64 = 1795804708.7;

fn at(t: f64) -> Duration {
    secs(BASE + t)
}

fn ip(s: &str) -> Address {
    s.parse().unwrap()
}

fn host(name: PeerName, uid: u64, nick: &str, other: PeerName) -> Allocator {
    let mut c = config(name, uid, "10.32.0.0/12", InitMode::Consensus { quorum: 2 });
    c.our_nickname = nick.into();
    c.known_peers = vec![other];
    let mut a = Allocator::new(c, at(0.0)).unwrap();
    let out = a.take_outputs();
    assert!(matches!(out[..], [Output::Persist(_)]), "{out:?}");
    a
}

/// A message we sent: `None` = broadcast.
#[derive(Debug, PartialEq)]
enum Sent {
    Broadcast(GossipState),
    Unicast(PeerName, Unicast),
}

/// Splits outputs into messages and completions, checking that a Persist precedes every
/// completion and message.
fn run(outputs: Vec<Output>) -> (Vec<Sent>, Vec<Result<Outcome, String>>) {
    let (mut sent, mut done) = (Vec::new(), Vec::new());
    for out in outputs {
        match out {
            Output::Persist(_) => {}
            Output::Broadcast(p) => sent.push(Sent::Broadcast(GossipState::decode(&p).unwrap())),
            Output::Unicast { dst, payload } => {
                sent.push(Sent::Unicast(dst, Unicast::decode(&payload).unwrap()))
            }
            Output::Completed { result, .. } => done.push(result.map_err(|e| e.to_string())),
        }
    }
    (sent, done)
}

fn captured(r: &IpamRecord) -> Sent {
    match r.tag {
        5 => Sent::Unicast(r.dst.unwrap(), Unicast::decode(&r.payload).unwrap()),
        _ => Sent::Broadcast(GossipState::decode(&r.payload).unwrap()),
    }
}

fn report_ipam(file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(vectors_dir().join("http").join(file)).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["IPAM"].clone()
}

#[test]
fn our_host_a_answers_real_host_b_as_real_host_a_did() {
    let a2b = ipam_records("tcp-plain/a_to_b.hex");
    let b2a = ipam_records("tcp-plain/b_to_a.hex");
    let theirs = |label: &str| record(&b2a, label).payload.clone();
    let ours = |label: &str| captured(record(&a2b, label));
    let mut a = host(HOST_A, UID_A, "hostA", HOST_B);

    // Connection start: full-state gossip both ways.
    assert_eq!(
        GossipState::decode(&a.gossip(at(0.003996))).unwrap(),
        GossipState::decode(&record(&a2b, "[msg 2]").payload).unwrap()
    );
    assert_eq!(a.on_gossip(at(0.014041), &theirs("[msg 2]")), Ok(None));
    assert_eq!(run(a.take_outputs()), (vec![], vec![]));

    // POST /ip/testcontainer: no ring yet, so A proposes.
    let id = a.allocate(at(3.783926), "testcontainer", cidr("10.32.0.0/12"), false);
    assert_eq!(run(a.take_outputs()), (vec![ours("[msg 8]")], vec![]));
    // B promises; A has a quorum of promises and accepts.
    assert!(a.on_gossip_broadcast(at(3.784626), HOST_B, &theirs("[msg 8]")).unwrap().is_some());
    assert_eq!(run(a.take_outputs()), (vec![ours("[msg 9]")], vec![]));
    // B accepts: consensus, the ring, and the allocation completes (persisted first).
    a.on_gossip_broadcast(at(3.785602), HOST_B, &theirs("[msg 9]")).unwrap();
    let out = a.take_outputs();
    let persisted =
        out.iter().position(|o| matches!(o, Output::Persist(p) if p.owned.contains_key("testcontainer")));
    let completed = out.iter().position(|o| matches!(o, Output::Completed { id: i, .. } if *i == id));
    assert!(persisted.unwrap() < completed.unwrap(), "persist before reply: {out:?}");
    assert_eq!(run(out), (vec![ours("[msg 10]")], vec![Ok(Outcome::Allocated(ip("10.32.0.1")))]));

    // The /report dumps were taken here.
    a.tick(at(7.9));
    assert_eq!(run(a.take_outputs()), (vec![], vec![]));
    let status: serde_json::Value = serde_json::from_str(&a.status(cidr("10.32.0.0/12")).to_json()).unwrap();
    assert_eq!(status, report_ipam("A_report_json.body"));

    // PUT /ip/x/10.40.0.5/12: in B's range, so ask B for it.
    let claim = a.claim(at(8.457718), "x", cidr("10.40.0.5/12"), false, false);
    assert_eq!(run(a.take_outputs()), (vec![ours("[msg 12]")], vec![]));
    a.on_gossip_unicast(at(8.459559), HOST_B, &theirs("[msg 10]")).unwrap();
    let (sent, done) = run(a.take_outputs());
    assert_eq!((sent, done), (vec![], vec![Ok(Outcome::Claimed)]));
    assert_eq!(a.lookup("x", cidr("10.32.0.0/12").range()), [cidr("10.40.0.5/12")]);
    let _ = claim;
    a.on_gossip_broadcast(at(8.459667), HOST_B, &theirs("[msg 11]")).unwrap();
    assert_eq!(run(a.take_outputs()), (vec![], vec![]));

    // B asks for space in 10.32.0.0/13: A donates 10.38.0.0/15.
    a.tick(at(10.0));
    a.on_gossip_unicast(at(11.59551), HOST_B, &theirs("[msg 12]")).unwrap();
    assert_eq!(run(a.take_outputs()), (vec![ours("[msg 13]"), ours("[msg 14]")], vec![]));

    // Periodic gossip.
    a.tick(at(20.0));
    assert_eq!(Sent::Broadcast(GossipState::decode(&a.gossip(at(28.508442))).unwrap()), ours("[msg 17]"));
    assert_eq!(a.on_gossip(at(29.9831), &theirs("[msg 15]")), Ok(None));
    assert_eq!(run(a.take_outputs()), (vec![], vec![]));
    assert_eq!(Sent::Broadcast(GossipState::decode(&a.gossip(at(58.508649))).unwrap()), ours("[msg 21]"));
    a.on_gossip(at(59.982886), &theirs("[msg 19]")).unwrap();
    a.tick(at(60.0));
    assert_eq!(run(a.take_outputs()), (vec![], vec![]));
    a.check_invariants().unwrap();
}

#[test]
fn our_host_b_answers_real_host_a_as_real_host_b_did() {
    let a2b = ipam_records("tcp-plain/a_to_b.hex");
    let b2a = ipam_records("tcp-plain/b_to_a.hex");
    let theirs = |label: &str| record(&a2b, label).payload.clone();
    let ours = |label: &str| captured(record(&b2a, label));
    let mut b = host(HOST_B, UID_B, "hostB", HOST_A);

    assert_eq!(
        GossipState::decode(&b.gossip(at(0.014041))).unwrap(),
        GossipState::decode(&record(&b2a, "[msg 2]").payload).unwrap()
    );
    b.on_gossip(at(0.0141), &theirs("[msg 2]")).unwrap();
    assert_eq!(run(b.take_outputs()), (vec![], vec![]));

    // A's proposal: B promises. A's accept request: B accepts (but, with no quorum of its own
    // set, does not decide). A's ring: adopted, nothing sent.
    b.on_gossip_broadcast(at(3.783926), HOST_A, &theirs("[msg 8]")).unwrap();
    assert_eq!(run(b.take_outputs()), (vec![ours("[msg 8]")], vec![]));
    b.on_gossip_broadcast(at(3.785122), HOST_A, &theirs("[msg 9]")).unwrap();
    assert_eq!(run(b.take_outputs()), (vec![ours("[msg 9]")], vec![]));
    b.on_gossip_broadcast(at(3.789458), HOST_A, &theirs("[msg 10]")).unwrap();
    assert_eq!(run(b.take_outputs()), (vec![], vec![]));
    assert_eq!(b.owned_ranges(), [Range { start: ip("10.40.0.0"), end: ip("10.48.0.0") }]);

    let status: serde_json::Value = serde_json::from_str(&b.status(cidr("10.32.0.0/12")).to_json()).unwrap();
    assert_eq!(status, report_ipam("B_report_json.body"));

    // A asks for 10.40.0.5: granted, ring sent back and broadcast.
    b.on_gossip_unicast(at(8.457718), HOST_A, &theirs("[msg 12]")).unwrap();
    assert_eq!(run(b.take_outputs()), (vec![ours("[msg 10]"), ours("[msg 11]")], vec![]));

    // POST /ip/testcontainerB: B has space.
    b.allocate(at(8.5), "testcontainerB", cidr("10.32.0.0/12"), false);
    assert_eq!(run(b.take_outputs()), (vec![], vec![Ok(Outcome::Allocated(ip("10.40.0.0")))]));

    // POST /ip/extraB/10.32.0.0/13: all of that is A's, so ask A; A's answer completes it.
    b.allocate(at(11.59551), "extraB", cidr("10.32.0.0/13"), false);
    assert_eq!(run(b.take_outputs()), (vec![ours("[msg 12]")], vec![]));
    b.on_gossip_unicast(at(11.60106), HOST_A, &theirs("[msg 13]")).unwrap();
    assert_eq!(run(b.take_outputs()), (vec![], vec![Ok(Outcome::Allocated(ip("10.38.0.0")))]));
    b.on_gossip_broadcast(at(11.603419), HOST_A, &theirs("[msg 14]")).unwrap();
    b.on_gossip(at(28.508442), &theirs("[msg 17]")).unwrap();
    b.tick(at(29.0));
    assert_eq!(run(b.take_outputs()), (vec![], vec![]));

    assert_eq!(Sent::Broadcast(GossipState::decode(&b.gossip(at(29.9831))).unwrap()), ours("[msg 15]"));
    b.on_gossip(at(58.508649), &theirs("[msg 21]")).unwrap();
    assert_eq!(run(b.take_outputs()), (vec![], vec![]));
    assert_eq!(Sent::Broadcast(GossipState::decode(&b.gossip(at(59.982886))).unwrap()), ours("[msg 19]"));
    b.check_invariants().unwrap();
}

#[test]
fn consensus_of_one_forms_the_ring_alone() {
    // tcp-encrypted run: one weaver, consensus=1; its first ring broadcast after the allocation.
    let recs = ipam_records("tcp-encrypted/weaver_to_peer.hex");
    const BASE3: f64 = 1795804937.3;
    let mut c = config(HOST_A, 3723678671389676437, "10.32.0.0/12", InitMode::Consensus { quorum: 1 });
    c.our_nickname = "hostA".into();
    let mut a = Allocator::new(c, secs(BASE3)).unwrap();
    a.take_outputs();
    assert_eq!(
        GossipState::decode(&a.gossip(secs(BASE3 + 0.008446))).unwrap(),
        GossipState::decode(&record(&recs, "seq=2").payload).unwrap()
    );
    a.allocate(secs(BASE3 + 3.764439), "testcontainer", cidr("10.32.0.0/12"), false);
    let (sent, done) = run(a.take_outputs());
    assert_eq!(sent, vec![captured(record(&recs, "seq=8"))]);
    assert_eq!(done, vec![Ok(Outcome::Allocated(ip("10.32.0.1")))]);
}
