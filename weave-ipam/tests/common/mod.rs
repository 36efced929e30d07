//! Shared by the integration tests: reading the golden vectors, the comment-line notation, and an
//! in-memory network that executes allocator outputs.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use weave_ipam::allocator::{Config, InitMode, OpError, Outcome, Output, RequestId};
use weave_ipam::messages::GossipState;
use weave_ipam::persist::PersistedState;
use weave_ipam::ring::Ring;
use weave_ipam::{Allocator, Cidr, PeerName};
use weave_wire::protocol::Message;

// ---- vectors ----

pub const HOST_A: PeerName = PeerName(0x02_00_00_00_00_0a);
pub const HOST_B: PeerName = PeerName(0x02_00_00_00_00_0b);
pub const UID_A: u64 = 5533576793797704961;
pub const UID_B: u64 = 6821318311862484723;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/weave-2.8")
}

fn unhex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0, "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// One IPAM gossip message from a capture.
#[derive(Debug, Clone)]
pub struct IpamRecord {
    /// `[msg N]` in tcp-plain, `seq=N` in tcp-encrypted.
    pub label: String,
    pub t: f64,
    /// 4 gossip, 5 unicast, 6 broadcast.
    pub tag: u8,
    pub src: PeerName,
    pub dst: Option<PeerName>,
    pub payload: Vec<u8>,
    /// The comment's decoded meaning, after `payload=NB: ` and before ` | gob typedefs`.
    pub meaning: String,
}

/// Every `IPallocation` message of a capture file. Plain files: header, flag, features, then
/// `len | body` records; encrypted files: the third field is the plaintext body.
pub fn ipam_records(rel: &str) -> Vec<IpamRecord> {
    let text = std::fs::read_to_string(vectors_dir().join(rel)).expect("vector file");
    let mut comment = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            comment = c.to_string();
            continue;
        }
        if line.trim().is_empty() || !comment.contains("channel=IPallocation") {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let body = match fields.len() {
            1 => unhex(fields[0])[4..].to_vec(),
            3 => unhex(fields[2]),
            n => panic!("{rel}: {n} fields"),
        };
        let (tag, src, dst, payload) = match Message::decode(&body).expect("envelope").expect("body") {
            Message::Gossip(g) => (4, g.src, None, g.payload),
            Message::GossipUnicast(u) => (5, u.src, Some(u.dst), u.payload),
            Message::GossipBroadcast(g) => (6, g.src, None, g.payload),
            other => panic!("not gossip: {other:?}"),
        };
        let label = match comment.find(']') {
            Some(i) if comment.starts_with('[') => comment[..=i].to_string(),
            _ => comment.split_whitespace().find(|w| w.starts_with("seq=")).unwrap().to_string(),
        };
        let t: f64 = comment.split_whitespace().find_map(|w| w.strip_prefix("t=")).unwrap().parse().unwrap();
        let after = &comment[comment.find("payload=").unwrap()..];
        let after = &after[after.find(": ").unwrap() + 2..];
        let meaning = after.split(" | gob typedefs").next().unwrap().to_string();
        out.push(IpamRecord { label, t, tag, src, dst, payload, meaning });
    }
    out
}

pub fn record<'a>(records: &'a [IpamRecord], label: &str) -> &'a IpamRecord {
    records.iter().find(|r| r.label == label).unwrap_or_else(|| panic!("no record {label}"))
}

// ---- the comment notation: {Field:value ...}, map[k=v ...], [a b], atoms ----

/// A parsed value in the comments' notation. Maps are kept sorted so wire order does not matter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Note {
    Atom(String),
    Struct(Vec<(String, Note)>),
    List(Vec<Note>),
    Map(Vec<(Note, Note)>),
}

pub fn parse_note(s: &str) -> Note {
    let mut p = NoteParser { s: s.as_bytes(), i: 0 };
    let v = p.value(false);
    assert_eq!(p.i, s.len(), "trailing text in {s:?} at {}", p.i);
    v
}

struct NoteParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl NoteParser<'_> {
    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, in_key: bool) -> Note {
        if self.eat("map[") {
            let mut entries = Vec::new();
            while !self.eat("]") {
                self.eat(" ");
                let k = self.value(true);
                assert!(self.eat("="), "expected = at {}", self.i);
                let v = self.value(false);
                entries.push((k, v));
            }
            entries.sort();
            Note::Map(entries)
        } else if self.eat("{") {
            let mut fields = Vec::new();
            while !self.eat("}") {
                self.eat(" ");
                let start = self.i;
                while self.s[self.i] != b':' {
                    self.i += 1;
                }
                let name = String::from_utf8(self.s[start..self.i].to_vec()).unwrap();
                self.i += 1;
                fields.push((name, self.value(false)));
            }
            Note::Struct(fields)
        } else if self.eat("[") {
            let mut items = Vec::new();
            while !self.eat("]") {
                self.eat(" ");
                items.push(self.value(false));
            }
            Note::List(items)
        } else {
            let start = self.i;
            while self.i < self.s.len()
                && !matches!(self.s[self.i], b' ' | b'}' | b']')
                && !(in_key && self.s[self.i] == b'=')
            {
                self.i += 1;
            }
            Note::Atom(String::from_utf8(self.s[start..self.i].to_vec()).unwrap())
        }
    }
}

/// Renders a gossipState the way the comments do: fields as on the wire (zero numbers and empty
/// lists left out, nested structs always shown, nil maps and pointers left out).
pub fn note_of_state(g: &GossipState) -> Note {
    let mut f = Vec::new();
    if g.now != 0 {
        f.push(("Now".into(), Note::Atom(g.now.to_string())));
    }
    if let Some(n) = &g.nicknames {
        let mut m: Vec<_> =
            n.iter().map(|(k, v)| (Note::Atom(k.to_string()), Note::Atom(v.clone()))).collect();
        m.sort();
        f.push(("Nicknames".into(), Note::Map(m)));
    }
    if let Some(p) = &g.paxos {
        let node = |id: &weave_ipam::paxos::NodeId| {
            let mut f = Vec::new();
            if id.name.0 != 0 {
                f.push(("Name".into(), Note::Atom(id.name.to_string())));
            }
            if id.uid != 0 {
                f.push(("UID".into(), Note::Atom(id.uid.to_string())));
            }
            Note::Struct(f)
        };
        let proposal = |p: &weave_ipam::paxos::ProposalId| {
            let mut f = Vec::new();
            if p.round != 0 {
                f.push(("Round".into(), Note::Atom(p.round.to_string())));
            }
            f.push(("Proposer".into(), node(&p.proposer)));
            Note::Struct(f)
        };
        let mut m: Vec<_> = p
            .iter()
            .map(|(id, c)| {
                let mut val = Vec::new();
                if !c.accepted_val.value.is_empty() {
                    val.push((
                        "Value".into(),
                        Note::List(c.accepted_val.value.iter().map(|p| Note::Atom(p.to_string())).collect()),
                    ));
                }
                val.push(("Origin".into(), proposal(&c.accepted_val.origin)));
                let claims = Note::Struct(vec![
                    ("Promise".into(), proposal(&c.promise)),
                    ("Accepted".into(), proposal(&c.accepted)),
                    ("AcceptedVal".into(), Note::Struct(val)),
                ]);
                (node(id), claims)
            })
            .collect();
        m.sort();
        f.push(("Paxos".into(), Note::Map(m)));
    }
    if let Some(r) = &g.ring {
        f.push(("Ring".into(), note_of_ring(r)));
    }
    Note::Struct(f)
}

pub fn note_of_ring(r: &Ring) -> Note {
    let mut f = vec![
        ("Start".into(), Note::Atom(r.start.to_string())),
        ("End".into(), Note::Atom(r.end.to_string())),
        ("Peer".into(), Note::Atom(r.peer.to_string())),
    ];
    let entries = r
        .entries
        .iter()
        .map(|e| {
            let mut f = vec![
                ("Token".into(), Note::Atom(e.token.to_string())),
                ("Peer".into(), Note::Atom(e.peer.to_string())),
            ];
            if e.version != 0 {
                f.push(("Version".into(), Note::Atom(e.version.to_string())));
            }
            if e.free != 0 {
                f.push(("Free".into(), Note::Atom(e.free.to_string())));
            }
            Note::Struct(f)
        })
        .collect::<Vec<_>>();
    if !entries.is_empty() {
        f.push(("Entries".into(), Note::List(entries)));
    }
    if !r.seeds.is_empty() {
        f.push(("Seeds".into(), Note::List(r.seeds.iter().map(|p| Note::Atom(p.to_string())).collect())));
    }
    Note::Struct(f)
}

// ---- an in-memory network ----

pub fn secs(t: f64) -> Duration {
    Duration::from_secs_f64(t)
}

pub fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

/// Weave's test peer names: `NN:00:00:02:00:00`.
pub fn test_peer(i: usize) -> PeerName {
    format!("{i:02}:00:00:02:00:00").parse().unwrap()
}

pub fn config(name: PeerName, uid: u64, universe: &str, init: InitMode) -> Config {
    Config {
        our_name: name,
        our_uid: uid,
        our_nickname: format!("nick-{name}"),
        universe: cidr(universe),
        init,
        pre_claims: vec![],
        persisted: None,
        known_peers: vec![],
        rng_seed: uid,
    }
}

#[derive(Debug, Clone)]
pub enum Delivery {
    Broadcast { from: PeerName, to: PeerName, payload: Vec<u8> },
    Unicast { from: PeerName, to: PeerName, payload: Vec<u8> },
}

/// Allocators connected all-to-all; messages queue until `flush`.
pub struct Net {
    pub nodes: Vec<Allocator>,
    pub now: Duration,
    pub queue: VecDeque<Delivery>,
    pub results: BTreeMap<(usize, RequestId), Result<Outcome, OpError>>,
    pub stored: Vec<Option<PersistedState>>,
    /// Errors returned by gossip callbacks.
    pub gossip_errors: Vec<String>,
}

impl Net {
    /// `n` consensus peers named as in Weave's tests, quorum n/2+1, all reachable.
    pub fn new(n: usize, universe: &str) -> Net {
        let names: Vec<PeerName> = (0..n).map(test_peer).collect();
        let mut net = Net {
            nodes: Vec::new(),
            now: Duration::from_secs(1_000),
            queue: VecDeque::new(),
            results: BTreeMap::new(),
            stored: vec![None; n],
            gossip_errors: Vec::new(),
        };
        for (i, &name) in names.iter().enumerate() {
            let mut c =
                config(name, 1000 + i as u64, universe, InitMode::Consensus { quorum: (n / 2 + 1) as u32 });
            c.known_peers = names.clone();
            net.nodes.push(Allocator::new(c, net.now).unwrap());
            net.drain(i);
        }
        // As Weave's makeNetworkOfAllocators: the last one broadcasts, so all know each other.
        let last = n - 1;
        let payload = net.nodes[last].gossip(net.now);
        net.broadcast_from(last, payload);
        net.flush();
        net
    }

    pub fn index(&self, name: PeerName) -> Option<usize> {
        self.nodes.iter().position(|a| a.our_name() == name)
    }

    fn broadcast_from(&mut self, i: usize, payload: Vec<u8>) {
        let from = self.nodes[i].our_name();
        for a in &self.nodes {
            if a.our_name() != from {
                self.queue.push_back(Delivery::Broadcast {
                    from,
                    to: a.our_name(),
                    payload: payload.clone(),
                });
            }
        }
    }

    /// Executes node `i`'s outputs.
    pub fn drain(&mut self, i: usize) {
        let from = self.nodes[i].our_name();
        for out in self.nodes[i].take_outputs() {
            match out {
                Output::Persist(p) => p.apply_to(&mut self.stored[i]),
                Output::Broadcast(payload) => self.broadcast_from(i, payload),
                Output::Unicast { dst, payload } => {
                    self.queue.push_back(Delivery::Unicast { from, to: dst, payload })
                }
                Output::Completed { id, result } => {
                    assert!(self.results.insert((i, id), result).is_none(), "answered twice");
                }
            }
        }
    }

    /// Delivers until nothing is queued.
    pub fn flush(&mut self) {
        for _ in 0..100_000 {
            let Some(d) = self.queue.pop_front() else { return };
            self.deliver(d);
        }
        panic!("messages never stopped");
    }

    pub fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        let (to, result) = match d {
            Delivery::Broadcast { from, to, payload } => {
                let Some(i) = self.index(to) else { return };
                (i, self.nodes[i].on_gossip_broadcast(now, from, &payload).map(|_| ()))
            }
            Delivery::Unicast { from, to, payload } => {
                let Some(i) = self.index(to) else { return };
                (i, self.nodes[i].on_gossip_unicast(now, from, &payload))
            }
        };
        if let Err(e) = result {
            self.gossip_errors.push(e.to_string());
        }
        self.drain(to);
    }

    pub fn allocate(&mut self, i: usize, ident: &str, subnet: &str) -> RequestId {
        let id = self.nodes[i].allocate(self.now, ident, cidr(subnet), true);
        self.drain(i);
        id
    }

    pub fn claim(&mut self, i: usize, ident: &str, addr: &str) -> RequestId {
        let id = self.nodes[i].claim(self.now, ident, cidr(addr), true, false);
        self.drain(i);
        id
    }

    pub fn result(&self, i: usize, id: RequestId) -> Option<&Result<Outcome, OpError>> {
        self.results.get(&(i, id))
    }

    /// The address an allocation got (panics if it failed or is pending).
    pub fn allocated(&self, i: usize, id: RequestId) -> weave_ipam::Address {
        match self.result(i, id) {
            Some(Ok(Outcome::Allocated(a))) => *a,
            other => panic!("allocation {id:?} on {i}: {other:?}"),
        }
    }

    pub fn tick_all(&mut self, advance: Duration) {
        self.now += advance;
        for i in 0..self.nodes.len() {
            self.nodes[i].tick(self.now);
            self.drain(i);
        }
    }

    /// Periodic gossip from every node to every other.
    pub fn gossip_all(&mut self) {
        for i in 0..self.nodes.len() {
            let payload = self.nodes[i].gossip(self.now);
            for j in 0..self.nodes.len() {
                if i != j {
                    if let Err(e) = self.nodes[j].on_gossip(self.now, &payload) {
                        self.gossip_errors.push(e.to_string());
                    }
                    self.drain(j);
                }
            }
        }
    }
}
