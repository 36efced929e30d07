//! Hostile input: random bytes, damaged copies of every captured and generated IPAM payload, and
//! well-formed messages with hostile values, fed to every gossip callback of allocators in every
//! state. They may be refused with an error, never panic, and the allocator must stay consistent.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use weave_ipam::allocator::InitMode;
use weave_ipam::messages::{GossipState, Unicast};
use weave_ipam::paxos::{AcceptedValue, NodeClaims, NodeId, ProposalId};
use weave_ipam::persist::PersistedState;
use weave_ipam::ring::{Entry, Ring};
use weave_ipam::{Address, Allocator, PeerName, Range};

const UNIVERSE: &str = "10.32.0.0/12";

/// Allocators in the states that matter: electing, observing, owning space with allocations
/// and a pending request, and shut down.
fn allocators() -> Vec<Allocator> {
    let t = Duration::from_secs(100);
    let mut out = Vec::new();
    let mut electing =
        Allocator::new(config(HOST_A, 1, UNIVERSE, InitMode::Consensus { quorum: 2 }), t).unwrap();
    electing.set_known_peers([HOST_B]);
    electing.prime(t);
    out.push(electing);
    let mut observer = Allocator::new(config(HOST_A, 2, UNIVERSE, InitMode::Observer), t).unwrap();
    observer.allocate(t, "c", cidr(UNIVERSE), true);
    out.push(observer);
    let mut owner =
        Allocator::new(config(HOST_A, 3, UNIVERSE, InitMode::Seed(vec![HOST_A, HOST_B])), t).unwrap();
    owner.set_known_peers([HOST_B]);
    owner.allocate(t, "c1", cidr(UNIVERSE), true);
    owner.allocate(t, "c2", cidr("10.40.0.0/13"), true);
    owner.claim(t, "c3", cidr("10.44.0.9/12"), true, false);
    out.push(owner);
    let mut gone =
        Allocator::new(config(HOST_A, 4, UNIVERSE, InitMode::Seed(vec![HOST_A, HOST_B])), t).unwrap();
    gone.set_known_peers([HOST_B]);
    gone.shutdown(t);
    out.push(gone);
    for a in &mut out {
        a.take_outputs();
    }
    out
}

/// Every IPAM payload in the captures, plus generated ones of every kind.
fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for file in ["tcp-plain/a_to_b.hex", "tcp-plain/b_to_a.hex", "tcp-encrypted/weaver_to_peer.hex"] {
        out.extend(ipam_records(file).into_iter().map(|r| r.payload));
    }
    let r = Range { start: "10.40.0.0".parse().unwrap(), end: "10.40.1.0".parse().unwrap() };
    out.push(Unicast::SpaceRequest(r).encode());
    out.push(Unicast::SpaceRequestDenied(r).encode());
    out.push(PersistedState::default().encode());
    out
}

fn mutate(rng: &mut StdRng, data: &[u8]) -> Vec<u8> {
    let mut m = data.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=m.len());
        match rng.random_range(0..5) {
            0 if at < m.len() => m[at] ^= 1 << rng.random_range(0..8),
            1 => m.insert(at, rng.random()),
            2 if at < m.len() => {
                m.remove(at);
            }
            3 if at < m.len() => m[at] = [0x00, 0x01, 0x7f, 0x80, 0xf8, 0xff][rng.random_range(0..6)],
            _ => m.truncate(at),
        }
    }
    m
}

/// Feeds one payload to every callback (as unicast both raw and behind each kind byte).
fn feed(a: &mut Allocator, now: Duration, payload: &[u8]) -> usize {
    let mut errors = 0;
    errors += a.on_gossip_broadcast(now, HOST_B, payload).is_err() as usize;
    errors += a.on_gossip(now, payload).is_err() as usize;
    errors += a.on_gossip_unicast(now, HOST_B, payload).is_err() as usize;
    for kind in 0..4u8 {
        let mut p = vec![kind];
        p.extend_from_slice(payload);
        errors += a.on_gossip_unicast(now, PeerName::UNKNOWN, &p).is_err() as usize;
    }
    a.take_outputs();
    a.tick(now + Duration::from_secs(6));
    a.take_outputs();
    a.check_invariants().unwrap_or_else(|e| panic!("after hostile input: {e}"));
    errors
}

#[test]
fn damaged_payloads_are_refused_without_panicking() {
    let mut rng = StdRng::seed_from_u64(0xbad);
    let corpus = corpus();
    let mut now = Duration::from_secs(200);
    let (mut runs, mut errors) = (0, 0);
    for mut a in allocators() {
        for _ in 0..40 {
            let n = rng.random_range(0..64);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            errors += feed(&mut a, now, &junk);
            runs += 1;
        }
        for payload in &corpus {
            for cut in (0..payload.len()).step_by(41) {
                errors += feed(&mut a, now, &payload[..cut]);
                runs += 1;
            }
            for _ in 0..12 {
                errors += feed(&mut a, now, &mutate(&mut rng, payload));
                now += Duration::from_secs(1);
                runs += 1;
            }
        }
    }
    assert!(runs > 2000 && errors > runs, "runs {runs}, errors {errors}");
    // Empty and unknown-kind unicasts.
    let mut a = allocators().remove(2);
    assert_eq!(a.on_gossip_unicast(now, HOST_B, &[]).unwrap_err().to_string(), "empty IPAM unicast message");
    assert_eq!(
        a.on_gossip_unicast(now, HOST_B, &[7, 1]).unwrap_err().to_string(),
        "unknown IPAM unicast message kind 7"
    );
}

fn random_ring(rng: &mut StdRng) -> Ring {
    let peers = [HOST_A, HOST_B, PeerName(0), PeerName(u64::MAX)];
    let (start, end) = if rng.random_bool(0.8) {
        (Address(0x0a20_0000), Address(0x0a30_0000))
    } else {
        (Address(rng.random()), Address(rng.random()))
    };
    let n = rng.random_range(0..12);
    let mut tokens: Vec<u32> = (0..n)
        .map(|_| {
            if rng.random_bool(0.9) {
                start.0.wrapping_add(rng.random_range(0..1 << 20))
            } else {
                rng.random()
            }
        })
        .collect();
    if rng.random_bool(0.8) {
        tokens.sort();
        tokens.dedup();
    }
    let entries = tokens
        .into_iter()
        .map(|t| Entry {
            token: Address(t),
            peer: peers[rng.random_range(0..peers.len())],
            version: [0, 1, 99, u32::MAX][rng.random_range(0..4)],
            free: if rng.random_bool(0.7) { rng.random_range(0..1 << 16) } else { rng.random() },
        })
        .collect();
    let seeds = match rng.random_range(0..3) {
        0 => vec![],
        1 => vec![HOST_A, HOST_B],
        _ => vec![PeerName(rng.random())],
    };
    Ring { start, end, peer: peers[rng.random_range(0..peers.len())], entries, seeds }
}

fn random_paxos(rng: &mut StdRng) -> BTreeMap<NodeId, NodeClaims> {
    let node = |rng: &mut StdRng| NodeId {
        name: [HOST_A, HOST_B, PeerName(9)][rng.random_range(0..3)],
        uid: rng.random_range(0..3),
    };
    let proposal = |rng: &mut StdRng| ProposalId {
        round: [0, 1, 2, u64::MAX][rng.random_range(0..4)],
        proposer: node(rng),
    };
    (0..rng.random_range(0..5))
        .map(|_| {
            let claims = NodeClaims {
                promise: proposal(rng),
                accepted: proposal(rng),
                accepted_val: AcceptedValue {
                    value: (0..rng.random_range(0..3)).map(|_| PeerName(rng.random_range(0..4))).collect(),
                    origin: proposal(rng),
                },
            };
            (node(rng), claims)
        })
        .collect()
}

#[test]
fn well_formed_hostile_values_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut now = Duration::from_secs(300);
    for mut a in allocators() {
        a.set_quorum(1);
        for _ in 0..300 {
            let state = GossipState {
                now: rng.random(),
                nicknames: rng
                    .random_bool(0.5)
                    .then(|| [(PeerName(rng.random()), "x\u{0}<>".to_string())].into()),
                paxos: rng.random_bool(0.5).then(|| random_paxos(&mut rng)),
                ring: rng.random_bool(0.5).then(|| random_ring(&mut rng)),
            };
            feed(&mut a, now, &state.encode());
            let r = Range { start: Address(rng.random()), end: Address(rng.random()) };
            feed(&mut a, now, &Unicast::SpaceRequest(r).encode()[1..]);
            let _ = a.on_gossip_unicast(now, HOST_B, &Unicast::SpaceRequest(r).encode());
            let _ = a.on_gossip_unicast(now, HOST_B, &Unicast::SpaceRequestDenied(r).encode());
            a.take_outputs();
            a.check_invariants().unwrap();
            // Requests with odd arguments too.
            let addr = Address(rng.random());
            a.claim(
                now,
                "_",
                weave_ipam::Cidr::new(addr, rng.random_range(0..=32)),
                false,
                rng.random_bool(0.5),
            );
            a.allocate(now, "x", weave_ipam::Cidr::new(addr, rng.random_range(0..=32)), false);
            let _ = a.free("x", addr);
            a.admin_takeover_ranges(now, &PeerName(rng.random_range(0..4)).to_string());
            a.take_outputs();
            a.check_invariants().unwrap();
            let _ = a.status(cidr(UNIVERSE)).to_json();
            now += Duration::from_secs(2);
        }
    }
}
