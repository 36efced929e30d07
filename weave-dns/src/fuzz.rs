//! Entry points for fuzz targets and the robustness tests: feed arbitrary bytes through the DNS
//! answering path and the gossip path, checking invariants that must hold for any input.

use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use weave_wire::PeerName;

use crate::answer::{Action, Responder};
use crate::entries::Entries;
use crate::gossip::GossipData;
use crate::message::{parse, reply_limit, Transport};
use crate::names::DEFAULT_DOMAIN;
use crate::nameserver::Nameserver;

const US: PeerName = PeerName(0x02_00_00_00_00_0a);

/// A small fixed state: a name with many addresses, names differing in case, a tombstone.
pub(crate) fn fixture() -> Nameserver {
    let mut ns = Nameserver::new(US, DEFAULT_DOMAIN);
    for i in 0..60u8 {
        ns.add_entry("many.weave.local.", "c-many", Ipv4Addr::new(10, 32, 1, i), 1);
    }
    ns.add_entry("c1.weave.local.", "c1", Ipv4Addr::new(10, 32, 0, 1), 1);
    ns.add_entry("C1.weave.local.", "c1b", Ipv4Addr::new(10, 32, 0, 2), 1);
    ns.add_entry("gone.weave.local.", "c2", Ipv4Addr::new(10, 32, 0, 1), 1);
    ns.delete(None, Some("c2"), None, 2);
    ns
}

/// Answers `bytes` over UDP and TCP; replies must parse and respect the size limit, forwarding
/// helpers must cope with the same bytes as an upstream reply.
pub fn fuzz_answer(bytes: &[u8]) {
    let ns = fixture();
    let entries: &Entries = ns.entries();
    let responder = Responder::new(ns.domain(), 1);
    let mut rng = StdRng::seed_from_u64(bytes.len() as u64);
    for transport in [Transport::Udp, Transport::Tcp] {
        // The fast path answers exactly as the general one.
        let seed = rng.next_u64();
        let fast = crate::fast::answer(
            bytes,
            transport,
            "weave.local.",
            1,
            entries,
            &mut StdRng::seed_from_u64(seed),
        );
        if let Some(fast) = fast {
            match responder.answer_general(bytes, transport, entries, &mut StdRng::seed_from_u64(seed)) {
                Action::Reply(general) => assert_eq!(fast, general, "fast path differs for {bytes:02x?}"),
                other => panic!("fast path answered what the general path does not: {other:?}"),
            }
        }
        match responder.answer(bytes, transport, entries, &mut rng) {
            Action::Reply(out) => {
                let limit = parse(bytes).map_or(512, |m| reply_limit(&m, transport));
                assert!(out.len() <= limit, "reply of {} bytes over limit {limit}", out.len());
                assert!(parse(&out).is_some(), "our reply does not parse: {out:02x?}");
            }
            Action::Forward(f) => {
                let q = f.query(&mut rng);
                assert_eq!(q.bytes.len(), bytes.len());
                let mut reply = bytes.to_vec();
                reply[..2].copy_from_slice(&q.id.to_be_bytes());
                if let Some(out) = f.accept(&q, &reply) {
                    assert_eq!(out[..2], f.request().metadata.id.to_be_bytes());
                }
                assert!(parse(&f.servfail()).is_some());
            }
            Action::Drop => {}
        }
    }
}

/// Decodes `bytes` as `nameserver` gossip; what decodes must survive a round trip, and every
/// callback must accept or reject it without panicking.
pub fn fuzz_gossip(bytes: &[u8]) {
    let mut ns = fixture();
    let _ = ns.on_gossip(bytes, 0, |_| true);
    if let Ok(g) = GossipData::decode(bytes) {
        let again = GossipData::decode(&g.encode()).expect("re-encoded gossip decodes");
        assert_eq!(again, g);
        let now = g.timestamp;
        let _ = ns.on_gossip(bytes, now, |_| true);
        let _ = ns.on_gossip_broadcast(PeerName(1), bytes, now, |p| p.0 % 2 == 0);
        let _ = ns.on_gossip_unicast(PeerName(1), bytes);
        for e in g.entries.iter().take(4) {
            ns.peer_gone(e.origin);
        }
        ns.purge_tombstones(now.wrapping_add(3600));
        let _ = ns.name_json();
        let _ = ns.gossip(now).encode();
    }
}
