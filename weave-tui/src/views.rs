//! The views (tabs) and the rows each one lists, derived from the data and the tab's filter.
//! Both `update` (to move the selection) and `render` (to draw it) use these, so they always
//! agree.
//!
//! `Tab` is the registry of views: the tab bar, the number keys, the help and the footer are
//! made from `Tab::ALL`. A new view (services, policy drops) is a variant here with its title,
//! its rows in `row_count`, its data as an [`crate::model::Avail`] in the snapshot (so a daemon
//! without it says so instead of failing), and its module in `render/` called from
//! `render::draw_view` and `render::details`; the compiler points at each of these matches.

use crate::app::Data;
use crate::eventlog::LogEntry;
use crate::model::{AllocationRow, DnsEntry, Snapshot};
use crate::topology::Graph;
use std::collections::BTreeMap;
use weave_api::{Connection, PolicyInfo, Service, ServiceState};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Overview,
    Peers,
    Routes,
    Ipam,
    Dns,
    Events,
    Services,
    Policy,
}

impl Tab {
    /// New views go last: the number keys people know keep their views.
    pub const ALL: [Tab; 8] = [
        Tab::Overview,
        Tab::Peers,
        Tab::Routes,
        Tab::Ipam,
        Tab::Dns,
        Tab::Events,
        Tab::Services,
        Tab::Policy,
    ];

    /// The tab the number key `c` picks (`1` the first).
    pub fn by_key(c: char) -> Option<Tab> {
        let n = c.to_digit(10)? as usize;
        Tab::ALL.get(n.checked_sub(1)?).copied()
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Peers => "Peers",
            Tab::Routes => "Routes",
            Tab::Ipam => "IPAM",
            Tab::Dns => "DNS",
            Tab::Events => "Events",
            Tab::Services => "Services",
            Tab::Policy => "Policy",
        }
    }

    pub fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    pub fn prev(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
    }

    /// Whether the tab lists rows (or nodes) to select, filter and open.
    pub fn has_rows(self) -> bool {
        true
    }
}

/// The events view's filters besides the text one: one kind, one peer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventFilters {
    pub kind: Option<String>,
    pub peer: Option<String>,
}

impl EventFilters {
    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.peer.is_none()
    }
}

/// The next of `options` after `cur`, then none again: what a key press cycles through.
pub fn cycle(options: &[&str], cur: &Option<String>) -> Option<String> {
    let next = match cur {
        None => 0,
        Some(c) => options.iter().position(|o| o == c).map_or(options.len(), |i| i + 1),
    };
    options.get(next).map(|s| s.to_string())
}

/// Case-insensitive substring match of `filter` against any of `fields`.
pub fn matches(filter: &str, fields: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    fields.iter().any(|s| s.to_lowercase().contains(&f))
}

/// A row of the peers view: one of our connections (or targets), or a peer we reach indirectly.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRow {
    /// Peer name (MAC), once known.
    pub name: Option<String>,
    pub nickname: Option<String>,
    /// Empty for peers we have no connection with.
    pub address: String,
    pub outbound: Option<bool>,
    /// Connection state, or `via NICK` / `unreachable` for peers without a direct connection.
    pub state: String,
    pub overlay: Option<String>,
    pub encrypted: Option<bool>,
    pub mtu: Option<u32>,
    pub rtt_ms: Option<f64>,
    /// Why this connection runs on sleeve although fastdp was wanted.
    pub fallback: Option<String>,
    pub info: String,
    /// Key of its traffic series, for direct connections.
    pub rates_key: Option<String>,
}

impl PeerRow {
    pub fn label(&self) -> String {
        match (&self.nickname, &self.name) {
            (Some(n), _) => n.clone(),
            (None, Some(n)) => n.clone(),
            (None, None) => self.address.clone(),
        }
    }
}

/// Nicknames of the peers in the topology.
pub fn nicknames(s: &Snapshot) -> BTreeMap<&str, &str> {
    s.report.router.peers.iter().map(|p| (p.name.as_str(), p.nick_name.as_str())).collect()
}

/// Connection attributes of the report (Weave's `Attrs`) by connection address: the overlay
/// says more there than `/api/v1/connections` does (e.g. RTT or a fallback reason).
fn attrs_by_address(s: &Snapshot) -> BTreeMap<&str, &BTreeMap<String, serde_json::Value>> {
    s.report.router.connections.iter().filter_map(|c| Some((c.address.as_str(), c.attrs.as_ref()?))).collect()
}

fn peer_row(c: &Connection, s: &Snapshot) -> PeerRow {
    let attrs = attrs_by_address(s);
    let a = attrs.get(c.address.as_str());
    let num = |k: &str| a.and_then(|a| a.get(k)).and_then(|v| v.as_f64());
    let text = |k: &str| a.and_then(|a| a.get(k)).and_then(|v| v.as_str()).map(String::from);
    let fallback =
        crate::overlay::fallback(c).or_else(|| text("fallback_reason")).filter(|_| c.state == "established");
    PeerRow {
        name: c.peer.clone(),
        nickname: c.nickname.clone(),
        address: c.address.clone(),
        outbound: Some(c.outbound),
        state: c.state.clone(),
        overlay: c.overlay.clone(),
        encrypted: c.overlay.as_ref().map(|_| c.encrypted),
        mtu: c.mtu,
        rtt_ms: c.rtt_us.map(|us| us as f64 / 1000.0).or_else(|| num("rtt_ms")).or_else(|| num("rtt")),
        fallback,
        info: c.info.clone(),
        rates_key: Some(crate::rates::key(c)),
    }
}

/// Our connections (established first), then the other peers of the topology.
pub fn peer_rows(d: &Data, filter: &str) -> Vec<PeerRow> {
    let Some(s) = &d.snapshot else { return vec![] };
    let mut rows: Vec<PeerRow> = s.connections.iter().map(|c| peer_row(c, s)).collect();
    rows.sort_by_key(|r| (r.state != "established", r.label()));
    let nicks = nicknames(s);
    let us = s.report.router.name.as_str();
    let mut others: Vec<PeerRow> = s
        .report
        .router
        .peers
        .iter()
        .filter(|p| p.name != us && !rows.iter().any(|r| r.name.as_deref() == Some(&p.name)))
        .map(|p| {
            let via =
                s.report.router.unicast_routes.iter().find(|u| u.dest == p.name).map(|u| u.via.as_str());
            let state = match via {
                Some(v) => format!("via {}", nicks.get(v).copied().unwrap_or(v)),
                None => "unreachable".into(),
            };
            PeerRow {
                name: Some(p.name.clone()),
                nickname: Some(p.nick_name.clone()),
                address: String::new(),
                outbound: None,
                state,
                overlay: None,
                encrypted: None,
                mtu: None,
                rtt_ms: None,
                fallback: None,
                info: format!("{} connections announced", p.connections.len()),
                rates_key: None,
            }
        })
        .collect();
    others.sort_by_key(|r| r.label());
    rows.extend(others);
    rows.retain(|r| {
        let name = r.name.as_deref().unwrap_or("");
        let nick = r.nickname.as_deref().unwrap_or("");
        let overlay = r.overlay.as_deref().unwrap_or("");
        matches(filter, &[name, nick, &r.address, &r.state, overlay, &r.info])
    });
    rows
}

/// A row of the routes view: how this peer reaches one destination, and where a broadcast from
/// that peer goes next.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteRow {
    pub dest: String,
    pub dest_nick: String,
    /// Next hop; `None` when unreachable. This peer itself routes to `00:00:00:00:00:00`.
    pub via: Option<(String, String)>,
    /// Neighbours a broadcast from `dest` is relayed to by this peer.
    pub broadcast: Vec<(String, String)>,
    pub is_self: bool,
}

pub fn route_rows(d: &Data, filter: &str) -> Vec<RouteRow> {
    let Some(s) = &d.snapshot else { return vec![] };
    let r = &s.report.router;
    let nicks = nicknames(s);
    let pair = |n: &str| (n.to_string(), nicks.get(n).copied().unwrap_or("").to_string());
    let mut dests: Vec<&str> = r.peers.iter().map(|p| p.name.as_str()).collect();
    for u in &r.unicast_routes {
        if !dests.contains(&u.dest.as_str()) {
            dests.push(&u.dest);
        }
    }
    let mut rows: Vec<RouteRow> = dests
        .into_iter()
        .map(|dest| RouteRow {
            dest: dest.to_string(),
            dest_nick: nicks.get(dest).copied().unwrap_or("").to_string(),
            via: r.unicast_routes.iter().find(|u| u.dest == dest).map(|u| pair(&u.via)),
            broadcast: r
                .broadcast_routes
                .iter()
                .find(|b| b.source == dest)
                .map(|b| b.via.iter().map(|v| pair(v)).collect())
                .unwrap_or_default(),
            is_self: dest == r.name,
        })
        .collect();
    rows.sort_by(|a, b| (!a.is_self, &a.dest_nick, &a.dest).cmp(&(!b.is_self, &b.dest_nick, &b.dest)));
    rows.retain(|row| {
        let (via, via_nick) = row.via.clone().unwrap_or_default();
        let bc: Vec<&str> = row.broadcast.iter().flat_map(|(n, k)| [n.as_str(), k.as_str()]).collect();
        matches(filter, &[&row.dest, &row.dest_nick, &via, &via_nick]) || matches(filter, &bc)
    });
    rows
}

pub fn allocation_rows<'a>(d: &'a Data, filter: &str) -> Vec<&'a AllocationRow> {
    let Some(i) = d.snapshot.as_ref().and_then(|s| s.ipam.ready()) else { return vec![] };
    i.allocations
        .iter()
        .filter(|a| {
            let addrs = a.addrs.join(" ");
            matches(filter, &[&a.ident, &addrs])
        })
        .collect()
}

pub fn dns_rows<'a>(d: &'a Data, filter: &str) -> Vec<&'a DnsEntry> {
    let Some(e) = d.snapshot.as_ref().and_then(|s| s.dns.ready()) else { return vec![] };
    e.iter().filter(|e| matches(filter, &[&e.name, &e.address, &e.origin, &e.container_id])).collect()
}

/// This host's services (from the report), matching `filter` on any listed field.
pub fn service_rows<'a>(d: &'a Data, filter: &str) -> Vec<&'a Service> {
    let Some(s) = &d.snapshot else { return vec![] };
    s.report
        .services
        .iter()
        .filter(|v| {
            let state = if v.state == ServiceState::Broken { "broken" } else { "active" };
            let fields = [
                v.id.as_str(),
                v.kind.as_str(),
                &v.target,
                v.target_address.as_deref().unwrap_or_default(),
                v.weave_address.as_deref().unwrap_or_default(),
                v.fqdn.as_deref().unwrap_or_default(),
                state,
            ];
            matches(filter, &fields)
        })
        .collect()
}

/// The policies in force, matching `filter` on their name or selector.
pub fn policy_rows<'a>(d: &'a Data, filter: &str) -> Vec<&'a PolicyInfo> {
    let Some(p) = d.snapshot.as_ref().and_then(|s| s.policy.ready()) else { return vec![] };
    p.policies.iter().filter(|p| matches(filter, &[&p.name, &p.selector])).collect()
}

/// Whether a log entry passes the events view's filters.
pub fn event_matches(e: &LogEntry, filter: &str, f: &EventFilters) -> bool {
    f.kind.as_ref().is_none_or(|k| *k == e.kind)
        && f.peer.as_ref().is_none_or(|p| e.peer.as_ref() == Some(p))
        && matches(filter, &[&e.time, &e.kind, &e.text])
}

pub fn event_rows<'a>(d: &'a Data, filter: &str, f: &EventFilters) -> Vec<&'a LogEntry> {
    d.log.newest_first().filter(|e| event_matches(e, filter, f)).collect()
}

/// The network as a graph, once a poll has answered.
pub fn graph(d: &Data) -> Option<Graph> {
    d.snapshot.as_ref().map(|s| Graph::build(s, &d.learned))
}

/// The overview's rows: the map's nodes (graph indices) whose name, nickname or address
/// matches `filter`, in the graph's order.
pub fn map_rows(g: &Graph, filter: &str) -> Vec<usize> {
    (0..g.nodes.len()).filter(|&i| matches(filter, &[&g.nodes[i].key, &g.nodes[i].nickname])).collect()
}

/// How many rows `tab` lists under `filter` (and, for the events, `events`).
pub fn row_count(tab: Tab, d: &Data, filter: &str, events: &EventFilters) -> usize {
    match tab {
        Tab::Overview => graph(d).map(|g| map_rows(&g, filter).len()).unwrap_or(0),
        Tab::Peers => peer_rows(d, filter).len(),
        Tab::Routes => route_rows(d, filter).len(),
        Tab::Ipam => allocation_rows(d, filter).len(),
        Tab::Dns => dns_rows(d, filter).len(),
        Tab::Events => event_rows(d, filter, events).len(),
        Tab::Services => service_rows(d, filter).len(),
        Tab::Policy => policy_rows(d, filter).len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_cycle_both_ways() {
        assert_eq!(Tab::Policy.next(), Tab::Overview);
        assert_eq!(Tab::Overview.prev(), Tab::Policy);
        assert_eq!(Tab::Events.next(), Tab::Services);
        assert_eq!(Tab::Peers.next(), Tab::Routes);
    }

    #[test]
    fn number_keys_pick_the_tabs_in_order() {
        assert_eq!(Tab::by_key('1'), Some(Tab::Overview));
        assert_eq!(Tab::by_key('6'), Some(Tab::Events));
        assert_eq!((Tab::by_key('7'), Tab::by_key('8')), (Some(Tab::Services), Some(Tab::Policy)));
        assert_eq!((Tab::by_key('0'), Tab::by_key('9'), Tab::by_key('x')), (None, None, None));
    }

    #[test]
    fn cycling_goes_through_every_option_then_back_to_none() {
        let opts = ["a", "b"];
        let mut cur = None;
        let mut seen = vec![];
        for _ in 0..3 {
            cur = cycle(&opts, &cur);
            seen.push(cur.clone());
        }
        assert_eq!(seen, [Some("a".to_string()), Some("b".to_string()), None]);
        assert_eq!(cycle(&opts, &Some("gone".into())), None, "a value no longer offered ends the cycle");
    }

    #[test]
    fn filters_are_case_insensitive_substrings() {
        assert!(matches("", &["x"]));
        assert!(matches("HOST", &["a", "myhost2"]));
        assert!(!matches("h3", &["host2"]));
    }
}
