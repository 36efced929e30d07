//! Thousands of random and mutated DNS packets and gossip payloads go through the fuzz entry
//! points; none may panic, and their internal invariants (reply parses and fits, gossip round
//! trips) must hold.

mod common;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use weave_dns::{fuzz_answer, fuzz_gossip, Entry, GossipData};
use weave_wire::protocol::Message as MeshMessage;

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            2 => v.truncate(rng.random_range(0..=v.len())),
            3 => {
                let i = rng.random_range(0..=v.len());
                let extra: Vec<u8> = (0..rng.random_range(1..8)).map(|_| rng.random()).collect();
                v.splice(i..i, extra);
            }
            4 if v.len() > 2 => {
                let i = rng.random_range(0..v.len() - 1);
                v.remove(i);
            }
            _ => {
                // Interesting values: counts, lengths and pointers at random places.
                if !v.is_empty() {
                    let i = rng.random_range(0..v.len());
                    v[i] = [0x00, 0xff, 0xc0, 0x3f, 0x40, 0x80, 0x01][rng.random_range(0..7)];
                }
            }
        }
    }
    v
}

fn dns_seeds() -> Vec<Vec<u8>> {
    let q = |name: &str, t: RecordType| {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m
    };
    let mut seeds = vec![];
    for (name, t) in [
        ("c1.weave.local.", RecordType::A),
        ("MANY.weave.local.", RecordType::A),
        ("many.", RecordType::A),
        ("c1.weave.local.", RecordType::MX),
        ("1.0.32.10.in-addr.arpa.", RecordType::PTR),
        ("9.9.9.9.in-addr.arpa.", RecordType::PTR),
        ("example.com.", RecordType::AAAA),
        ("c1.weave.local.", RecordType::DS),
    ] {
        let m = q(name, t);
        seeds.push(m.to_vec().unwrap());
        let mut e = Edns::new();
        e.set_max_payload(700);
        let mut m = m.clone();
        m.set_edns(e);
        seeds.push(m.to_vec().unwrap());
    }
    let mut two = q("c1.weave.local.", RecordType::A);
    two.add_query(Query::query(Name::from_ascii("x.example.").unwrap(), RecordType::A));
    seeds.push(two.to_vec().unwrap());
    seeds.push(vec![0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    seeds
}

#[test]
fn dns_packets_never_panic() {
    let mut rng = StdRng::seed_from_u64(0xd45);
    let seeds = dns_seeds();
    let mut n = 0;
    for seed in &seeds {
        fuzz_answer(seed);
        n += 1;
    }
    for _ in 0..4000 {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        fuzz_answer(&mutate(&mut rng, seed));
        n += 1;
    }
    for _ in 0..1000 {
        let len = rng.random_range(0..80);
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        fuzz_answer(&bytes);
        n += 1;
    }
    assert_eq!(n, seeds.len() + 5000);
}

fn gossip_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![];
    for file in ["tcp-plain/a_to_b.hex", "tcp-plain/b_to_a.hex", "tcp-encrypted/weaver_to_peer.hex"] {
        for rec in common::load(file) {
            if !rec.comment.contains("channel=nameserver") {
                continue;
            }
            let body = if rec.encrypted { rec.body } else { rec.body[4..].to_vec() };
            match MeshMessage::decode(&body).unwrap().unwrap() {
                MeshMessage::Gossip(g) | MeshMessage::GossipBroadcast(g) => seeds.push(g.payload),
                other => panic!("{other:?}"),
            }
        }
    }
    let e = |h: &str, o: u64, v: i64, t: i64| Entry {
        version: v,
        tombstone: t,
        ..Entry::new(h, "cid", weave_wire::PeerName(o), std::net::Ipv4Addr::new(10, 32, 0, 1))
    };
    seeds.push(
        GossipData::new(
            0,
            vec![
                e("a.weave.local.", 0x02000000000a, 3, 0),
                e("B.weave.local.", 7, 1, 5),
                e("b.weave.local.", 7, 0, 0),
            ],
        )
        .encode(),
    );
    seeds
}

#[test]
fn gossip_payloads_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x605);
    let seeds = gossip_seeds();
    assert!(seeds.len() >= 11);
    for seed in &seeds {
        fuzz_gossip(seed);
    }
    for _ in 0..3000 {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        fuzz_gossip(&mutate(&mut rng, seed));
    }
    for _ in 0..500 {
        let len = rng.random_range(0..64);
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        fuzz_gossip(&bytes);
    }
}

/// A random label: mostly name-like, sometimes any bytes (dots, spaces, unprintables).
fn label(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(1..12);
    if rng.random_range(0..5) == 0 {
        (0..len).map(|_| rng.random()).collect()
    } else {
        (0..len).map(|_| b"abcXYZ019-."[rng.random_range(0..11)]).collect()
    }
}

fn random_name(rng: &mut StdRng) -> Name {
    let mut labels: Vec<Vec<u8>> = (0..rng.random_range(0..4)).map(|_| label(rng)).collect();
    match rng.random_range(0..4) {
        0 => labels.extend([b"weave".to_vec(), b"local".to_vec()]),
        1 => labels.extend([b"in-addr".to_vec(), b"ARPA".to_vec()]),
        2 => {
            labels = [10, 32, 0, rng.random_range(0..4)]
                .iter()
                .rev()
                .map(|o: &u8| o.to_string().into_bytes())
                .collect();
            labels.extend([b"in-addr".to_vec(), b"arpa".to_vec()]);
        }
        _ => {}
    }
    Name::from_labels(labels).unwrap_or_else(|_| Name::root())
}

/// Well-formed requests with random names, types, flags, opcodes, EDNS sizes and counts.
#[test]
fn random_wellformed_queries_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x9e7);
    let types =
        [RecordType::A, RecordType::AAAA, RecordType::PTR, RecordType::MX, RecordType::DS, RecordType::ANY];
    for _ in 0..3000 {
        let mut m = Message::new(rng.random(), MessageType::Query, OpCode::from_u8(rng.random_range(0..16)));
        m.metadata.recursion_desired = rng.random();
        m.metadata.checking_disabled = rng.random();
        for _ in 0..rng.random_range(0..3) {
            m.add_query(Query::query(random_name(&mut rng), types[rng.random_range(0..types.len())]));
        }
        if rng.random() {
            let mut e = Edns::new();
            e.set_max_payload(rng.random());
            m.set_edns(e);
        }
        fuzz_answer(&m.to_vec().unwrap());
    }
}

/// Well-formed gossip with random entries: ours and others', any versions and tombstones,
/// hostnames differing in case, duplicates, timestamps near and far.
#[test]
fn random_wellformed_gossip_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x90551);
    let hosts = [
        "c1.weave.local.",
        "C1.weave.local.",
        "many.weave.local.",
        "x.",
        "gone.weave.local.",
        "é.weave.local.",
    ];
    let origins = [0x02_00_00_00_00_0a, 0x02_00_00_00_00_0b, 0, u64::MAX];
    let numbers = [0, 1, 2, -1, i64::MAX, i64::MIN, 1_795_804_714];
    for _ in 0..1500 {
        let entries = (0..rng.random_range(0..12))
            .map(|_| Entry {
                version: numbers[rng.random_range(0..numbers.len())],
                tombstone: numbers[rng.random_range(0..numbers.len())],
                ..Entry::new(
                    hosts[rng.random_range(0..hosts.len())],
                    ["c1", "c-many", "c2", ""][rng.random_range(0..4)],
                    weave_wire::PeerName(origins[rng.random_range(0..origins.len())]),
                    std::net::Ipv4Addr::new(10, 32, rng.random_range(0..2), rng.random_range(0..3)),
                )
            })
            .collect();
        let ts = numbers[rng.random_range(0..numbers.len())];
        fuzz_gossip(&GossipData::new(ts, entries).encode());
    }
}
