//! A status snapshot with the fields of Weave's `ipam.Status` (what `/report` shows under
//! `IPAM` and `weave status ipam` is printed from), and its JSON as Go writes it.

use std::fmt::Write;

use super::Allocator;
use crate::address::Cidr;
use weave_wire::gojson::write_string;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Only while an election is under way.
    pub paxos: Option<PaxosStatus>,
    pub range: String,
    pub range_num_ips: u64,
    /// Addresses handed out by us.
    pub active_ips: u32,
    pub default_subnet: String,
    pub entries: Vec<EntryStatus>,
    pub pending_claims: Vec<ClaimStatus>,
    /// `"<ident> <subnet>"`.
    pub pending_allocates: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaxosStatus {
    pub elector: bool,
    pub known_nodes: usize,
    pub quorum: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryStatus {
    pub token: String,
    pub size: u32,
    pub peer: String,
    pub nickname: String,
    pub is_known_peer: bool,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimStatus {
    pub ident: String,
    pub cidr: Cidr,
}

impl Allocator {
    pub fn status(&self, default_subnet: Cidr) -> Status {
        let paxos = match (&self.paxos, self.awaiting_consensus) {
            (Some(crate::paxos::Participant::Node(n)), true) => {
                Some(PaxosStatus { elector: true, known_nodes: n.gossip_state().len(), quorum: n.quorum() })
            }
            (Some(crate::paxos::Participant::Observer), true) => {
                Some(PaxosStatus { elector: false, known_nodes: 0, quorum: 0 })
            }
            _ => None,
        };
        let entries = self
            .ring
            .all_range_info()
            .into_iter()
            .map(|r| EntryStatus {
                token: r.range.start.to_string(),
                size: r.range.size(),
                peer: r.peer.to_string(),
                nickname: self.nicknames.get(&r.peer).cloned().unwrap_or_default(),
                is_known_peer: self.is_known_peer(r.peer),
                version: r.version,
            })
            .collect();
        Status {
            paxos,
            range: self.universe.to_string(),
            range_num_ips: self.universe.size(),
            active_ips: self.space.num_owned_addresses(),
            default_subnet: default_subnet.to_string(),
            entries,
            pending_claims: self
                .pending_claims
                .iter()
                .map(|c| ClaimStatus { ident: c.ident.clone(), cidr: c.cidr })
                .collect(),
            pending_allocates: self
                .pending_allocates
                .iter()
                .map(|a| format!("{} {}", a.ident, a.subnet))
                .collect(),
        }
    }
}

/// Go marshals empty (nil) slices as `null`; Weave's status slices are nil when empty.
fn json_list<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    if items.is_empty() {
        out.push_str("null");
        return;
    }
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(']');
}

impl Status {
    /// Compact JSON with Weave's field names and order.
    pub fn to_json(&self) -> String {
        let mut o = String::from("{\"Paxos\":");
        match &self.paxos {
            None => o.push_str("null"),
            Some(p) => {
                let _ = write!(
                    o,
                    "{{\"Elector\":{},\"KnownNodes\":{},\"Quorum\":{}}}",
                    p.elector, p.known_nodes, p.quorum
                );
            }
        }
        o.push_str(",\"Range\":");
        write_string(&mut o, &self.range);
        let _ = write!(
            o,
            ",\"RangeNumIPs\":{},\"ActiveIPs\":{},\"DefaultSubnet\":",
            self.range_num_ips, self.active_ips
        );
        write_string(&mut o, &self.default_subnet);
        o.push_str(",\"Entries\":");
        json_list(&mut o, &self.entries, |o, e| {
            o.push_str("{\"Token\":");
            write_string(o, &e.token);
            let _ = write!(o, ",\"Size\":{},\"Peer\":", e.size);
            write_string(o, &e.peer);
            o.push_str(",\"Nickname\":");
            write_string(o, &e.nickname);
            let _ = write!(o, ",\"IsKnownPeer\":{},\"Version\":{}}}", e.is_known_peer, e.version);
        });
        o.push_str(",\"PendingClaims\":");
        json_list(&mut o, &self.pending_claims, |o, c| {
            o.push_str("{\"Ident\":");
            write_string(o, &c.ident);
            o.push_str(",\"CIDR\":{\"Addr\":");
            write_string(o, &c.cidr.addr.to_string());
            let _ = write!(o, ",\"PrefixLen\":{}}}}}", c.cidr.prefix_len);
        });
        o.push_str(",\"PendingAllocates\":");
        json_list(&mut o, &self.pending_allocates, |o, s| write_string(o, s));
        o.push('}');
        o
    }
}
