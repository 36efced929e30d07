//! Every `nameserver` gossip message captured from real Weave Net 2.8 routers decodes to the
//! values in its comment line, re-encodes to equal values, and drives a `Nameserver` as Weave's
//! would. Also: `GET /name` JSON equals the captured body.

mod common;

use common::{ip, load, read, HOST_A, HOST_B};
use weave_dns::{Entry, GossipData, Nameserver, CHANNEL};
use weave_wire::gob::{Decoder, WireType};
use weave_wire::protocol::Message;
use weave_wire::PeerName;

struct Captured {
    tag: u8,
    src: PeerName,
    payload: Vec<u8>,
    /// The comment's rendering of the payload, e.g. `DNS GossipData {Timestamp:...}`.
    desc: String,
}

fn nameserver_messages(file: &str) -> Vec<Captured> {
    let mut out = Vec::new();
    for rec in load(file) {
        if !rec.comment.contains("channel=nameserver") {
            continue;
        }
        let body = if rec.encrypted {
            rec.body
        } else {
            let (len, body) = rec.body.split_at(4);
            assert_eq!(u32::from_be_bytes(len.try_into().unwrap()) as usize, body.len());
            body.to_vec()
        };
        let (tag, g) = match Message::decode(&body).unwrap().unwrap() {
            Message::Gossip(g) => (4, g),
            Message::GossipBroadcast(g) => (6, g),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(g.channel, CHANNEL);
        assert_eq!(body[0], tag);
        let desc = rec.comment.split_once("B: ").unwrap().1;
        let desc = desc.split(" | ").next().unwrap().to_string();
        out.push(Captured { tag, src: g.src, payload: g.payload, desc });
    }
    out
}

/// The notation of the comment lines: zero fields left out, as Go's gob leaves them out.
fn render(g: &GossipData) -> String {
    let mut s = format!("DNS GossipData {{Timestamp:{}", g.timestamp);
    if !g.entries.is_empty() {
        let entries: Vec<String> = g
            .entries
            .iter()
            .map(|e| {
                let mut f = vec![];
                if !e.container_id.is_empty() {
                    f.push(format!("ContainerID:{}", e.container_id));
                }
                f.push(format!("Origin:{}", e.origin));
                f.push(format!("Addr:{}", e.addr));
                f.push(format!("Hostname:{}", e.hostname));
                if e.version != 0 {
                    f.push(format!("Version:{}", e.version));
                }
                if e.tombstone != 0 {
                    f.push(format!("Tombstone:{}", e.tombstone));
                }
                format!("{{{}}}", f.join(" "))
            })
            .collect();
        s += &format!(" Entries:[{}]", entries.join(" "));
    }
    s + "}"
}

fn c1() -> Entry {
    Entry::new("c1.weave.local.", "testcontainer", HOST_A, ip("10.32.0.1"))
}

#[test]
fn every_captured_message_decodes_and_round_trips() {
    let files = [
        ("tcp-plain/a_to_b.hex", HOST_A),
        ("tcp-plain/b_to_a.hex", HOST_B),
        ("tcp-encrypted/weaver_to_peer.hex", HOST_A),
        ("tcp-encrypted/peer_to_weaver.hex", PeerName(0x02_00_00_00_00_0c)),
    ];
    let mut seen = Vec::new();
    for (file, sender) in files {
        for m in nameserver_messages(file) {
            assert_eq!(m.src, sender, "{file}");
            let g = GossipData::decode(&m.payload).unwrap();
            assert_eq!(render(&g), m.desc, "{file}");
            // Every entry in the captures is the one registration on hostA.
            for e in g.entries.iter() {
                assert_eq!(*e, c1());
            }
            let again = GossipData::decode(&g.encode()).unwrap();
            assert_eq!(again, g);
            assert_eq!(again.encode(), g.encode());
            seen.push((file, m.tag, g.timestamp, g.entries.len()));
        }
    }
    assert_eq!(
        seen,
        [
            ("tcp-plain/a_to_b.hex", 4, 1795804708, 0),
            ("tcp-plain/a_to_b.hex", 6, 1795804714, 1),
            ("tcp-plain/a_to_b.hex", 4, 1795804737, 1),
            ("tcp-plain/a_to_b.hex", 4, 1795804767, 1),
            ("tcp-plain/b_to_a.hex", 4, 1795804708, 0),
            ("tcp-plain/b_to_a.hex", 4, 1795804738, 1),
            ("tcp-plain/b_to_a.hex", 4, 1795804768, 1),
            ("tcp-encrypted/weaver_to_peer.hex", 4, 1795804937, 0),
            ("tcp-encrypted/weaver_to_peer.hex", 6, 1795804942, 1),
            ("tcp-encrypted/weaver_to_peer.hex", 4, 1795804965, 1),
        ]
    );
}

/// Type definitions of a stream with ids made relative to the first one and slice names
/// dropped (Go names the slice type `Entries`; our codec's slices are unnamed; Go ignores both).
fn shape(payload: &[u8]) -> Vec<(i64, WireType)> {
    let mut d = Decoder::new(payload);
    d.next().unwrap().unwrap();
    let base = d.wire_types()[0].0;
    let rel = |id: i64| if id >= 64 { id - base } else { id };
    d.wire_types()
        .iter()
        .map(|(id, t)| {
            let t = match t.clone() {
                WireType::Slice { elem, .. } => WireType::Slice { name: String::new(), elem: rel(elem) },
                WireType::Struct { name, fields } => WireType::Struct {
                    name,
                    fields: fields.into_iter().map(|(n, id)| (n, rel(id))).collect(),
                },
                other => other,
            };
            (rel(*id), t)
        })
        .collect()
}

/// The body of the last gob message after its (2-byte) type id.
fn last_value(p: &[u8]) -> Vec<u8> {
    let (mut pos, mut last) = (0, 0);
    while pos < p.len() {
        // gob uint: one byte below 128, else a negated byte count and that many bytes.
        let (n, used) = if p[pos] < 128 {
            (usize::from(p[pos]), 1)
        } else {
            let k = usize::from(p[pos].wrapping_neg());
            (p[pos + 1..=pos + k].iter().fold(0, |a, &b| (a << 8) | usize::from(b)), k + 1)
        };
        last = pos + used;
        pos = last + n;
    }
    assert_eq!(pos, p.len());
    p[last + 2..].to_vec()
}

#[test]
fn our_encoding_has_weaves_shape() {
    for m in nameserver_messages("tcp-plain/a_to_b.hex") {
        let ours = GossipData::decode(&m.payload).unwrap().encode();
        // Same type definitions, in the same order, with the same relative ids ...
        assert_eq!(shape(&ours), shape(&m.payload));
        // ... so only the slice's name (`\x01\x07Entries`, 9 bytes) makes Weave's longer, and the
        // value message after its 2-byte type id is byte-identical.
        assert_eq!(ours.len() + 9, m.payload.len());
        assert_eq!(last_value(&ours), last_value(&m.payload));
    }
}

#[test]
fn hostb_learns_the_broadcast_and_relays_it() {
    let bcast = &nameserver_messages("tcp-plain/a_to_b.hex")[1];
    let mut b = Nameserver::new(HOST_B, "weave.local.");
    let known = |p: PeerName| p == HOST_A || p == HOST_B;
    let reply = b.on_gossip_broadcast(HOST_A, &bcast.payload, 1795804714, known).unwrap();
    assert_eq!(b.lookup("c1.weave.local."), [ip("10.32.0.1")]);
    assert_eq!(b.reverse_lookup(ip("10.32.0.1")), Some("c1.weave.local."));
    assert_eq!(reply.relay.unwrap().entries.to_vec(), [c1()]);
    assert!(reply.broadcast.is_none());
    // The periodic gossip from A then carries nothing new.
    let periodic = &nameserver_messages("tcp-plain/a_to_b.hex")[2];
    let reply = b.on_gossip(&periodic.payload, 1795804737, known).unwrap();
    assert!(reply.relay.is_none() && reply.broadcast.is_none());
    // B's own full state, as captured at t=29.98, carries A's entry.
    let g = b.gossip(1795804738);
    let captured = &nameserver_messages("tcp-plain/b_to_a.hex")[1];
    assert_eq!(g, GossipData::decode(&captured.payload).unwrap());
}

#[test]
fn a_restarted_hosta_tombstones_its_forgotten_entry() {
    // hostA lost its state (restart) and hears its own old entry: it is not ours any more.
    let periodic = &nameserver_messages("tcp-plain/b_to_a.hex")[1];
    let mut a = Nameserver::new(HOST_A, "weave.local.");
    let now = 1795804738;
    let reply = a.on_gossip(&periodic.payload, now, |_| true).unwrap();
    let fixed = Entry { version: 1, tombstone: now, ..c1() };
    assert_eq!(reply.broadcast.unwrap().entries.to_vec(), std::slice::from_ref(&fixed));
    assert_eq!(reply.relay.unwrap().entries.to_vec(), [fixed]);
    assert!(a.lookup("c1.weave.local.").is_empty());
}

#[test]
fn unknown_origins_are_dropped() {
    let bcast = &nameserver_messages("tcp-plain/a_to_b.hex")[1];
    let mut b = Nameserver::new(HOST_B, "weave.local.");
    let reply = b.on_gossip_broadcast(HOST_A, &bcast.payload, 1795804714, |p| p == HOST_B).unwrap();
    assert!(b.entries().is_empty());
    // Weave still relays the (now empty) data.
    assert!(reply.relay.unwrap().entries.is_empty());
}

#[test]
fn name_json_matches_weave() {
    let mut a = Nameserver::new(HOST_A, "weave.local.");
    assert_eq!(a.name_json(), "null\n");
    a.add_entry_fqdn("c1.weave.local", "testcontainer", ip("10.32.0.1"), 1795804714).unwrap();
    let want = String::from_utf8(read("http/A_name_json.body")).unwrap();
    assert_eq!(a.name_json(), want);
    let b_body = String::from_utf8(read("http/B_name_json.body")).unwrap();
    assert_eq!(a.name_json(), b_body);
}
