//! Internal checks of the allocator; behaviour through the public API is in tests/allocator.rs.

use super::*;

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn config(universe: &str, init: InitMode) -> Config {
    Config {
        our_name: PeerName(0x01_00_00_01_00_00),
        our_uid: 7,
        our_nickname: "one".into(),
        universe: cidr(universe),
        init,
        pre_claims: vec![],
        persisted: None,
        known_peers: vec![],
        rng_seed: 1,
    }
}

#[test]
fn universe_must_be_a_usable_subnet() {
    let t = Duration::ZERO;
    for bad in ["10.0.0.1/24", "10.0.0.0/31", "0.0.0.0/0", "255.255.255.0/24"] {
        let err = Allocator::new(config(bad, InitMode::Observer), t).unwrap_err();
        assert_eq!(err, ConfigError::Universe(cidr(bad)));
    }
    assert!(Allocator::new(config("10.0.0.0/30", InitMode::Observer), t).is_ok());
}

#[test]
fn fresh_start_persists_empty_state_and_gossips_empty_paxos() {
    let mut a =
        Allocator::new(config("10.0.0.0/24", InitMode::Consensus { quorum: 2 }), Duration::ZERO).unwrap();
    let out = a.take_outputs();
    assert_eq!(out.len(), 1);
    let Output::Persist(p) = &out[0] else { panic!("{out:?}") };
    assert!(p.ring.as_ref().unwrap().is_empty() && p.owned.is_empty());
    let g = a.gossip_state(Duration::from_secs(9));
    assert_eq!(g.now, 9);
    assert_eq!(g.paxos, Some(Default::default()), "an elector sends an empty, non-nil map");
    assert!(g.ring.is_none());
    assert_eq!(g.nicknames.unwrap()[&a.our_name()], "one");
    a.check_invariants().unwrap();
}

#[test]
fn election_status_until_ring_exists() {
    let mut a =
        Allocator::new(config("10.0.0.0/24", InitMode::Consensus { quorum: 2 }), Duration::ZERO).unwrap();
    assert_eq!(a.status(a.universe()).paxos, None);
    a.prime(Duration::from_secs(1));
    let st = a.status(a.universe());
    assert_eq!(st.paxos, Some(PaxosStatus { elector: true, known_nodes: 1, quorum: 2 }));
    // With quorum 1 the ring forms immediately and Paxos is dropped.
    a.set_quorum(1);
    let mut b =
        Allocator::new(config("10.0.0.0/24", InitMode::Consensus { quorum: 1 }), Duration::ZERO).unwrap();
    b.prime(Duration::from_secs(1));
    assert!(b.paxos.is_none() && !b.ring.is_empty());
    assert_eq!(b.status(b.universe()).paxos, None);

    let mut o = Allocator::new(config("10.0.0.0/24", InitMode::Observer), Duration::ZERO).unwrap();
    o.prime(Duration::from_secs(1));
    assert_eq!(o.status(o.universe()).paxos, Some(PaxosStatus { elector: false, known_nodes: 0, quorum: 0 }));
    assert_eq!(o.gossip_state(Duration::ZERO).paxos, None, "observers send nil Paxos");
}

#[test]
fn status_json_matches_go_shape() {
    let mut a =
        Allocator::new(config("10.0.0.0/24", InitMode::Consensus { quorum: 2 }), Duration::ZERO).unwrap();
    let id = a.claim(Duration::ZERO, "c<1>", cidr("10.0.0.5/24"), true, false);
    let json = a.status(cidr("10.0.0.0/24")).to_json();
    assert_eq!(
        json,
        "{\"Paxos\":{\"Elector\":true,\"KnownNodes\":1,\"Quorum\":2},\"Range\":\"10.0.0.0/24\",\"RangeNumIPs\":256,\
         \"ActiveIPs\":0,\"DefaultSubnet\":\"10.0.0.0/24\",\"Entries\":null,\"PendingClaims\":[{\"Ident\":\
         \"c\\u003c1\\u003e\",\"CIDR\":{\"Addr\":\"10.0.0.5\",\"PrefixLen\":24}}],\"PendingAllocates\":null}"
    );
    let _ = id;
}
