//! Ported in spirit from Weave's ring_test.go, plus a fuzz of merges.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;

const P1: PeerName = PeerName(0x01_00_00_00_02_00);
const P2: PeerName = PeerName(0x02_00_00_00_02_00);
const P3: PeerName = PeerName(0x03_00_00_00_02_00);

fn ip(s: &str) -> Address {
    s.parse().unwrap()
}

fn start() -> Address {
    ip("10.0.0.0")
}
fn end() -> Address {
    ip("10.0.1.0")
}
fn middle() -> Address {
    ip("10.0.0.128")
}
fn dot10() -> Address {
    ip("10.0.0.10")
}
fn dot245() -> Address {
    ip("10.0.0.245")
}
fn dot250() -> Address {
    ip("10.0.0.250")
}

fn e(token: Address, peer: PeerName, version: u32, free: u32) -> Entry {
    Entry { token, peer, version, free }
}

fn ring(peer: PeerName) -> Ring {
    Ring::new(start(), end(), peer).unwrap()
}

fn claim_it_all(r: &mut Ring) {
    let p = r.peer;
    r.claim_for_peers(&[p]).unwrap();
}

/// As ring_test.go's merge helper: "has allocations" = our entry reports less free than it spans.
fn merge(r1: &mut Ring, r2: &Ring) -> Result<bool, RingError> {
    let snapshot = r1.clone();
    let check = move |rs: &[Range]| {
        rs.iter().any(|r| snapshot.get(r.start).is_some_and(|e| e.free < snapshot.distance(r.start, r.end)))
    };
    r1.merge(r2, &check)
}

#[test]
fn invariants() {
    let mut r = ring(P1);
    r.entries = vec![e(dot245(), P1, 0, 0), e(dot10(), P2, 0, 0)];
    assert_eq!(r.check_invariants(), Err(RingError::NotSorted));
    r.entries = vec![e(dot245(), P1, 0, 0), e(dot245(), P2, 0, 0)];
    assert_eq!(r.check_invariants(), Err(RingError::TokenRepeated));
    let mut r = Ring::new(dot10(), dot245(), P1).unwrap();
    r.entries = vec![e(start(), P1, 0, 0)];
    assert_eq!(r.check_invariants(), Err(RingError::TokenOutOfRange));
    r.entries = vec![e(end(), P1, 0, 0)];
    assert_eq!(r.check_invariants(), Err(RingError::TokenOutOfRange));
    let mut r = ring(P1);
    r.entries = vec![e(start(), P1, 0, 257)];
    assert!(matches!(r.check_invariants(), Err(RingError::TooMuchFree { free: 257, distance: 256, .. })));
    assert!(Ring::new(end(), start(), P1).is_err());
}

#[test]
fn insert_and_range_info() {
    let mut r = ring(P1);
    r.entries = vec![e(start(), P1, 0, 255)];
    assert!(!r.insert(e(start(), P1, 0, 0)), "duplicate token refused");
    r.entries[0].free = 0;
    assert!(r.insert(e(dot245(), P1, 0, 0)));
    let info = |a, b| RangeInfo { peer: P1, range: Range { start: a, end: b }, version: 0 };
    assert_eq!(r.all_range_info(), [info(start(), dot245()), info(dot245(), end())]);
    assert!(r.insert(e(dot10(), P1, 0, 0)));
    assert_eq!(r.all_range_info(), [info(start(), dot10()), info(dot10(), dot245()), info(dot245(), end())]);
}

#[test]
fn grant_simple() {
    let mut r1 = ring(P1);
    claim_it_all(&mut r1);
    assert_eq!(r1.entries, [e(start(), P1, 0, 256)]);
    r1.grant_range_to_host(start(), end(), P2).unwrap();
    assert_eq!(r1.entries, [e(start(), P2, 1, 256)]);

    let mut r2 = ring(P2);
    r2.entries = r1.entries.clone();
    r2.grant_range_to_host(dot10(), end(), P1).unwrap();
    assert_eq!(r2.entries, [e(start(), P2, 2, 10), e(dot10(), P1, 0, 246)]);

    r1.entries = r2.entries.clone();
    r1.grant_range_to_host(dot245(), end(), P2).unwrap();
    assert_eq!(r1.entries, [e(start(), P2, 2, 10), e(dot10(), P1, 1, 235), e(dot245(), P2, 0, 11)]);

    // Spanning a live token.
    r1.entries = vec![e(start(), P1, 2, 10), e(dot10(), P1, 0, 235), e(dot245(), P1, 0, 10)];
    r1.grant_range_to_host(dot10(), end(), P2).unwrap();
    assert_eq!(r1.entries, [e(start(), P1, 2, 10), e(dot10(), P2, 1, 235), e(dot245(), P2, 1, 10)]);
}

#[test]
fn grant_split() {
    let mut r1 = ring(P1);
    let mut r2 = ring(P2);
    r1.entries = vec![e(start(), P1, 0, 256)];
    merge(&mut r2, &r1).unwrap();
    assert_eq!(r2.entries, r1.entries);

    r1.grant_range_to_host(dot10(), dot245(), P2).unwrap();
    assert_eq!(r1.entries, [e(start(), P1, 1, 10), e(dot10(), P2, 0, 235), e(dot245(), P1, 0, 11)]);
    r1.check_invariants().unwrap();

    r1.entries = vec![e(start(), P1, 2, 10), e(dot10(), P1, 0, 118), e(middle(), P1, 0, 127)];
    r1.grant_range_to_host(dot10(), dot245(), P2).unwrap();
    assert_eq!(
        r1.entries,
        [e(start(), P1, 2, 10), e(dot10(), P2, 1, 118), e(middle(), P2, 1, 117), e(dot245(), P1, 0, 11)]
    );
    r1.check_invariants().unwrap();
}

#[test]
fn grant_refuses_bad_preconditions() {
    let mut r = ring(P1);
    assert!(r.grant_range_to_host(start(), end(), P2).is_err(), "empty ring");
    r.entries = vec![e(start(), P1, 0, 128), e(middle(), P2, 0, 128)];
    let before = r.clone();
    assert!(r.grant_range_to_host(dot10(), dot245(), P3).is_err(), "spans P2's token");
    assert!(r.grant_range_to_host(dot245(), dot10(), P3).is_err(), "start after end");
    assert!(r.grant_range_to_host(start(), ip("10.0.1.1"), P3).is_err(), "past the end");
    assert_eq!(r, before);
}

#[test]
fn merge_simple() {
    let mut r1 = ring(P1);
    let mut r2 = ring(P2);
    claim_it_all(&mut r1);
    r1.grant_range_to_host(middle(), end(), P2).unwrap();
    assert!(merge(&mut r2, &r1).unwrap());
    assert_eq!(r1.entries, [e(start(), P1, 1, 128), e(middle(), P2, 0, 128)]);
    assert_eq!(r2.entries, r1.entries);
    assert_eq!(r2.seeds, [P1]);

    r1.grant_range_to_host(start(), middle(), P2).unwrap();
    r2.grant_range_to_host(middle(), end(), P1).unwrap();
    merge(&mut r2, &r1).unwrap();
    merge(&mut r1, &r2).unwrap();
    assert_eq!(r1.entries, [e(start(), P2, 2, 128), e(middle(), P1, 1, 128)]);
    assert_eq!(r2.entries, r1.entries);
}

#[test]
fn merge_with_conflicts() {
    let case = |mine: Vec<Entry>, theirs: Vec<Entry>| {
        let (mut r1, mut r2) = (ring(P1), ring(P2));
        r1.entries = mine;
        r2.entries = theirs;
        merge(&mut r1, &r2)
    };
    // Same token and version, different content, no allocations: higher free wins.
    assert!(case(vec![e(start(), P1, 1, 256)], vec![e(start(), P2, 1, 256)]).is_ok());
    // ... with allocations on our side: refused.
    assert_eq!(
        case(vec![e(start(), P1, 1, 128)], vec![e(start(), P2, 1, 256)]).unwrap_err().to_string(),
        "Inconsistent entries for 10.0.0.0: owned by 01:00:00:00:02:00 but incoming message says 02:00:00:00:02:00"
    );
    // A newer version of our own entry that is still ours.
    assert!(case(vec![e(start(), P1, 0, 0)], vec![e(start(), P1, 1, 0)]).is_ok());
    // A newer version giving our empty range away: accepted.
    assert!(case(vec![e(start(), P1, 0, 256)], vec![e(start(), P2, 1, 256)]).is_ok());
    // ... but not if we have allocations there.
    assert_eq!(
        case(vec![e(start(), P1, 0, 128)], vec![e(start(), P2, 1, 0)]).unwrap_err().to_string(),
        "Received update for IP range I own at 10.0.0.0 v0: incoming message says owner 02:00:00:00:02:00 v1"
    );
    // A split of our empty range giving part of it away: accepted.
    assert!(case(vec![e(start(), P1, 1, 256)], vec![e(start(), P1, 2, 128), e(middle(), P2, 0, 128)]).is_ok());
}

#[test]
fn newer_version_of_own_entry_is_re_bumped() {
    let (mut r1, mut r2) = (ring(P1), ring(P2));
    r1.entries = vec![e(start(), P1, 3, 100)];
    r2.entries = vec![e(start(), P1, 7, 256)];
    assert!(!merge(&mut r1, &r2).unwrap(), "Weave does not count this as an update");
    assert_eq!(r1.entries, [e(start(), P1, 8, 100)]);
}

#[test]
fn merge_errors() {
    let mut r1 = ring(P1);
    let mut r2 = ring(P2);
    r2.entries = vec![e(middle(), P2, 0, 0), e(start(), P2, 0, 0)];
    assert_eq!(merge(&mut r1, &r2), Err(RingError::NotSorted));

    let mut r2 = Ring::new(start(), middle(), P2).unwrap();
    assert_eq!(merge(&mut r1, &r2), Err(RingError::DifferentRange));

    r1.seeds = vec![P1];
    r2 = ring(P2);
    r2.seeds = vec![P2];
    assert_eq!(merge(&mut r1, &r2), Err(RingError::DifferentSeeds));
    r1.seeds.clear();

    // Same version, different hosts, ours has "allocations" (free 0 < size).
    r1.entries = vec![e(start(), P1, 0, 0)];
    r2.entries = vec![e(start(), P2, 0, 0)];
    assert!(merge(&mut r1, &r2).is_err());

    // A token inside a range we own with allocations.
    r1.entries = vec![e(start(), P1, 0, 0)];
    r2.entries = vec![e(middle(), P2, 0, 0)];
    assert_eq!(
        merge(&mut r1, &r2).unwrap_err().to_string(),
        "Peer 02:00:00:00:02:00 says it owns the IP range from 10.0.0.128, which I think I own"
    );
    assert_eq!(r1.entries, [e(start(), P1, 0, 0)], "unchanged on error");
}

#[test]
fn merge_more_and_no_op() {
    let mut r1 = ring(P1);
    let mut r2 = ring(P2);
    claim_it_all(&mut r1);
    assert!(merge(&mut r2, &r1).unwrap());
    assert_eq!(r2.entries, [e(start(), P1, 0, 256)]);
    r1.grant_range_to_host(start(), end(), P2).unwrap();
    merge(&mut r2, &r1).unwrap();
    assert_eq!(r2.entries, [e(start(), P2, 1, 256)]);
    r2.grant_range_to_host(middle(), end(), P1).unwrap();
    assert_eq!(r2.entries, [e(start(), P2, 2, 128), e(middle(), P1, 0, 128)]);
    merge(&mut r1, &r2).unwrap();
    assert_eq!(r1.entries, r2.entries);
    assert!(!merge(&mut r2, &r1).unwrap(), "no-op");
    assert_eq!(r1.entries, r2.entries);
}

#[test]
fn merge_split() {
    let mut r1 = ring(P1);
    let mut r2 = ring(P2);
    r1.entries = vec![e(start(), P2, 0, 250), e(dot250(), P2, 0, 5)];
    merge(&mut r2, &r1).unwrap();
    r2.grant_range_to_host(dot10(), dot245(), P1).unwrap();
    let want = [e(start(), P2, 1, 10), e(dot10(), P1, 0, 235), e(dot245(), P2, 0, 5), e(dot250(), P2, 0, 5)];
    assert_eq!(r2.entries, want);
    merge(&mut r1, &r2).unwrap();
    assert_eq!(r1.entries, want);
}

#[test]
fn merge_edge_cases() {
    // Empty gossip into a full ring.
    let mut r1 = ring(P1);
    claim_it_all(&mut r1);
    assert!(!merge(&mut r1, &ring(P2)).unwrap());
    // An old message after we split our own range.
    let mut r2 = ring(P2);
    merge(&mut r2, &r1).unwrap();
    r1.grant_range_to_host(middle(), end(), P1).unwrap();
    merge(&mut r1, &r2).unwrap();
    // Split at the very beginning.
    let (mut r1, mut r2) = (ring(P1), ring(P2));
    claim_it_all(&mut r1);
    merge(&mut r2, &r1).unwrap();
    r1.grant_range_to_host(start(), middle(), P2).unwrap();
    merge(&mut r2, &r1).unwrap();
    assert_eq!(r2.owned_ranges(), [Range { start: start(), end: middle() }]);
}

#[test]
fn find_free_peers() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut r = ring(P1);
    let mut ask = |r: &Ring, a, b| r.choose_peers_to_ask_for_space(a, b, &mut rng);
    assert!(ask(&r, start(), end()).is_empty());
    r.entries = vec![e(start(), P1, 0, 0)];
    assert!(ask(&r, start(), end()).is_empty());
    r.report_free([(start(), 10)].into()).unwrap();
    assert!(ask(&r, start(), end()).is_empty(), "never ourselves");
    r.entries = vec![e(start(), P2, 0, 1)];
    assert_eq!(ask(&r, start(), end()), [P2]);
    r.entries = vec![e(start(), P2, 0, 1), e(middle(), P3, 0, 1)];
    assert_eq!(ask(&r, start(), middle()), [P2]);
    assert_eq!(ask(&r, middle(), end()), [P3]);
    assert_eq!(ask(&r, start(), end()).len(), 2);
}

#[test]
fn weighted_choice_prefers_more_space() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut r = ring(P1);
    r.entries = vec![e(start(), P2, 0, 120), e(middle(), P3, 0, 8)];
    let first_p2 =
        (0..1000).filter(|_| r.choose_peers_to_ask_for_space(start(), end(), &mut rng)[0] == P2).count();
    assert!(first_p2 > 900, "{first_p2}");
}

#[test]
fn report_free() {
    let mut r1 = ring(P1);
    claim_it_all(&mut r1);
    r1.grant_range_to_host(middle(), end(), P2).unwrap();
    let mut r2 = ring(P2);
    merge(&mut r2, &r1).unwrap();
    let free = r2.owned_ranges().iter().map(|r| (r.start, 0)).collect();
    assert!(r2.report_free(free).unwrap());
    assert_eq!(r2.entries[1], e(middle(), P2, 1, 0));
    // Not ours, or too much: refused.
    assert!(r2.report_free([(start(), 1)].into()).is_err());
    assert!(r2.report_free([(middle(), 129)].into()).is_err());
    // The wrapped range is reported in two parts and summed onto the last token.
    let mut r = ring(P1);
    r.entries = vec![e(middle(), P1, 0, 256)];
    assert_eq!(
        r.owned_ranges(),
        [Range { start: start(), end: middle() }, Range { start: middle(), end: end() }]
    );
    assert!(r.report_free([(start(), 100), (middle(), 100)].into()).unwrap());
    assert_eq!(r.entries, [e(middle(), P1, 1, 200)]);
}

#[test]
fn owned_ranges() {
    let mut r1 = ring(P1);
    claim_it_all(&mut r1);
    assert_eq!(r1.owned_ranges(), [Range { start: start(), end: end() }]);
    r1.grant_range_to_host(middle(), end(), P2).unwrap();
    assert_eq!(r1.owned_ranges(), [Range { start: start(), end: middle() }]);
    let mut r2 = ring(P2);
    merge(&mut r2, &r1).unwrap();
    assert_eq!(r2.owned_ranges(), [Range { start: middle(), end: end() }]);
    r2.entries = vec![e(dot10(), P2, 0, 0), e(middle(), P2, 0, 0)];
    assert_eq!(
        r2.owned_ranges(),
        [
            Range { start: start(), end: dot10() },
            Range { start: dot10(), end: middle() },
            Range { start: middle(), end: end() }
        ]
    );
}

#[test]
fn transfer_bumps_versions_by_100() {
    let mut r1 = ring(P1);
    claim_it_all(&mut r1);
    r1.grant_range_to_host(middle(), end(), P2).unwrap();
    let moved = r1.transfer(P2, P1);
    assert_eq!(moved, [Range { start: middle(), end: end() }]);
    assert_eq!(r1.entries, [e(start(), P1, 1, 128), e(middle(), P1, 100, 128)]);
    assert_eq!(
        r1.owned_ranges(),
        [Range { start: start(), end: middle() }, Range { start: middle(), end: end() }]
    );
    // A transferred token at the end of a range is reused by a later grant.
    r1.grant_range_to_host(dot10(), middle(), P2).unwrap();
    assert_eq!(
        r1.owned_ranges(),
        [Range { start: start(), end: dot10() }, Range { start: middle(), end: end() }]
    );
    assert!(r1.transfer(P3, P1).is_empty());
}

#[test]
fn owner_and_peer_names() {
    let mut r1 = ring(P1);
    assert!(r1.contains(start()) && !r1.contains(end()));
    assert_eq!(r1.owner(start()), None);
    claim_it_all(&mut r1);
    r1.grant_range_to_host(middle(), end(), P2).unwrap();
    assert_eq!(r1.owner(start()), Some(P1));
    assert_eq!(r1.owner(middle()), Some(P2));
    assert_eq!(r1.owner(end()), None);
    assert_eq!(r1.peer_names(), [P1, P2].into());
    assert_eq!(r1.pick_peer_for_transfer(|_| true), Some(P2));
    assert_eq!(r1.pick_peer_for_transfer(|p| p == P3), None);
}

#[test]
fn split_of_12_slash_between_two_peers() {
    let a = PeerName(0x02_00_00_00_00_0a);
    let b = PeerName(0x02_00_00_00_00_0b);
    let mut r = Ring::new(ip("10.32.0.0"), ip("10.48.0.0"), a).unwrap();
    r.claim_for_peers(&[a, b]).unwrap();
    assert_eq!(r.entries, [e(ip("10.32.0.0"), a, 0, 1 << 19), e(ip("10.40.0.0"), b, 0, 1 << 19)]);
    assert_eq!(r.owned_ranges(), [Range { start: ip("10.32.0.0"), end: ip("10.40.0.0") }]);
    assert_eq!(r.owned_ranges_of_peer(b), [Range { start: ip("10.40.0.0"), end: ip("10.48.0.0") }]);
    assert_eq!(r.seeds, [a, b]);
    assert!(r.claim_for_peers(&[a]).is_err(), "only on an empty ring");
}

#[test]
fn claim_for_peers_small_ranges() {
    let peers: Vec<PeerName> = (0..12).map(|i| PeerName(0xff + (i << 40))).collect();
    for n in 1..=peers.len() {
        let mut r = Ring::new(start(), ip("10.0.0.8"), peers[0]).unwrap();
        r.claim_for_peers(&peers[..n]).unwrap();
        r.check_invariants().unwrap();
    }
    // Three peers on a /22: CIDR-aligned blocks.
    let mut r = Ring::new(ip("10.0.4.0"), ip("10.0.8.0"), P1).unwrap();
    r.claim_for_peers(&[P1, P2, P3]).unwrap();
    let tokens: Vec<String> = r.entries.iter().map(|e| e.token.to_string()).collect();
    assert_eq!(tokens, ["10.0.4.0", "10.0.6.0", "10.0.7.0"]);
    assert!(ring(P1).claim_for_peers(&[]).is_err());
}

/// Random valid and invalid rings merged into each other: errors allowed, panics and broken
/// invariants not (Weave's TestFuzzRing).
#[test]
fn fuzz_merge_never_breaks_invariants() {
    let mut rng = StdRng::seed_from_u64(42);
    let peers: Vec<PeerName> = (0..25).map(|i| PeerName(0xff + (i << 40))).collect();
    let random_ring = |sorted: bool, rng: &mut StdRng| {
        let n = rng.random_range(0..256);
        let mut tokens: Vec<u32> = (0..n).map(|_| rng.random_range(0..256)).collect();
        if sorted {
            tokens.sort();
            tokens.dedup();
        }
        let mut r = ring(peers[rng.random_range(0..peers.len())]);
        for t in tokens {
            let peer = peers[rng.random_range(0..peers.len())];
            r.entries.push(e(start().offset(t), peer, rng.random_range(0..3), 0));
        }
        r
    };
    for i in 0..2000 {
        let mut r1 = random_ring(true, &mut rng);
        let r2 = random_ring(i % 2 == 0, &mut rng);
        let _ = merge(&mut r1, &r2);
        r1.check_invariants().unwrap();
    }
}

/// Many rings granting and gossiping at random, with transfers (Weave's TestFuzzRingHard, smaller).
#[test]
fn fuzz_grants_and_gossip_always_merge() {
    let mut rng = StdRng::seed_from_u64(3);
    let peers: Vec<PeerName> = (0..30).map(|i| PeerName(0xff + (i << 40))).collect();
    let mut rings: Vec<Ring> = peers.iter().map(|&p| ring(p)).collect();
    claim_it_all(&mut rings[0]);
    for _ in 0..3000 {
        let i = rng.random_range(0..rings.len());
        let owned = rings[i].owned_ranges();
        if !owned.is_empty() && rng.random_bool(0.5) {
            let r = owned[rng.random_range(0..owned.len())];
            let at = r.start.offset(rng.random_range(0..r.size()));
            let to = peers[rng.random_range(0..peers.len())];
            rings[i].grant_range_to_host(at, r.end, to).unwrap();
        }
        let j = rng.random_range(0..rings.len());
        let src = rings[i].clone();
        merge(&mut rings[j], &src).unwrap();
        rings[j].check_invariants().unwrap();
    }
    // Gossip everything everywhere: all rings converge.
    for _ in 0..2 {
        for i in 0..rings.len() {
            for j in 0..rings.len() {
                let src = rings[i].clone();
                merge(&mut rings[j], &src).unwrap();
            }
        }
    }
    assert!(rings.iter().all(|r| r.entries == rings[0].entries));
}

/// Weave's merge checks miss two shapes only hostile rings have; the final check still refuses
/// to give away an allocated address.
#[test]
fn merge_never_gives_away_allocated_addresses() {
    let allocated = |addr: Address| move |rs: &[Range]| rs.iter().any(|r| r.contains(addr));
    // A token before our first one, inside the range our last entry wraps round to.
    let (mut r1, mut r2) = (ring(P1), ring(P2));
    r1.entries = vec![e(middle(), P1, 0, 255)];
    r2.entries = vec![e(dot10(), P2, 0, 0)];
    let err = r1.merge(&r2, &allocated(ip("10.0.0.50"))).unwrap_err();
    assert_eq!(err, RingError::EntryInMyRange { token: dot10(), theirs: P2 });
    assert_eq!(r1.entries, [e(middle(), P1, 0, 255)]);
    assert!(r1.merge(&r2, &allocated(ip("10.0.0.5"))).unwrap(), "nothing handed out there: accepted");

    // An unknown token of ours, then a foreign one splitting our range.
    let mut r1 = ring(P1);
    r1.entries = vec![e(start(), P1, 0, 255)];
    r2.entries = vec![e(start(), P1, 0, 128), e(middle(), P1, 0, 0), e(dot245(), P2, 0, 0)];
    let err = r1.merge(&r2, &allocated(ip("10.0.0.250"))).unwrap_err();
    assert_eq!(err, RingError::EntryInMyRange { token: dot245(), theirs: P2 });
}
