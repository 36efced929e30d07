//! Decodes every gob stream in the bytes captured from real Weave Net 2.8 routers
//! (testdata/weave-2.8): features maps, gossip envelopes and their topology, IPAM and DNS
//! payloads. Each decoded message is rendered in the notation of the capture's comment line and
//! must equal it; then it is re-encoded and must decode to the same thing, byte for byte where
//! the stream's type names and ids can be reproduced (envelopes, features maps, topology).
//! Finally the decoder is fed thousands of mutated copies of these streams.

use std::collections::BTreeMap;
use std::path::PathBuf;

use weave_wire::gob::{self, Decoder, Encoder, Gob, Type, Value};
use weave_wire::gob_struct;

// ---- Weave's gob types, as test fixtures (names and field order as Weave declares them) ----

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct PeerSummary = "peerSummary" {
        name_byte: Vec<u8> = "NameByte",
        nick_name: String = "NickName",
        uid: u64 = "UID",
        version: u64 = "Version",
        short_id: u16 = "ShortID",
        has_short_id: bool = "HasShortID",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct ConnectionSummary = "connectionSummary" {
        name_byte: Vec<u8> = "NameByte",
        remote_tcp_addr: String = "RemoteTCPAddr",
        outbound: bool = "Outbound",
        established: bool = "Established",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct GossipState = "gossipState" {
        now: i64 = "Now",
        nicknames: Option<BTreeMap<u64, String>> = "Nicknames",
        paxos: Option<BTreeMap<NodeId, NodeClaims>> = "Paxos",
        ring: Option<Ring> = "Ring",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    struct NodeId = "" {
        name: u64 = "Name",
        uid: u64 = "UID",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct NodeClaims = "" {
        promise: ProposalId = "Promise",
        accepted: ProposalId = "Accepted",
        accepted_val: AcceptedValue = "AcceptedVal",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct ProposalId = "ProposalID" {
        round: u64 = "Round",
        proposer: NodeId = "Proposer",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct AcceptedValue = "AcceptedValue" {
        value: Vec<u64> = "Value",
        origin: ProposalId = "Origin",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct Ring = "Ring" {
        start: u32 = "Start",
        end: u32 = "End",
        peer: u64 = "Peer",
        entries: Vec<RingEntry> = "Entries",
        seeds: Vec<u64> = "Seeds",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct RingEntry = "" {
        token: u32 = "Token",
        peer: u64 = "Peer",
        version: u32 = "Version",
        free: u32 = "Free",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct Range = "Range" {
        start: u32 = "Start",
        end: u32 = "End",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct GossipData = "GossipData" {
        timestamp: i64 = "Timestamp",
        entries: Vec<DnsEntry> = "Entries",
    }
}

gob_struct! {
    #[derive(Debug, Clone, PartialEq)]
    struct DnsEntry = "Entry" {
        container_id: String = "ContainerID",
        origin: u64 = "Origin",
        addr: u32 = "Addr",
        hostname: String = "Hostname",
        version: i64 = "Version",
        tombstone: i64 = "Tombstone",
    }
}

/// (peer name, nickname, UID) of every peer in a run, from the vectors README.
const RUN1_PEERS: &[(u64, &str, u64)] = &[
    (0x02_00_00_00_00_0a, "hostA", 5533576793797704961),
    (0x02_00_00_00_00_0b, "hostB", 6821318311862484723),
];
const RUN3_PEERS: &[(u64, &str, u64)] = &[
    (0x02_00_00_00_00_0a, "hostA", 3723678671389676437),
    (0x02_00_00_00_00_0c, "pypeer", 1234567890123456789),
];

// ---- Reading the vector files ----

struct Record {
    comment: String,
    wire: Vec<u8>,
    plaintext: Option<Vec<u8>>,
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/weave-2.8")
}

fn unhex(s: &str) -> Vec<u8> {
    let pairs = s.as_bytes().chunks_exact(2);
    assert!(pairs.remainder().is_empty(), "odd hex length");
    pairs.map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).expect("hex digit")).collect()
}

/// One record per data line, paired with the comment line just above it.
fn load(rel: &str) -> Vec<Record> {
    let path = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut comment = String::new();
    let mut records = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            comment = c.to_string();
        } else if !line.trim().is_empty() {
            let mut fields = line.split_whitespace();
            let wire = unhex(fields.next().unwrap());
            let plaintext = fields.nth(1).map(unhex);
            records.push(Record { comment: comment.clone(), wire, plaintext });
        }
    }
    records
}

/// The decoded meaning in a comment: the text after "body_len=N: " / "plaintext_len=N: ".
fn description(comment: &str) -> &str {
    let key = if comment.contains("plaintext_len=") { "plaintext_len=" } else { "body_len=" };
    let rest = &comment[comment.find(key).expect("length in comment")..];
    &rest[rest.find(": ").expect("description") + 2..]
}

// ---- Rendering decoded data in the comments' notation ----

fn mac(x: u64) -> String {
    let b = x.to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

fn mac_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

fn ip(x: u64) -> String {
    let b = (x as u32).to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// Renders the fields that were on the wire; uints are shown as Weave's field names imply.
fn render(v: &Value, hint: &str) -> String {
    let join = |items: Vec<String>| items.join(" ");
    match v {
        Value::Uint(u) => match hint {
            "Start" | "End" | "Token" | "Addr" => ip(*u),
            "Name" | "Peer" | "Origin" | "Seeds" | "Value" | "Nicknames" => mac(*u),
            _ => u.to_string(),
        },
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Float(x) => x.to_string(),
        Value::Bytes(b) => mac_bytes(b),
        Value::Slice(items) | Value::Array(items) => {
            format!("[{}]", join(items.iter().map(|x| render(x, hint)).collect()))
        }
        Value::Map(entries) => format!(
            "map[{}]",
            join(entries.iter().map(|(k, x)| format!("{}={}", render(k, hint), render(x, ""))).collect())
        ),
        Value::Struct(fields) => {
            format!("{{{}}}", join(fields.iter().map(|(n, x)| format!("{n}:{}", render(x, n))).collect()))
        }
    }
}

fn render_topology(peers: &[(PeerSummary, Vec<ConnectionSummary>)]) -> String {
    let peers: Vec<String> = peers
        .iter()
        .map(|(p, conns)| {
            let conns: Vec<String> = conns
                .iter()
                .map(|c| {
                    format!(
                        "{{{} {} outbound={} established={}}}",
                        mac_bytes(&c.name_byte),
                        c.remote_tcp_addr,
                        c.outbound,
                        c.established
                    )
                })
                .collect();
            format!(
                "peer {} nick={} uid={} ver={} shortid={} hasShortID={} conns=[{}]",
                mac_bytes(&p.name_byte),
                p.nick_name,
                p.uid,
                p.version,
                p.short_id,
                p.has_short_id,
                conns.join(" ")
            )
        })
        .collect();
    format!("topology: {}", peers.join("; "))
}

/// Sorts map entries so typed maps (BTreeMap) compare with wire order.
fn sorted_maps(v: &Value) -> Value {
    match v {
        Value::Map(entries) => {
            let mut e: Vec<_> = entries.iter().map(|(k, x)| (sorted_maps(k), sorted_maps(x))).collect();
            e.sort_by_key(|(k, _)| format!("{k:?}"));
            Value::Map(e)
        }
        Value::Struct(f) => Value::Struct(f.iter().map(|(n, x)| (n.clone(), sorted_maps(x))).collect()),
        Value::Slice(i) => Value::Slice(i.iter().map(sorted_maps).collect()),
        other => other.clone(),
    }
}

// ---- Checking streams ----

/// What one direction's records contained.
#[derive(Default, Debug, PartialEq)]
struct Counts {
    features: usize,
    gossip: usize,
    unicast: usize,
    broadcast: usize,
    overlay: usize,
    heartbeat: usize,
}

struct Checker {
    peers: &'static [(u64, &'static str, u64)],
    counts: Counts,
    /// Every gob stream seen, for the mutation test.
    streams: Vec<Vec<u8>>,
}

struct Decoded {
    items: Vec<(Type, Value)>,
    typedefs: String,
}

impl Checker {
    fn new(peers: &'static [(u64, &'static str, u64)]) -> Self {
        Checker { peers, counts: Counts::default(), streams: Vec::new() }
    }

    /// Decodes a gob stream, re-encodes it, and checks the result decodes the same (and, if
    /// `exact`, is byte-identical: the encoder reproduces Go's id order and zero rules).
    fn gob_stream(&mut self, bytes: &[u8], exact: bool, what: &str) -> Decoded {
        self.streams.push(bytes.to_vec());
        let mut dec = Decoder::new(bytes);
        let mut items = Vec::new();
        while let Some(item) = dec.next().unwrap_or_else(|e| panic!("{what}: {e}")) {
            items.push(item);
        }
        let defs = dec.wire_types();
        let typedefs = defs.iter().map(|(id, wt)| format!("#{id}={wt}")).collect::<Vec<_>>().join(", ");
        let mut enc = match defs.iter().map(|(id, _)| *id).min() {
            Some(first) => Encoder::with_first_type_id(first).unwrap(),
            None => Encoder::new(),
        };
        for (ty, v) in &items {
            enc.encode(ty, v).unwrap_or_else(|e| panic!("{what}: re-encode: {e}"));
        }
        let again = enc.finish();
        if exact {
            assert_eq!(again, bytes, "{what}: re-encoding differs");
        }
        assert_eq!(gob::decode_all(&again).unwrap(), items, "{what}: round trip");
        Decoded { items, typedefs }
    }

    fn peer(&self, name: u64) -> (&'static str, u64) {
        let &(_, nick, uid) =
            self.peers.iter().find(|p| p.0 == name).unwrap_or_else(|| panic!("unknown peer {}", mac(name)));
        (nick, uid)
    }

    fn features(&mut self, body: &[u8], desc: &str) {
        let d = self.gob_stream(body, true, "features");
        assert_eq!(d.items.len(), 1);
        let (ty, value) = &d.items[0];
        assert_eq!(*ty, Type::map(Type::String, Type::String));
        let entries: Vec<String> = value
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{}: {}", k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(format!("features map[string]string {{{}}}", entries.join(", ")), desc);
        let map: BTreeMap<String, String> = gob::from_bytes(body).unwrap();
        let name = u64::from_str_radix(&map["Name"].replace(':', ""), 16).unwrap();
        let (nick, uid) = self.peer(name);
        assert_eq!(map["NickName"], nick);
        assert_eq!(map["UID"], uid.to_string());
        assert_eq!(map["PeerNameFlavour"], "mac");
        self.counts.features += 1;
    }

    /// One message body after the features: tag byte and payload.
    fn message(&mut self, body: &[u8], desc: &str) {
        let (&tag, payload) = body.split_first().expect("empty message");
        match tag {
            0 => {
                assert_eq!(desc, "tag 0 Heartbeat");
                self.counts.heartbeat += 1;
            }
            7 => {
                assert!(desc.starts_with("tag 7 OverlayControlMsg"), "{desc}");
                self.counts.overlay += 1;
            }
            4..=6 => self.gossip(tag, payload, desc),
            _ => panic!("unexpected tag {tag}: {desc}"),
        }
    }

    fn gossip(&mut self, tag: u8, envelope: &[u8], desc: &str) {
        // Only basic types: re-encoding must give back the captured bytes exactly.
        let d = self.gob_stream(envelope, true, "envelope");
        let kinds: Vec<_> = d.items.iter().map(|(t, _)| t.clone()).collect();
        let mut expected = vec![Type::String, Type::Uint, Type::Bytes];
        if tag == 5 {
            expected.insert(2, Type::Uint);
        }
        assert_eq!(kinds, expected, "{desc}");

        let mut dec = Decoder::new(envelope);
        let channel: String = dec.read().unwrap();
        let src: u64 = dec.read().unwrap();
        let dst: Option<u64> = (tag == 5).then(|| dec.read().unwrap());
        let payload: Vec<u8> = dec.read().unwrap();
        assert!(dec.is_at_end());
        self.peer(src);

        let name = match tag {
            4 => "Gossip",
            5 => "GossipUnicast",
            _ => "GossipBroadcast",
        };
        let mut rendered = format!("tag {tag} {name} channel={channel} src={}", mac(src));
        if let Some(dst) = dst {
            rendered += &format!(" dst={}", mac(dst));
        }
        rendered += &format!(" payload={}B: ", payload.len());
        let (inner, typedefs) = match (channel.as_str(), tag) {
            ("topology", _) => self.topology(&payload),
            ("IPallocation", 5) => self.ipam_unicast(&payload),
            ("IPallocation", _) => self.ipam_state(&payload, "IPAM gossipState "),
            ("nameserver", _) => self.dns(&payload),
            _ => panic!("unknown channel {channel}"),
        };
        rendered += &inner;
        if !typedefs.is_empty() {
            rendered += &format!(" | gob typedefs in payload: {typedefs}");
        }
        assert_eq!(rendered, desc);
        match tag {
            4 => self.counts.gossip += 1,
            5 => self.counts.unicast += 1,
            _ => self.counts.broadcast += 1,
        }
    }

    fn topology(&mut self, payload: &[u8]) -> (String, String) {
        // peerSummary, []connectionSummary, repeated. Weave's ids are reproducible here.
        let d = self.gob_stream(payload, true, "topology");
        let mut dec = Decoder::new(payload);
        let mut peers = Vec::new();
        while let Some(p) = dec.next_as::<PeerSummary>().unwrap() {
            let conns: Vec<ConnectionSummary> = dec.read().unwrap();
            let name = p.name_byte.iter().fold(0u64, |x, &b| (x << 8) | u64::from(b));
            assert_eq!(self.peer(name), (p.nick_name.as_str(), p.uid));
            peers.push((p, conns));
        }
        // The typed layer omits exactly what Go omitted.
        for (i, (p, conns)) in peers.iter().enumerate() {
            assert_eq!(d.items[2 * i].0, PeerSummary::gob_type());
            assert_eq!(d.items[2 * i].1, p.to_gob());
            assert_eq!(d.items[2 * i + 1].0, Vec::<ConnectionSummary>::gob_type());
            assert_eq!(d.items[2 * i + 1].1, conns.to_gob());
        }
        (render_topology(&peers), d.typedefs)
    }

    fn ipam_state(&mut self, body: &[u8], prefix: &str) -> (String, String) {
        let d = self.gob_stream(body, false, "IPAM gossipState");
        assert_eq!(d.items.len(), 1);
        let (ty, value) = &d.items[0];
        assert_eq!(*ty, GossipState::gob_type());
        let state: GossipState = gob::from_bytes(body).unwrap();
        assert_eq!(sorted_maps(&state.to_gob()), sorted_maps(value));
        let again: GossipState = gob::from_bytes(&gob::to_bytes(&[&state]).unwrap()).unwrap();
        assert_eq!(again, state);
        for (name, nick) in state.nicknames.iter().flatten() {
            assert_eq!(self.peer(*name).0, nick);
        }
        (format!("{prefix}{}", render(value, "")), d.typedefs)
    }

    fn ipam_unicast(&mut self, payload: &[u8]) -> (String, String) {
        let (&kind, body) = payload.split_first().expect("IPAM kind byte");
        match kind {
            1 => self.ipam_state(body, "IPAM unicast kind=1(RingUpdate) "),
            0 | 2 => {
                let d = self.gob_stream(body, false, "IPAM Range");
                let range: Range = gob::from_bytes(body).unwrap();
                assert!(range.start < range.end);
                assert_eq!(d.items[0].1, range.to_gob());
                let label = if kind == 0 { "SpaceRequest" } else { "SpaceRequestDenied" };
                let text = format!("IPAM unicast kind={kind}({label}) {}", render(&d.items[0].1, ""));
                (text, d.typedefs)
            }
            _ => panic!("unknown IPAM unicast kind {kind}"),
        }
    }

    fn dns(&mut self, payload: &[u8]) -> (String, String) {
        let d = self.gob_stream(payload, false, "DNS GossipData");
        let data: GossipData = gob::from_bytes(payload).unwrap();
        assert_eq!(d.items[0].0, GossipData::gob_type());
        assert_eq!(d.items[0].1, data.to_gob());
        for e in &data.entries {
            assert!(e.hostname.ends_with('.'), "{e:?}");
            self.peer(e.origin);
        }
        (format!("DNS GossipData {}", render(&d.items[0].1, "")), d.typedefs)
    }
}

/// tcp-plain: header (7 bytes), flag (1 byte), then `len(4, BE) | body` per message.
fn check_plain(file: &str) -> Checker {
    let records = load(file);
    let mut checker = Checker::new(RUN1_PEERS);
    assert_eq!(records[0].wire, b"weave\x01\x02");
    assert_eq!(records[1].wire, [0]);
    for (i, rec) in records.iter().enumerate().skip(2) {
        let (len, body) = rec.wire.split_at(4);
        assert_eq!(u32::from_be_bytes(len.try_into().unwrap()) as usize, body.len());
        let desc = description(&rec.comment);
        if i == 2 {
            checker.features(body, desc);
        } else {
            checker.message(body, desc);
        }
    }
    checker
}

/// tcp-encrypted: the plaintext of seq 0 is the features map, later ones `tag | payload`.
fn check_encrypted(file: &str) -> Checker {
    let mut checker = Checker::new(RUN3_PEERS);
    let mut seq = 0;
    for rec in load(file) {
        let Some(plain) = &rec.plaintext else {
            continue; // the unencrypted intro
        };
        assert!(rec.comment.contains(&format!("seq={seq} ")), "{}", rec.comment);
        let desc = description(&rec.comment);
        if seq == 0 {
            checker.features(plain, desc);
        } else {
            checker.message(plain, desc);
        }
        seq += 1;
    }
    checker
}

#[test]
fn tcp_plain_a_to_b_every_record() {
    let c = check_plain("tcp-plain/a_to_b.hex");
    let expected = Counts { features: 1, gossip: 10, unicast: 2, broadcast: 5, overlay: 3, heartbeat: 2 };
    assert_eq!(c.counts, expected);
}

#[test]
fn tcp_plain_b_to_a_every_record() {
    let c = check_plain("tcp-plain/b_to_a.hex");
    let expected = Counts { features: 1, gossip: 10, unicast: 2, broadcast: 3, overlay: 3, heartbeat: 2 };
    assert_eq!(c.counts, expected);
}

#[test]
fn tcp_encrypted_weaver_to_peer_every_record() {
    let c = check_encrypted("tcp-encrypted/weaver_to_peer.hex");
    let expected = Counts { features: 1, gossip: 7, unicast: 0, broadcast: 3, overlay: 3, heartbeat: 1 };
    assert_eq!(c.counts, expected);
}

#[test]
fn tcp_encrypted_peer_to_weaver_every_record() {
    let c = check_encrypted("tcp-encrypted/peer_to_weaver.hex");
    let expected = Counts { features: 1, gossip: 1, unicast: 0, broadcast: 0, overlay: 5, heartbeat: 2 };
    assert_eq!(c.counts, expected);
}

#[test]
fn ring_spot_check() {
    // tcp-plain a_to_b msg 10: A's first Ring after consensus.
    let records = load("tcp-plain/a_to_b.hex");
    let rec = records.iter().find(|r| r.comment.starts_with("[msg 10]")).unwrap();
    let mut dec = Decoder::new(&rec.wire[5..]);
    assert_eq!(dec.read::<String>().unwrap(), "IPallocation");
    assert_eq!(dec.read::<u64>().unwrap(), 0x02_00_00_00_00_0a);
    let payload: Vec<u8> = dec.read().unwrap();
    let state: GossipState = gob::from_bytes(&payload).unwrap();
    assert_eq!(state.now, 1795804712);
    assert!(state.paxos.is_none());
    let ring = state.ring.unwrap();
    assert_eq!((ring.start, ring.end), (0x0a20_0000, 0x0a30_0000));
    let entries: Vec<_> = ring.entries.iter().map(|e| (e.token, e.peer, e.version, e.free)).collect();
    assert_eq!(
        entries,
        [(0x0a20_0000, 0x02_00_00_00_00_0a, 1, 524287), (0x0a28_0000, 0x02_00_00_00_00_0b, 0, 524288)]
    );
    assert_eq!(ring.seeds, [0x02_00_00_00_00_0a, 0x02_00_00_00_00_0b]);
}

#[test]
fn decoder_survives_mutated_vectors() {
    let mut streams = Vec::new();
    for c in [
        check_plain("tcp-plain/a_to_b.hex"),
        check_plain("tcp-plain/b_to_a.hex"),
        check_encrypted("tcp-encrypted/weaver_to_peer.hex"),
        check_encrypted("tcp-encrypted/peer_to_weaver.hex"),
    ] {
        streams.extend(c.streams);
    }
    // Features maps, envelopes and inner payloads of all four files.
    assert_eq!(streams.len(), 90);
    let mut rng = 0x5eed_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut runs = 0;
    for stream in &streams {
        // Every truncation, then random damage.
        for cut in (0..stream.len()).step_by(7) {
            gob::fuzz_decode(&stream[..cut]);
            runs += 1;
        }
        for _ in 0..60 {
            let mut m = stream.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % (m.len() as u64 + 1)) as usize;
                match next() % 4 {
                    0 if at < m.len() => m[at] ^= 1 << (next() % 8),
                    1 => m.insert(at, next() as u8),
                    2 if at < m.len() => {
                        m.remove(at);
                    }
                    _ if at < m.len() => m[at] = [0x00, 0x7f, 0x80, 0xf8, 0xff][next() as usize % 5],
                    _ => {}
                }
            }
            gob::fuzz_decode(&m);
            runs += 1;
        }
    }
    assert!(runs > 5000, "{runs}");
}
