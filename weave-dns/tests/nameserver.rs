//! The Nameserver state machine: local changes, Weave's receive rules (clock skew, unknown
//! origins, "entries from us"), merge, purge, peer departure, and a simulated cluster that must
//! converge (after Weave's nameserver_test.go and entry_test.go).

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use common::{ip, HOST_A, HOST_B};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use weave_dns::{Entry, GossipData, GossipError, Nameserver, GOSSIP_WINDOW_SECS, TOMBSTONE_TIMEOUT_SECS};
use weave_wire::PeerName;

const NOW: i64 = 1_795_804_714;

fn all(_: PeerName) -> bool {
    true
}

fn ns_a() -> Nameserver {
    Nameserver::new(HOST_A, "weave.local")
}

fn entry(host: &str, cid: &str, origin: PeerName, addr: &str, version: i64, tombstone: i64) -> Entry {
    Entry { version, tombstone, ..Entry::new(host, cid, origin, ip(addr)) }
}

fn send(entries: Vec<Entry>, ts: i64) -> Vec<u8> {
    GossipData::new(ts, entries).encode()
}

#[test]
fn add_broadcasts_the_entry_and_resurrects_tombstones() {
    let mut a = ns_a();
    assert_eq!(a.domain(), "weave.local.");
    let g = a.add_entry("hostname.weave.local.", "cid", ip("10.32.0.1"), NOW);
    assert_eq!(g.timestamp, NOW);
    assert_eq!(g.entries.to_vec(), [entry("hostname.weave.local.", "cid", HOST_A, "10.32.0.1", 0, 0)]);
    assert_eq!(a.lookup("HOSTNAME.weave.local."), [ip("10.32.0.1")]);

    let g = a.container_died("cid", NOW + 1).unwrap();
    assert_eq!(g.entries.to_vec(), [entry("hostname.weave.local.", "cid", HOST_A, "10.32.0.1", 1, NOW + 1)]);
    assert!(a.lookup("hostname.weave.local.").is_empty());
    assert!(a.container_died("cid", NOW + 2).is_none(), "nothing left to tombstone");

    let g = a.add_entry("hostname.weave.local.", "cid", ip("10.32.0.1"), NOW + 3);
    assert_eq!(g.entries.to_vec(), [entry("hostname.weave.local.", "cid", HOST_A, "10.32.0.1", 2, 0)]);
    assert_eq!(a.lookup("hostname.weave.local."), [ip("10.32.0.1")]);
    // Re-adding a live entry changes nothing but is broadcast again.
    let g = a.add_entry("hostname.weave.local.", "cid", ip("10.32.0.1"), NOW + 4);
    assert_eq!(g.entries.to_vec()[0].version, 2);
    assert_eq!(a.entries().len(), 1);
}

#[test]
fn fqdn_registration_is_limited_to_the_domain() {
    let mut a = ns_a();
    let g = a.add_entry_fqdn("c1.weave.local", "cid", ip("10.32.0.1"), NOW).unwrap();
    assert_eq!(g.entries.to_vec()[0].hostname, "c1.weave.local.");
    assert!(a.add_entry_fqdn("c1.example.com.", "cid", ip("10.32.0.1"), NOW).is_none());
    assert!(a.add_entry_fqdn("weave.local", "cid", ip("10.32.0.1"), NOW).is_some());
    assert!(a.add_entry_fqdn("X.WEAVE.LOCAL.", "cid", ip("10.32.0.1"), NOW).is_some());
    assert_eq!(a.entries().len(), 3);
    // An empty domain (`.`) accepts everything, as Weave's tests use it.
    let mut any = Nameserver::new(HOST_A, "");
    assert!(any.add_entry_fqdn("c1.example.com", "cid", ip("10.32.0.1"), NOW).is_some());
}

#[test]
fn delete_with_wildcards_only_touches_our_entries() {
    let mut a = ns_a();
    a.add_entry("x.weave.local.", "c1", ip("10.32.0.1"), NOW);
    a.add_entry("x.weave.local.", "c1", ip("10.32.0.2"), NOW);
    a.add_entry("y.weave.local.", "c1", ip("10.32.0.3"), NOW);
    a.add_entry("y.weave.local.", "c2", ip("10.32.0.4"), NOW);
    // B's entry with the same name arrives by gossip.
    let b_entry = entry("x.weave.local.", "c1", HOST_B, "10.40.0.1", 0, 0);
    a.on_gossip(&send(vec![b_entry], NOW), NOW, all).unwrap();

    let g = a.delete(None, None, Some(ip("10.32.0.2")), NOW + 1).unwrap();
    assert_eq!(g.entries.len(), 1);
    assert_eq!(a.lookup("x.weave.local."), [ip("10.32.0.1"), ip("10.40.0.1")]);

    // Hostnames compare exactly (case-sensitively), as Weave's Delete does.
    assert!(a.delete(Some("X.weave.local."), None, None, NOW + 2).is_none());
    let g = a.delete(Some("x.weave.local."), None, None, NOW + 2).unwrap();
    assert_eq!(g.entries.to_vec(), [entry("x.weave.local.", "c1", HOST_A, "10.32.0.1", 1, NOW + 2)]);
    assert_eq!(a.lookup("x.weave.local."), [ip("10.40.0.1")], "B's entry is not ours to delete");

    let g = a.delete(None, Some("c2"), None, NOW + 3).unwrap();
    assert_eq!(g.entries.to_vec()[0].addr, ip("10.32.0.4"));
    let g = a.delete(None, None, None, NOW + 4).unwrap();
    assert_eq!(g.entries.to_vec(), [entry("y.weave.local.", "c1", HOST_A, "10.32.0.3", 1, NOW + 4)]);
    assert!(a.delete(None, None, None, NOW + 5).is_none());
    assert_eq!(a.entries().len(), 5, "tombstones are kept");
}

#[test]
fn peer_gone_forgets_without_tombstones() {
    let mut a = ns_a();
    a.add_entry("hostname", "containerid", ip("0.0.0.0"), NOW);
    let theirs = entry("b.weave.local.", "cb", HOST_B, "10.40.0.1", 3, 0);
    a.on_gossip(&send(vec![theirs], NOW), NOW, all).unwrap();
    a.peer_gone(HOST_B);
    assert!(a.lookup("b.weave.local.").is_empty());
    assert_eq!(a.entries().len(), 1);
    a.peer_gone(HOST_A);
    assert!(a.lookup("hostname").is_empty());
    assert!(a.entries().is_empty());
    assert_eq!(a.name_json(), "[]\n");
}

#[test]
fn tombstones_are_purged_after_thirty_minutes() {
    let mut a = ns_a();
    a.add_entry("hostname", "containerid", ip("0.0.0.0"), 1234);
    a.purge_tombstones(1234 + 10 * TOMBSTONE_TIMEOUT_SECS);
    assert_eq!(a.lookup("hostname"), [ip("0.0.0.0")], "live entries stay");
    a.delete(Some("hostname"), Some("containerid"), None, 1234).unwrap();
    assert_eq!(a.entries().to_vec(), [entry("hostname", "containerid", HOST_A, "0.0.0.0", 1, 1234)]);
    a.purge_tombstones(1234 + TOMBSTONE_TIMEOUT_SECS);
    assert_eq!(a.entries().len(), 1);
    a.purge_tombstones(1234 + TOMBSTONE_TIMEOUT_SECS + 1);
    assert!(a.entries().is_empty());
}

#[test]
fn clock_skew_is_rejected_with_weaves_message() {
    let mut a = ns_a();
    let e = entry("b.weave.local.", "cb", HOST_B, "10.40.0.1", 0, 0);
    for delta in [-GOSSIP_WINDOW_SECS, 0, GOSSIP_WINDOW_SECS] {
        assert!(a.on_gossip(&send(vec![e.clone()], NOW + delta), NOW, all).is_ok());
    }
    let err = a.on_gossip(&send(vec![e.clone()], NOW + 901), NOW, all).unwrap_err();
    assert_eq!(err, GossipError::ClockSkew { delta: 901, limit: 900 });
    assert_eq!(err.to_string(), "host clock skew of 901s exceeds 900s limit");
    let err = a.on_gossip_broadcast(HOST_B, &send(vec![e], NOW - 5000), NOW, all).unwrap_err();
    assert_eq!(err.to_string(), "host clock skew of -5000s exceeds 900s limit");
    // Extreme timestamps wrap as in Go and are still rejected.
    assert!(a.on_gossip(&send(vec![], i64::MIN), NOW, all).is_err());
}

#[test]
fn garbage_is_a_decode_error_and_unicasts_are_ignored() {
    let mut a = ns_a();
    assert!(matches!(a.on_gossip(b"\x03\xff\x81\x00", NOW, all), Err(GossipError::Decode(_))));
    assert!(matches!(a.on_gossip(&[], NOW, all), Err(GossipError::Decode(_))));
    assert_eq!(a.on_gossip_unicast(HOST_B, b"anything"), Ok(()));
}

#[test]
fn merge_rules_and_deltas() {
    let mut a = ns_a();
    let b = |v, t| entry("b.weave.local.", "cb", HOST_B, "10.40.0.1", v, t);
    let r = a.on_gossip(&send(vec![b(2, 0)], NOW), NOW, all).unwrap();
    assert_eq!(r.relay.unwrap().entries.to_vec(), [b(2, 0)]);
    // Lower version: no change, nothing to relay for gossip, but broadcasts are always relayed.
    let r = a.on_gossip(&send(vec![b(1, 99)], NOW), NOW, all).unwrap();
    assert!(r.relay.is_none());
    let r = a.on_gossip_broadcast(HOST_B, &send(vec![b(1, 99)], NOW), NOW, all).unwrap();
    assert_eq!(r.relay.unwrap(), GossipData::new(NOW, vec![b(1, 99)]));
    assert_eq!(a.entries().to_vec(), [b(2, 0)]);
    // Same version, larger tombstone wins.
    let r = a.on_gossip(&send(vec![b(2, 50)], NOW + 1), NOW, all).unwrap();
    let delta = r.relay.unwrap();
    assert_eq!((delta.timestamp, delta.entries.to_vec()), (NOW, vec![b(2, 50)]));
    assert!(a.on_gossip(&send(vec![b(2, 40)], NOW), NOW, all).unwrap().relay.is_none());
    // Higher version wins even with a smaller tombstone (resurrection).
    a.on_gossip(&send(vec![b(3, 0)], NOW), NOW, all).unwrap();
    assert_eq!(a.lookup("B.WEAVE.LOCAL."), [ip("10.40.0.1")]);
    // Only the new entries of a larger message are in the delta.
    let c = entry("c.weave.local.", "cc", HOST_B, "10.40.0.2", 0, 0);
    let r = a.on_gossip(&send(vec![b(3, 0), c.clone()], NOW), NOW, all).unwrap();
    assert_eq!(r.relay.unwrap().entries.to_vec(), [c]);
}

#[test]
fn entries_from_unknown_peers_are_dropped() {
    let mut a = ns_a();
    let stranger = PeerName(0x02_00_00_00_00_99);
    let msg = send(
        vec![
            entry("b.weave.local.", "cb", HOST_B, "10.40.0.1", 0, 0),
            entry("s.weave.local.", "cs", stranger, "10.48.0.1", 0, 0),
        ],
        NOW,
    );
    let r = a.on_gossip_broadcast(HOST_B, &msg, NOW, |p| p != stranger).unwrap();
    assert_eq!(r.relay.unwrap().entries.len(), 1);
    assert!(a.lookup("s.weave.local.").is_empty());
    assert_eq!(a.lookup("b.weave.local."), [ip("10.40.0.1")]);
}

#[test]
fn claims_about_our_entries_are_overridden_with_our_data() {
    let mut a = ns_a();
    a.add_entry("a.weave.local.", "ca", ip("10.32.0.1"), NOW); // version 0, live
    let ours = |v, t| entry("a.weave.local.", "ca", HOST_A, "10.32.0.1", v, t);

    // Same version, different tombstone: ours wins at version+1.
    let r = a.on_gossip(&send(vec![ours(0, 77)], NOW), NOW, all).unwrap();
    assert_eq!(r.broadcast.unwrap(), GossipData::new(NOW, vec![ours(1, 0)]));
    assert_eq!(r.relay.unwrap().entries.to_vec(), [ours(1, 0)]);
    assert_eq!(a.entries().to_vec(), [ours(1, 0)]);

    // A higher version claiming a tombstone: ours again, above it.
    let r = a.on_gossip_broadcast(HOST_B, &send(vec![ours(5, 99)], NOW), NOW, all).unwrap();
    assert_eq!(r.broadcast.unwrap().entries.to_vec(), [ours(6, 0)]);
    assert_eq!(r.relay.unwrap().entries.to_vec(), [ours(6, 0)], "the relayed data carries the fix");
    assert_eq!(a.lookup("a.weave.local."), [ip("10.32.0.1")]);

    // An older or identical claim is not a conflict.
    for claim in [ours(2, 99), ours(6, 0)] {
        let r = a.on_gossip(&send(vec![claim], NOW), NOW, all).unwrap();
        assert!(r.broadcast.is_none() && r.relay.is_none());
    }

    // A live entry we do not have: tombstoned now at version+1, broadcast.
    let ghost = entry("ghost.weave.local.", "cg", HOST_A, "10.32.0.9", 4, 0);
    let r = a.on_gossip(&send(vec![ghost], NOW), NOW + 5, |_| true).unwrap();
    let buried = entry("ghost.weave.local.", "cg", HOST_A, "10.32.0.9", 5, NOW + 5);
    assert_eq!(r.broadcast.unwrap().entries.to_vec(), std::slice::from_ref(&buried));
    assert!(a.lookup("ghost.weave.local.").is_empty());
    assert_eq!(a.entries().find_equal(&buried), Some(&buried));

    // An already tombstoned one we do not have is merged as it is, without a broadcast.
    let dead = entry("dead.weave.local.", "cd", HOST_A, "10.32.0.8", 2, NOW - 10);
    let r = a.on_gossip(&send(vec![dead.clone()], NOW), NOW, all).unwrap();
    assert!(r.broadcast.is_none());
    assert_eq!(r.relay.unwrap().entries.to_vec(), [dead]);
}

#[test]
fn full_state_gossip() {
    let mut a = ns_a();
    assert_eq!(a.gossip(NOW), GossipData::new(NOW, vec![]));
    a.add_entry("a.weave.local.", "ca", ip("10.32.0.1"), NOW);
    a.add_entry("b.weave.local.", "cb", ip("10.32.0.2"), NOW);
    a.delete(None, Some("cb"), None, NOW);
    let g = a.gossip(NOW + 30);
    assert_eq!(g.timestamp, NOW + 30);
    assert_eq!(&g.entries, a.entries());
    let mut b = Nameserver::new(HOST_B, "weave.local.");
    let r = b.on_gossip(&g.encode(), NOW + 30, all).unwrap();
    assert_eq!(r.relay.unwrap().entries.len(), 2);
    assert_eq!(b.entries(), a.entries());
}

/// A full mesh of nameservers exchanging broadcasts (and now and then full gossip), with random
/// adds, extra addresses, deletes and lookups; some extra peers randomly "lose" others. Every
/// well-connected peer must agree with the expected mappings after each step (as Weave's
/// TestNameservers).
#[test]
fn simulated_cluster_converges() {
    struct Net {
        nodes: Vec<Nameserver>,
        queue: VecDeque<(usize, GossipData)>,
    }
    impl Net {
        fn flush(&mut self, now: i64) {
            while let Some((from, g)) = self.queue.pop_front() {
                let (src, bytes) = (self.nodes[from].our_name(), g.encode());
                for i in (0..self.nodes.len()).filter(|&i| i != from) {
                    let r = self.nodes[i].on_gossip_broadcast(src, &bytes, now, all).unwrap();
                    if let Some(b) = r.broadcast {
                        self.queue.push_back((i, b));
                    }
                }
            }
        }
        fn gossip_round(&mut self, now: i64) {
            for from in 0..self.nodes.len() {
                let bytes = self.nodes[from].gossip(now).encode();
                for i in (0..self.nodes.len()).filter(|&i| i != from) {
                    let r = self.nodes[i].on_gossip(&bytes, now, all).unwrap();
                    if let Some(b) = r.broadcast {
                        self.queue.push_back((i, b));
                    }
                }
            }
            self.flush(now);
        }
    }

    let (good, bad) = (12usize, 3usize);
    let mut net = Net {
        nodes: (0..good + bad).map(|i| Nameserver::new(PeerName(0x02_0000_0000 + i as u64), "")).collect(),
        queue: VecDeque::new(),
    };
    let mut rng = StdRng::seed_from_u64(7);
    // hostname -> (origin index, address)
    let mut mappings: BTreeMap<String, Vec<(usize, Ipv4Addr)>> = BTreeMap::new();
    let mut now = NOW;
    let mut checks = 0;
    for step in 0..800 {
        now += 1;
        let r: f32 = rng.random();
        let node = rng.random_range(0..good);
        match r {
            r if r < 0.1 => {
                let bits: u64 = rng.random();
                let first = if bits & 1 == 0 { 'H' } else { 'h' };
                let second = if bits & 2 == 0 { 'O' } else { 'o' };
                let host = format!("{first}{second}stname{step}");
                let addr = Ipv4Addr::from(rng.random::<u32>() >> 1);
                let g = net.nodes[node].add_entry(&host, "", addr, now);
                net.queue.push_back((node, g));
                mappings.insert(host, vec![(node, addr)]);
            }
            r if r < 0.2 && !mappings.is_empty() => {
                let host = mappings.keys().nth(rng.random_range(0..mappings.len())).unwrap().clone();
                let addr = Ipv4Addr::from(rng.random::<u32>() >> 1);
                let g = net.nodes[node].add_entry(&host, "", addr, now);
                net.queue.push_back((node, g));
                mappings.get_mut(&host).unwrap().push((node, addr));
            }
            r if r < 0.3 && !mappings.is_empty() => {
                let host = mappings.keys().nth(rng.random_range(0..mappings.len())).unwrap().clone();
                let addrs = mappings.get_mut(&host).unwrap();
                if !addrs.is_empty() {
                    let (origin, addr) = addrs.remove(rng.random_range(0..addrs.len()));
                    if let Some(g) = net.nodes[origin].delete(Some(&host), None, Some(addr), now) {
                        net.queue.push_back((origin, g));
                    }
                }
            }
            r if r < 0.35 => {
                let victim = net.nodes[rng.random_range(0..good)].our_name();
                net.nodes[good + rng.random_range(0..bad)].peer_gone(victim);
            }
            _ => {}
        }
        net.flush(now);
        if step % 100 == 99 {
            net.gossip_round(now);
        }
        for (host, pairs) in &mappings {
            let mut want: Vec<Ipv4Addr> = pairs.iter().map(|p| p.1).collect();
            want.sort();
            for n in &net.nodes[..good] {
                let mut have = n.lookup(&host.to_ascii_uppercase());
                have.sort();
                assert_eq!(have, want, "step {step}, {host} on {}", n.our_name());
                checks += 1;
            }
            if let Some(&(_, addr)) = pairs.first() {
                // Some live entry for that address exists everywhere (names may share addresses).
                assert!(net.nodes[0].reverse_lookup(addr).is_some());
            }
        }
    }
    assert!(checks > 10_000, "{checks}");
}

weave_wire::gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct RawEntry = "Entry" {
        container_id: String = "ContainerID",
        origin: u64 = "Origin",
        addr: u32 = "Addr",
        hostname: String = "Hostname",
        version: i64 = "Version",
        tombstone: i64 = "Tombstone",
    }
}

weave_wire::gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct RawGossip = "GossipData" {
        timestamp: i64 = "Timestamp",
        entries: Vec<RawEntry> = "Entries",
    }
}

#[test]
fn duplicates_and_disorder_on_the_wire_are_tolerated() {
    // Weave panics on a message with duplicate identities; we keep the one a merge would keep.
    let raw = |v: i64, t: i64, h: &str| RawEntry {
        container_id: "cb".into(),
        origin: HOST_B.0,
        addr: u32::from(ip("10.40.0.1")),
        hostname: h.into(),
        version: v,
        tombstone: t,
    };
    let msg = RawGossip {
        timestamp: NOW,
        entries: vec![raw(1, 0, "z."), raw(3, 5, "b."), raw(3, 9, "b."), raw(2, 0, "b.")],
    };
    let mut enc = weave_wire::gob::Encoder::new();
    enc.encode_typed(&msg).unwrap();
    let bytes = enc.finish();
    let mut a = ns_a();
    let r = a.on_gossip(&bytes, NOW, all).unwrap();
    assert_eq!(
        r.relay.unwrap().entries.to_vec(),
        [entry("b.", "cb", HOST_B, "10.40.0.1", 3, 9), entry("z.", "cb", HOST_B, "10.40.0.1", 1, 0)]
    );
    // Trailing data after the value is ignored, as by Go's Decode.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&bytes);
    assert!(a.on_gossip(&longer, NOW, all).is_ok());
}
