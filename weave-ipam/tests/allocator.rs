//! The allocator through its public API, ported in spirit from Weave's allocator_test.go, plus
//! shutdown, rmpeer, restarts, observers, seeds and the merge errors.

mod common;

use std::time::Duration;

use common::*;
use weave_ipam::allocator::{InitMode, Outcome, Output, PreClaim};
use weave_ipam::messages::{GossipState, Unicast};
use weave_ipam::{Address, Allocator, PeerName, Range};

fn ip(s: &str) -> Address {
    s.parse().unwrap()
}

fn single(universe: &str, quorum: u32) -> Net {
    let mut net = Net::new(1, universe);
    net.nodes[0].set_quorum(quorum);
    net
}

fn err_text(net: &Net, i: usize, id: weave_ipam::RequestId) -> String {
    match net.result(i, id) {
        Some(Err(e)) => e.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn alloc_free() {
    let mut net = single("10.0.3.0/26", 1);
    let (s1, s2) = ("10.0.3.0/28", "10.0.3.32/28");
    let a1 = net.allocate(0, "abcdef", s1);
    assert_eq!(net.allocated(0, a1), ip("10.0.3.1"));
    let a2 = net.allocate(0, "abcdef", s2);
    assert_eq!(net.allocated(0, a2), ip("10.0.3.33"));
    assert_eq!(
        net.nodes[0].lookup("abcdef", cidr("10.0.3.0/26").range()),
        [cidr("10.0.3.1/28"), cidr("10.0.3.33/28")]
    );

    let b = net.allocate(0, "baddf00d", s1);
    let b_addr = net.allocated(0, b);
    assert_ne!(b_addr, ip("10.0.3.1"));
    // The same ident again: the same addresses.
    let again = net.allocate(0, "abcdef", s1);
    assert_eq!(net.allocated(0, again), ip("10.0.3.1"));

    // Delete gives them back.
    net.nodes[0].delete("abcdef").unwrap();
    assert_eq!(net.nodes[0].delete("abcdef").unwrap_err().to_string(), "Delete: no addresses for abcdef");
    let c1 = net.allocate(0, "b01df00d", s1);
    let c2 = net.allocate(0, "b01df00d", s2);
    assert_eq!((net.allocated(0, c1), net.allocated(0, c2)), (ip("10.0.3.1"), ip("10.0.3.33")));

    // A container that died and is asked for again keeps its address.
    net.nodes[0].container_died(net.now, "baddf00d");
    let b2 = net.allocate(0, "baddf00d", s1);
    assert_eq!(net.allocated(0, b2), b_addr);

    // One that stays dead loses its addresses after 30 s.
    net.nodes[0].container_died(net.now, "b01df00d");
    net.tick_all(Duration::from_secs(20));
    assert_eq!(net.nodes[0].num_free_addresses(cidr("10.0.3.0/26").range()), 61);
    net.tick_all(Duration::from_secs(20));
    assert_eq!(net.nodes[0].num_free_addresses(cidr("10.0.3.0/26").range()), 63);

    // Free one address.
    assert_eq!(
        net.nodes[0].free("baddf00d", ip("10.0.3.9")).unwrap_err().to_string(),
        "Free: address 10.0.3.9 not found for baddf00d"
    );
    net.nodes[0].free("baddf00d", b_addr).unwrap();
    assert_eq!(net.nodes[0].num_free_addresses(cidr("10.0.3.0/26").range()), 64);
    net.nodes[0].check_invariants().unwrap();
}

#[test]
fn allocation_errors() {
    let mut net = single("10.0.3.0/26", 1);
    let out = net.allocate(0, "x", "192.168.0.0/24");
    assert_eq!(err_text(&net, 0, out), "range 192.168.0.0/24 out of bounds: 10.0.3.0/26");
    let small = net.allocate(0, "x", "10.0.3.0/31");
    assert_eq!(err_text(&net, 0, small), "invalid subnet - smaller than minimum size 4: 10.0.3.0/31");
    let unaligned = net.allocate(0, "x", "10.0.3.1/28");
    assert_eq!(
        err_text(&net, 0, unaligned),
        "invalid subnet - bits after network prefix are not all zero: 10.0.3.1/28"
    );
}

#[test]
fn bootstrap_by_consensus_of_two() {
    let mut net = Net::new(2, "10.0.0.0/22");
    let id = net.allocate(0, "somecontainer", "10.0.0.0/22");
    assert!(net.result(0, id).is_none(), "waits for the other peer");
    assert!(matches!(net.queue.front(), Some(Delivery::Broadcast { .. })));
    net.flush();
    assert_eq!(net.allocated(0, id), ip("10.0.0.1"));
    // Both have the same ring, split in two.
    assert_eq!(net.nodes[0].ring().entries, net.nodes[1].ring().entries);
    assert_eq!(net.nodes[1].owned_ranges(), [Range { start: ip("10.0.2.0"), end: ip("10.0.4.0") }]);
    assert!(net.gossip_errors.is_empty());
}

#[test]
fn claims() {
    // Peer 0 pre-claims 10.0.3.1 for container1.
    let pre = cidr("10.0.3.1/24");
    let mut net = Net::new(2, "10.0.3.0/24");
    let mut c = config(test_peer(0), 77, "10.0.3.0/24", InitMode::Consensus { quorum: 2 });
    c.known_peers = vec![test_peer(1)];
    c.pre_claims = vec![PreClaim { ident: "container1".into(), is_container: true, cidr: pre }];
    net.nodes[0] = Allocator::new(c, net.now).unwrap();
    net.drain(0);
    let a = 1;
    let addr1 = "10.0.3.5/24";

    // Unknown yet: with no_error_on_unknown, OK now, done later.
    let early = net.nodes[a].claim(net.now, "container3", cidr(addr1), true, true);
    net.drain(a);
    assert!(matches!(net.result(a, early), Some(Ok(Outcome::Claimed))));
    let prime = net.nodes[a].prime(net.now);
    net.drain(a);
    net.flush();
    assert!(matches!(net.result(a, prime), Some(Ok(Outcome::Primed))));
    assert_eq!(net.nodes[0].lookup("container1", cidr("10.0.3.0/24").range()), [pre]);

    let x = net.allocate(0, "containerX", "10.0.3.0/24");
    net.flush();
    let addrx = net.allocated(0, x);

    // The early claim went through once the ring existed; repeating it is fine.
    let id = net.claim(a, "container3", addr1);
    net.flush();
    assert!(matches!(net.result(a, id), Some(Ok(Outcome::Claimed))));
    let again = net.allocate(a, "container3", "10.0.3.0/24");
    assert_eq!(net.allocated(a, again), ip("10.0.3.5"));
    // Another container: refused. Anonymous: assumed to be the same one.
    let other = net.claim(a, "container1", addr1);
    assert_eq!(err_text(&net, a, other), "address 10.0.3.5/24 is already owned by container3");
    let anon = net.nodes[a].claim(net.now, "_", cidr(addr1), false, true);
    net.drain(a);
    assert!(matches!(net.result(a, anon), Some(Ok(Outcome::Claimed))));

    // Addresses in use on the other peer: it denies.
    let on_other = net.claim(a, "container1", &format!("{addrx}/24"));
    net.flush();
    let text = err_text(&net, a, on_other);
    assert_eq!(
        text,
        format!("address {addrx}/24 is owned by other peer {} (nick-{})", test_peer(0), test_peer(0))
    );
    let pre_a = net.claim(a, "container3", "10.0.3.1/24");
    net.flush();
    assert!(err_text(&net, a, pre_a).starts_with("address 10.0.3.1/24 is owned by other peer"));
    let pre_0 = net.claim(0, "container3", "10.0.3.1/24");
    assert_eq!(err_text(&net, 0, pre_0), "address 10.0.3.1/24 is already owned by container1");

    // Outside the universe: recorded, first come first served.
    let out1 = net.claim(a, "container1", "10.0.4.2/24");
    assert!(matches!(net.result(a, out1), Some(Ok(Outcome::Claimed))));
    let out3 = net.claim(a, "container3", "10.0.4.2/24");
    assert_eq!(err_text(&net, a, out3), "address 10.0.4.2/24 already in use by container1");
    let anon_out = net.nodes[a].claim(net.now, "_", cidr("10.0.2.3/23"), false, true);
    net.drain(a);
    assert!(matches!(net.result(a, anon_out), Some(Ok(Outcome::Claimed))));
    assert!(net.nodes[a].owned().contains_key("10.0.2.3"), "anonymous claims are filed under the address");
    let anon_alloc = net.nodes[a].allocate(net.now, "_", cidr("10.0.2.0/23"), false);
    net.drain(a);
    net.flush();
    assert_ne!(net.allocated(a, anon_alloc), ip("10.0.2.3"));
    assert!(net.gossip_errors.is_empty(), "{:?}", net.gossip_errors);
}

#[test]
fn claim_in_another_peers_range_asks_for_that_address() {
    let mut net = Net::new(2, "10.32.0.0/12");
    let p = net.nodes[0].prime(net.now);
    net.drain(0);
    net.flush();
    assert!(net.result(0, p).is_some());
    let id = net.claim(0, "x", "10.40.0.5/12");
    let Some(Delivery::Unicast { to, payload, .. }) = net.queue.front().cloned() else {
        panic!("{:?}", net.queue)
    };
    assert_eq!(to, test_peer(1));
    assert_eq!(
        Unicast::decode(&payload).unwrap(),
        Unicast::SpaceRequest(Range { start: ip("10.40.0.5"), end: ip("10.40.0.6") })
    );
    assert!(net.result(0, id).is_none());
    net.flush();
    assert!(matches!(net.result(0, id), Some(Ok(Outcome::Claimed))));
    assert_eq!(net.nodes[0].ring().owner(ip("10.40.0.5")), Some(test_peer(0)));
    assert_eq!(net.nodes[1].ring().owner(ip("10.40.0.6")), Some(test_peer(1)));
}

#[test]
fn claim_gives_up_on_an_unreachable_owner() {
    let mut net = Net::new(2, "10.32.0.0/12");
    let p = net.nodes[0].prime(net.now);
    net.drain(0);
    net.flush();
    assert!(net.result(0, p).is_some());
    net.nodes[0].set_known_peers([]);
    let id = net.claim(0, "x", "10.40.0.5/12");
    assert!(net.queue.is_empty());
    // Tried once at once and once per tick; given up after the fifth retry.
    for _ in 0..4 {
        net.tick_all(Duration::from_secs(5));
        assert!(net.result(0, id).is_none());
    }
    net.tick_all(Duration::from_secs(5));
    assert_eq!(
        err_text(&net, 0, id),
        format!(
            "address 10.40.0.5/12 is owned by other peer {0} (nick-{0}) - unknown relay destination: {0}",
            test_peer(1)
        )
    );
}

#[test]
fn cancel_pending_and_on_container_death() {
    let mut net = Net::new(2, "10.0.4.0/26");
    // Quorum 2 and the other peer unreachable: both wait.
    net.nodes[0].set_known_peers([]);
    net.queue.clear();
    let a = net.nodes[0].allocate(net.now, "abcdef", cidr("10.0.4.0/26"), true);
    let b = net.nodes[0].allocate(net.now, "abcdef", cidr("10.0.4.0/26"), true);
    let c = net.nodes[0].allocate(net.now, "other", cidr("10.0.4.0/26"), true);
    net.drain(0);
    assert!(net.results.is_empty());
    assert_eq!(net.nodes[0].status(cidr("10.0.4.0/26")).pending_allocates.len(), 3);
    net.nodes[0].container_died(net.now, "abcdef");
    net.drain(0);
    for id in [a, b] {
        assert_eq!(err_text(&net, 0, id), "Allocate request for abcdef cancelled");
    }
    assert!(net.nodes[0].cancel(c));
    net.drain(0);
    assert_eq!(err_text(&net, 0, c), "Allocate request for other cancelled");
    assert!(!net.nodes[0].cancel(c));
}

#[test]
fn shutdown_cancels_and_refuses() {
    let mut net = single("10.0.3.0/30", 1);
    let a = net.allocate(0, "abcdef", "10.0.3.0/30");
    assert_eq!(net.allocated(0, a), ip("10.0.3.1"));
    net.nodes[0].shutdown(net.now);
    net.drain(0);
    let b = net.allocate(0, "baddf00d", "10.0.3.0/30");
    assert_eq!(err_text(&net, 0, b), "Allocate request for baddf00d cancelled");
}

#[test]
fn shutdown_hands_ranges_to_an_heir() {
    let mut net = Net::new(3, "10.0.4.0/22");
    for (i, name) in ["foo", "bar", "baz"].iter().enumerate() {
        net.allocate(i, name, "10.0.4.0/22");
        net.flush();
    }
    net.gossip_all();
    let before: Vec<_> = net.nodes[0].ring().entries.clone();
    let leaving = test_peer(2);
    net.nodes[2].shutdown(net.now);
    net.drain(2);
    net.flush();
    // The heir is the first peer on the ring that is reachable: peer 0.
    let heir = test_peer(0);
    for i in 0..2 {
        let ring = net.nodes[i].ring();
        assert!(ring.entries.iter().all(|e| e.peer != leaving), "node {i}: {:?}", ring.entries);
        for (old, new) in before.iter().zip(&ring.entries) {
            if old.peer == leaving {
                // +100, and the heir may have bumped it once more reporting the space free.
                assert_eq!(new.peer, heir);
                assert!(new.version == old.version + 100 || (i == 0 && new.version == old.version + 101));
            }
        }
    }
    assert!(net.nodes[0].owned_ranges().len() > 1);
    net.nodes[0].check_invariants().unwrap();
    assert!(net.gossip_errors.is_empty(), "{:?}", net.gossip_errors);
}

#[test]
fn rmpeer_takes_over_dead_peers_ranges() {
    let universe = cidr("10.0.4.0/22");
    let mut net = Net::new(3, "10.0.4.0/22");
    net.allocate(1, "foo", "10.0.4.0/22");
    net.flush();
    net.allocate(2, "bar", "10.0.4.0/22");
    net.flush();
    net.gossip_all();
    let free1 = net.nodes[1].num_free_addresses(universe.range());
    let free2 = net.nodes[2].num_free_addresses(universe.range());
    let (p1, p2) = (test_peer(1), test_peer(2));
    // Peers 1 and 2 die.
    net.nodes.truncate(1);
    net.nodes[0].set_known_peers([]);
    assert_eq!(net.nodes[0].admin_takeover_ranges(net.now, &p1.to_string()), free1 + 1);
    assert_eq!(net.nodes[0].admin_takeover_ranges(net.now, &format!("nick-{p2}")), free2 + 1);
    assert_eq!(net.nodes[0].admin_takeover_ranges(net.now, "nobody"), 0);
    assert_eq!(
        net.nodes[0].admin_takeover_ranges(net.now, &test_peer(0).to_string()),
        0,
        "not from ourselves"
    );
    net.drain(0);
    net.queue.clear();
    assert_eq!(net.nodes[0].num_free_addresses(universe.range()), 1024);
    assert!(net.nodes[0].ring().entries.iter().all(|e| e.peer == test_peer(0)));
    assert!(net.nodes[0].ring().entries.iter().any(|e| e.version >= 100));
    let a = net.allocate(0, "foo", "10.0.4.0/22");
    assert!(matches!(net.result(0, a), Some(Ok(_))));
}

#[test]
fn rmpeer_of_a_live_peer_with_allocations_is_rejected_by_it() {
    let mut net = Net::new(2, "10.0.4.0/22");
    net.allocate(1, "foo", "10.0.4.0/22");
    net.flush();
    net.nodes[0].admin_takeover_ranges(net.now, &test_peer(1).to_string());
    net.drain(0);
    net.flush();
    assert_eq!(net.gossip_errors.len(), 1, "{:?}", net.gossip_errors);
    assert!(
        net.gossip_errors[0].starts_with("Received update for IP range I own at 10.0.6.0 v"),
        "{}",
        net.gossip_errors[0]
    );
    assert!(net.gossip_errors[0].contains(&format!("incoming message says owner {} v1", test_peer(0))));
}

#[test]
fn space_request_splits_the_universe_in_halves() {
    let mut net = single("10.32.0.0/12", 1);
    let a = net.allocate(0, "cont-1", "10.32.0.0/12");
    let addr = net.allocated(0, a);
    net.nodes[0].free("cont-1", addr).unwrap();
    assert_eq!(net.nodes[0].owned_ranges(), [cidr("10.32.0.0/12").range()]);

    // A new peer joins and allocates.
    let mut c = config(test_peer(1), 9, "10.32.0.0/12", InitMode::Consensus { quorum: 2 });
    c.known_peers = vec![test_peer(0)];
    net.nodes.push(Allocator::new(c, net.now).unwrap());
    net.stored.push(None);
    net.drain(1);
    net.nodes[0].set_known_peers([test_peer(1)]);
    let b = net.allocate(1, "cont-2", "10.32.0.0/12");
    net.flush();
    assert_eq!(net.allocated(1, b), ip("10.40.0.0"));
    assert_eq!(net.nodes[0].owned_ranges(), [cidr("10.32.0.0/13").range()]);
    assert_eq!(net.nodes[1].owned_ranges(), [cidr("10.40.0.0/13").range()]);
}

#[test]
fn no_excessive_fragmentation() {
    for _ in 0..20 {
        let mut net = Net::new(3, "10.0.4.0/22");
        net.allocate(1, "foo", "10.0.4.0/22");
        net.flush();
        net.allocate(2, "bar", "10.0.4.0/22");
        net.flush();
        assert!(net.nodes[2].ring().entries.len() < 6);
    }
}

#[test]
fn restart_from_persisted_state() {
    let mut net = Net::new(2, "10.0.4.0/22");
    let a = net.allocate(0, "foo", "10.0.4.0/22");
    net.flush();
    let addr = net.allocated(0, a);
    let stored = net.stored[0].clone().unwrap();

    let mut c = config(test_peer(0), 4242, "10.0.4.0/22", InitMode::Consensus { quorum: 2 });
    c.known_peers = vec![test_peer(1)];
    c.persisted = Some(weave_ipam::persist::PersistedState::decode(&stored.encode()).unwrap());
    net.nodes[0] = Allocator::new(c.clone(), net.now).unwrap();
    net.results.clear();
    assert!(net.nodes[0].take_outputs().is_empty(), "nothing to persist or send");
    assert_eq!(net.nodes[0].ring(), stored.ring.as_ref().unwrap());
    net.nodes[0].check_invariants().unwrap();
    let same = net.allocate(0, "foo", "10.0.4.0/22");
    assert_eq!(net.allocated(0, same), addr);
    let next = net.allocate(0, "bar", "10.0.4.0/22");
    assert_ne!(net.allocated(0, next), addr);

    // Someone else's state, or another universe: ignored, and overwritten.
    for (name, universe) in [(test_peer(5), "10.0.4.0/22"), (test_peer(0), "10.0.8.0/22")] {
        let mut c2 = config(test_peer(0), 1, universe, InitMode::Consensus { quorum: 2 });
        c2.persisted = Some(weave_ipam::persist::PersistedState { peer_name: name, ..stored.clone() });
        let mut fresh = Allocator::new(c2, net.now).unwrap();
        assert!(fresh.ring().is_empty() && fresh.owned().is_empty());
        let out = fresh.take_outputs();
        assert!(matches!(&out[..], [Output::Persist(p)] if p.owned.is_empty()));
    }
}

#[test]
fn seed_mode_creates_the_ring_at_once() {
    let peers = vec![test_peer(2), test_peer(1)];
    let mut a =
        Allocator::new(config(test_peer(1), 1, "10.32.0.0/12", InitMode::Seed(peers)), secs(5.0)).unwrap();
    let out = a.take_outputs();
    assert!(matches!(out[0], Output::Persist(_)));
    let Output::Broadcast(payload) = &out[1] else { panic!("{out:?}") };
    let ring = GossipState::decode(payload).unwrap().ring.unwrap();
    assert_eq!(ring.seeds, [test_peer(1), test_peer(2)], "sorted");
    assert_eq!(a.owned_ranges(), [cidr("10.32.0.0/13").range()]);

    // A ring seeded differently is refused with Weave's message.
    let mut other = Allocator::new(
        config(test_peer(3), 3, "10.32.0.0/12", InitMode::Seed(vec![test_peer(3)])),
        secs(5.0),
    )
    .unwrap();
    let err = other.on_gossip(secs(6.0), payload).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "IP allocation was seeded by different peers (received: [{}(nick-{}) {}], ours: [{}(nick-{})])",
            test_peer(1),
            test_peer(1),
            test_peer(2),
            test_peer(3),
            test_peer(3)
        )
    );
    let mut elsewhere =
        Allocator::new(config(test_peer(3), 3, "10.0.0.0/8", InitMode::Observer), secs(5.0)).unwrap();
    assert_eq!(
        elsewhere.on_gossip(secs(6.0), payload).unwrap_err().to_string(),
        "Incompatible IP allocation ranges (received: 10.32.0.0/12, ours: 10.0.0.0/8)"
    );
}

#[test]
fn observer_gets_a_ring_from_electors() {
    let mut net = Net::new(2, "10.32.0.0/12");
    let mut c = config(PeerName(0x0c), 12, "10.32.0.0/12", InitMode::Observer);
    c.known_peers = vec![test_peer(0), test_peer(1)];
    net.nodes.push(Allocator::new(c, net.now).unwrap());
    net.stored.push(None);
    net.drain(2);
    for n in &mut net.nodes[..2] {
        n.set_known_peers([test_peer(0), test_peer(1), PeerName(0x0c)]);
    }
    // The observer's broadcast has no Paxos: electors start an election for it, then answer it.
    let id = net.allocate(2, "c", "10.32.0.0/12");
    net.flush();
    for _ in 0..3 {
        net.tick_all(Duration::from_secs(5));
        net.flush();
    }
    assert!(matches!(net.result(2, id), Some(Ok(Outcome::Allocated(_)))));
    // The election was among the electors; the observer got space by donation afterwards.
    assert_eq!(net.nodes[2].ring().seeds, [test_peer(0), test_peer(1)]);
    assert_eq!(net.nodes[2].owned_ranges().len(), 1);
    net.gossip_all();
    assert_eq!(net.nodes[2].ring().entries, net.nodes[0].ring().entries);
    assert!(net.gossip_errors.is_empty(), "{:?}", net.gossip_errors);
}

#[test]
fn denied_space_request_and_ring_request_answers() {
    // A peer with a ring answers a Paxos broadcast with a unicast ring update.
    let mut net = single("10.0.0.0/24", 1);
    let p = net.nodes[0].prime(net.now);
    net.drain(0);
    assert!(net.result(0, p).is_some());
    let mut newcomer =
        Allocator::new(config(test_peer(7), 7, "10.0.0.0/24", InitMode::Consensus { quorum: 2 }), net.now)
            .unwrap();
    newcomer.prime(net.now);
    let out = newcomer.take_outputs();
    let Some(Output::Broadcast(proposal)) = out.last() else { panic!("{out:?}") };
    net.nodes[0].on_gossip_broadcast(net.now, test_peer(7), proposal).unwrap();
    let out = net.nodes[0].take_outputs();
    assert!(
        matches!(&out[..], [Output::Unicast { dst, payload }] if *dst == test_peer(7) && payload[0] == 1)
    );
    // A request for space it does not have: denied, and the ring sent anyway.
    let all = cidr("10.0.0.0/24").range();
    let taken = net.nodes[0].claim(net.now, "x", cidr("10.0.0.9/24"), true, false);
    net.drain(0);
    assert!(matches!(net.result(0, taken), Some(Ok(_))));
    let req = Unicast::SpaceRequest(Range::new(ip("10.0.0.9"), 1)).encode();
    net.nodes[0].on_gossip_unicast(net.now, test_peer(7), &req).unwrap();
    let out = net.nodes[0].take_outputs();
    let kinds: Vec<u8> = out
        .iter()
        .filter_map(|o| if let Output::Unicast { payload, .. } = o { Some(payload[0]) } else { None })
        .collect();
    assert_eq!(kinds, [2, 1]);
    assert_eq!(net.nodes[0].num_free_addresses(all), 255);
}

#[test]
fn transfer_hands_an_address_to_its_container_which_then_follows_the_container_rules() {
    let mut net = single("10.0.3.0/26", 1);
    let s = "10.0.3.0/26";
    let a = net.allocate(0, "_", s);
    let addr = net.allocated(0, a);
    // Anonymous allocations are filed under the address, as Weave.
    assert_eq!(net.nodes[0].owner_of(addr), Some("10.0.3.1"));
    assert_eq!(net.nodes[0].transfer(addr, "c0ffee", true).unwrap(), "10.0.3.1");
    assert_eq!(net.nodes[0].owner_of(addr), Some("c0ffee"));
    assert_eq!(net.nodes[0].lookup("c0ffee", cidr(s).range()), [cidr("10.0.3.1/26")]);
    assert!(net.nodes[0].lookup("10.0.3.1", cidr(s).range()).is_empty());
    // Still allocated: a new request gets another address.
    let b = net.allocate(0, "other", s);
    assert_ne!(net.allocated(0, b), addr);
    // Unknown addresses are refused and change nothing.
    assert!(net.nodes[0].transfer(ip("10.0.3.40"), "c0ffee", true).is_err());
    // The container's death frees it after the grace period.
    net.nodes[0].container_died(net.now, "c0ffee");
    net.tick_all(Duration::from_secs(40));
    assert_eq!(net.nodes[0].owner_of(addr), None);
    net.nodes[0].check_invariants().unwrap();
}
