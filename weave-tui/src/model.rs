//! What the dashboard knows about the daemon: one poll's worth of data, in the shapes the views
//! use. Subsystems the daemon may lack (IPAM, DNS) are [`Avail`]able or say why not, so every
//! view is driven by data and never by which daemon version answered.

use std::collections::BTreeMap;
use std::time::Instant;
use weave_api::{
    Allocation, Connection, IpamCheck, IpamInfo, IpamStatus, PolicyDrop, PolicyInfo, Report, Routes, Status,
};

/// A subsystem's data, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub enum Avail<T> {
    Ready(T),
    /// Switched off by a daemon flag.
    Disabled,
    /// This daemon does not serve it (yet).
    Missing,
    /// It is served, but the call failed.
    Failed(String),
}

impl<T> Avail<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Avail::Ready(t) => Some(t),
            _ => None,
        }
    }
}

/// Everything one poll brought back.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When the poll was answered; rates are computed between these.
    pub at: Instant,
    pub status: Status,
    pub report: Report,
    pub connections: Vec<Connection>,
    /// `/api/v1/routes`, with each destination's whole path; `None` where the daemon does not
    /// serve it (the report's next hops stand in).
    pub routes: Option<Routes>,
    pub ipam: Avail<IpamData>,
    pub dns: Avail<Vec<DnsEntry>>,
    pub policy: Avail<PolicyData>,
}

/// Network policy: the policies in force cluster-wide and the latest drops on this host.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PolicyData {
    pub policies: Vec<PolicyInfo>,
    /// Newest first.
    pub drops: Vec<PolicyDrop>,
}

impl PolicyData {
    pub fn new(policies: Vec<PolicyInfo>, mut drops: Vec<PolicyDrop>) -> PolicyData {
        // Stable: drops of the same second keep the daemon's order, newest last, reversed.
        drops.reverse();
        drops.sort_by_key(|d| std::cmp::Reverse(d.time));
        PolicyData { policies, drops }
    }

    /// The drops `policy` took part in (it isolated the refusing side).
    pub fn drops_by<'a>(&'a self, policy: &'a str) -> impl Iterator<Item = &'a PolicyDrop> + 'a {
        self.drops.iter().filter(move |d| d.isolating.iter().any(|p| p == policy))
    }
}

/// IPAM from this peer's view: the ring by owner, our allocations, and what is wrong.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct IpamData {
    /// Weave's status word (`ready`, `awaiting consensus ...`).
    pub state: String,
    pub range: String,
    pub default_subnet: String,
    pub range_size: u64,
    /// Addresses handed out by this peer.
    pub active: u64,
    /// Ring ownership, largest owner first.
    pub owners: Vec<RingOwner>,
    pub allocations: Vec<AllocationRow>,
    /// Findings of the IPAM check and refused gossip, one line each.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RingOwner {
    pub peer: String,
    pub nickname: String,
    /// Ranges of the ring it owns.
    pub ranges: u32,
    /// Addresses in those ranges.
    pub ips: u64,
    /// False when the ring names a peer this one does not know (space that may be stuck).
    pub known: bool,
}

/// Addresses this peer handed out to one owner.
#[derive(Clone, Debug, PartialEq)]
pub struct AllocationRow {
    pub ident: String,
    pub addrs: Vec<String>,
    pub is_container: bool,
}

/// One DNS entry. The daemon serves DNS through Weave's report; the view only needs these.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsEntry {
    pub name: String,
    pub address: String,
    /// The peer that announced it.
    pub origin: String,
    pub container_id: String,
}

impl IpamData {
    /// From `/api/v1/ipam`, `/api/v1/ipam/allocations` and (when polled) `/api/v1/ipam/check`.
    pub fn from_api(info: &IpamInfo, allocations: &[Allocation], check: Option<&IpamCheck>) -> IpamData {
        let mut d = IpamData::from_status(&info.status);
        // Said again below, after the check, which words it better.
        d.problems.clear();
        d.state = info.state.clone();
        d.allocations = allocations
            .iter()
            .map(|a| AllocationRow {
                ident: a.ident.clone(),
                addrs: a.addrs.clone(),
                is_container: a.is_container,
            })
            .collect();
        d.allocations.sort_by(|a, b| a.ident.cmp(&b.ident));
        match check {
            Some(c) => {
                d.problems.extend(c.unreachable.iter().map(|u| {
                    format!("{} IPs owned by unreachable {}({}): {}", u.ips, u.peer, u.nickname, u.fix)
                }));
                d.problems.extend(
                    c.orphans.iter().map(|o| {
                        format!("{} holds {} ({}): {}", o.ident, o.addrs.join(" "), o.reason, o.fix)
                    }),
                );
                d.problems.extend(c.errors.iter().map(gossip_error));
            }
            None => d.problems.extend(info.errors.iter().map(gossip_error)),
        }
        d.add_stranded();
        d
    }

    /// Space owned by peers missing from the topology, unless the IPAM check already said so:
    /// the check runs less often than the ring is read, and may predate the peer's departure.
    fn add_stranded(&mut self) {
        let stranded: Vec<String> = self
            .owners
            .iter()
            .filter(|o| !o.known && !self.problems.iter().any(|p| p.contains(&o.peer)))
            .map(|o| {
                format!(
                    "{} IPs owned by {}({}), which is not in the topology (if it is gone for good: weave rmpeer {})",
                    o.ips, o.peer, o.nickname, o.peer
                )
            })
            .collect();
        self.problems.extend(stranded);
    }

    /// From Weave's report alone (a daemon without the `/api/v1/ipam` endpoints).
    pub fn from_status(s: &IpamStatus) -> IpamData {
        let mut owners: BTreeMap<&str, RingOwner> = BTreeMap::new();
        for e in &s.entries {
            let o = owners.entry(&e.peer).or_insert_with(|| RingOwner {
                peer: e.peer.clone(),
                nickname: e.nickname.clone(),
                ranges: 0,
                ips: 0,
                known: e.is_known_peer,
            });
            o.ranges += 1;
            o.ips += u64::from(e.size);
        }
        let mut owners: Vec<RingOwner> = owners.into_values().collect();
        owners.sort_by(|a, b| b.ips.cmp(&a.ips).then_with(|| a.peer.cmp(&b.peer)));
        let state = match &s.paxos {
            Some(p) => format!("awaiting consensus (quorum: {}, known: {})", p.quorum, p.known_nodes),
            None if s.entries.is_empty() => "idle".into(),
            None => "ready".into(),
        };
        let mut d = IpamData {
            state,
            range: s.range.clone(),
            default_subnet: s.default_subnet.clone(),
            range_size: s.range_num_ips,
            active: s.active_ips,
            owners,
            allocations: vec![],
            problems: vec![],
        };
        d.add_stranded();
        d
    }
}

fn gossip_error(e: &weave_api::IpamGossipError) -> String {
    let from = e.peer.as_deref().map(|p| format!(" from {p}")).unwrap_or_default();
    let times = if e.count > 1 { format!(" (x{})", e.count) } else { String::new() };
    format!("refused IPAM gossip{from}: {}{times}", e.error)
}

/// DNS entries from Weave's report, tombstones left out; `Missing` when the daemon has no DNS.
pub fn dns_from_report(r: &Report) -> Avail<Vec<DnsEntry>> {
    match &r.dns {
        None => Avail::Missing,
        Some(d) => {
            let mut v: Vec<DnsEntry> = d
                .entries
                .iter()
                .filter(|e| e.tombstone == 0)
                .map(|e| DnsEntry {
                    name: e.hostname.clone(),
                    address: e.address.clone(),
                    origin: e.origin.clone(),
                    container_id: e.container_id.clone(),
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.address.cmp(&b.address)));
            Avail::Ready(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weave_api::{DnsEntryStatus, DnsStatus, IpamEntry, PaxosStatus};

    fn entry(peer: &str, size: u32) -> IpamEntry {
        IpamEntry {
            token: "10.32.0.0".into(),
            size,
            peer: peer.into(),
            nickname: format!("n-{peer}"),
            is_known_peer: true,
            version: 1,
        }
    }

    #[test]
    fn ring_ownership_is_summed_per_peer_largest_first() {
        let s = IpamStatus {
            range: "10.32.0.0/12".into(),
            range_num_ips: 1 << 20,
            entries: vec![entry("a", 10), entry("b", 100), entry("a", 5)],
            ..Default::default()
        };
        let d = IpamData::from_status(&s);
        assert_eq!(d.state, "ready");
        assert_eq!(d.owners.len(), 2);
        assert_eq!((d.owners[0].peer.as_str(), d.owners[0].ips, d.owners[0].ranges), ("b", 100, 1));
        assert_eq!((d.owners[1].peer.as_str(), d.owners[1].ips, d.owners[1].ranges), ("a", 15, 2));
    }

    #[test]
    fn space_of_a_peer_missing_from_the_topology_is_a_problem_said_once() {
        let mut gone = entry("c", 7);
        gone.is_known_peer = false;
        let s = IpamStatus { entries: vec![entry("a", 10), gone], ..Default::default() };
        let d = IpamData::from_status(&s);
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        assert!(d.problems[0].starts_with("7 IPs owned by c(n-c)"), "{:?}", d.problems);
        // When the IPAM check names the peer, its words stand alone.
        let info = IpamInfo { state: "ready".into(), status: s, errors: vec![] };
        let check = IpamCheck {
            unreachable: vec![weave_api::UnreachableSpace {
                peer: "c".into(),
                nickname: "n-c".into(),
                ips: 7,
                fix: "weave rmpeer c".into(),
            }],
            ..Default::default()
        };
        let d = IpamData::from_api(&info, &[], Some(&check));
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        assert!(d.problems[0].contains("unreachable"), "{:?}", d.problems);
    }

    #[test]
    fn awaiting_consensus_says_so() {
        let s = IpamStatus {
            paxos: Some(PaxosStatus { elector: true, known_nodes: 1, quorum: 2 }),
            ..Default::default()
        };
        assert_eq!(IpamData::from_status(&s).state, "awaiting consensus (quorum: 2, known: 1)");
    }

    #[test]
    fn dns_leaves_out_tombstones_and_says_when_missing() {
        let mut r = Report::default();
        assert_eq!(dns_from_report(&r), Avail::Missing);
        let e = |name: &str, tomb| DnsEntryStatus {
            hostname: name.into(),
            origin: "o".into(),
            container_id: "c".into(),
            address: "10.32.0.1".into(),
            version: 0,
            tombstone: tomb,
        };
        r.dns = Some(DnsStatus {
            entries: vec![e("b.weave.local.", 0), e("a.weave.local.", 0), e("x", 5)],
            ..Default::default()
        });
        let Avail::Ready(v) = dns_from_report(&r) else { panic!("ready") };
        assert_eq!(
            v.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["a.weave.local.", "b.weave.local."]
        );
    }
}
