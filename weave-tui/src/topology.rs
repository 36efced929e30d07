//! The network as a graph, from one poll: every peer of the topology a node (this peer first,
//! the others by name, so the order is stable from poll to poll), every connection an edge with
//! what this peer knows of it. Our own connections carry their state, overlay and encryption;
//! other peers' connections only whether both ends announce them established (Weave's topology
//! gossip says no more). Routes are the API's whole paths, or the report's next hops where the
//! daemon has no paths. Pure: the map's layout and drawing read this.

use crate::model::Snapshot;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// This peer.
    Us,
    Peer,
    /// A peer one of our connections (or targets) names that the topology does not list (any
    /// more): cut off from everyone else, or gone.
    Absent,
    /// An address we dial whose peer is not known.
    Target,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The peer's name, or a target's address.
    pub key: String,
    /// Empty when not known.
    pub nickname: String,
    pub kind: NodeKind,
    /// The peers after this one on the way to it, it last; empty for us and where there is no
    /// route.
    pub path: Vec<String>,
}

impl Node {
    pub fn label(&self) -> &str {
        if self.nickname.is_empty() {
            &self.key
        } else {
            &self.nickname
        }
    }

    /// Hops from this peer: 0 for us, `None` when it cannot be reached.
    pub fn hops(&self) -> Option<usize> {
        match self.kind {
            NodeKind::Us => Some(0),
            _ if self.path.is_empty() => None,
            _ => Some(self.path.len()),
        }
    }
}

/// What an edge stands for, worst last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    /// Established and announced so by both ends; the overlay is only known for our own.
    Up,
    Fastdp,
    Sleeve,
    /// Being set up, or announced by one end only.
    Connecting,
    /// Our attempts to connect fail.
    Failed,
}

impl Link {
    pub fn established(self) -> bool {
        matches!(self, Link::Up | Link::Fastdp | Link::Sleeve)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    /// Node indices, `a < b`.
    pub a: usize,
    pub b: usize,
    pub link: Link,
    pub encrypted: bool,
    /// One of this peer's connections (or targets).
    pub ours: bool,
}

impl Edge {
    pub fn touches(&self, n: usize) -> bool {
        self.a == n || self.b == n
    }

    pub fn other(&self, n: usize) -> usize {
        if self.a == n {
            self.b
        } else {
            self.a
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// This peer first.
    pub nodes: Vec<Node>,
    /// Sorted by `(a, b)`.
    pub edges: Vec<Edge>,
}

/// What the two ends of a pair announce, and what our own connection says.
#[derive(Default)]
struct Pair {
    /// Whether each end lists the other, and as established.
    a_says: Option<bool>,
    b_says: Option<bool>,
    ours: Option<(Link, bool)>,
}

/// How good a connection state is, to keep the best of several for one peer (an inbound
/// connection up while our own dial to it fails is an established link).
fn rank(l: Link) -> u8 {
    match l {
        Link::Failed => 0,
        Link::Connecting => 1,
        _ => 2,
    }
}

/// Our connection's state as a link.
fn our_link(c: &weave_api::Connection) -> Link {
    match (c.state.as_str(), c.overlay.as_deref()) {
        ("established", Some("fastdp")) => Link::Fastdp,
        ("established", Some("sleeve")) => Link::Sleeve,
        ("established", _) => Link::Up,
        ("failed" | "retrying", _) => Link::Failed,
        _ => Link::Connecting,
    }
}

impl Graph {
    /// The graph of `s`; `learned` names peers the topology no longer lists (nicknames the
    /// events stream told of).
    pub fn build(s: &Snapshot, learned: &BTreeMap<String, String>) -> Graph {
        let r = &s.report.router;
        let us = r.name.as_str();
        let mut nodes =
            vec![Node { key: us.into(), nickname: r.nick_name.clone(), kind: NodeKind::Us, path: vec![] }];
        let mut peers: Vec<Node> = r
            .peers
            .iter()
            .filter(|p| p.name != us)
            .map(|p| Node {
                key: p.name.clone(),
                nickname: p.nick_name.clone(),
                kind: NodeKind::Peer,
                path: vec![],
            })
            .collect();
        let mut absent: Vec<Node> = vec![];
        let mut targets: Vec<Node> = vec![];
        for c in &s.connections {
            match c.peer.as_ref().or(c.expected_peer.as_ref()) {
                Some(p) if p == us || peers.iter().chain(&absent).any(|n| &n.key == p) => {}
                Some(p) => absent.push(Node {
                    key: p.clone(),
                    nickname: c.nickname.clone().or_else(|| learned.get(p).cloned()).unwrap_or_default(),
                    kind: NodeKind::Absent,
                    path: vec![],
                }),
                None if targets.iter().any(|n| n.key == c.address) => {}
                None => targets.push(Node {
                    key: c.address.clone(),
                    nickname: String::new(),
                    kind: NodeKind::Target,
                    path: vec![],
                }),
            }
        }
        let by_label =
            |a: &Node, b: &Node| (a.label().to_lowercase(), &a.key).cmp(&(b.label().to_lowercase(), &b.key));
        peers.sort_by(by_label);
        absent.sort_by(by_label);
        targets.sort_by(|a, b| a.key.cmp(&b.key));
        nodes.extend(peers);
        nodes.extend(absent);
        nodes.extend(targets);
        let index: BTreeMap<String, usize> =
            nodes.iter().enumerate().map(|(i, n)| (n.key.clone(), i)).collect();

        // Paths: the API's whole ones, else the next hop and the destination.
        match &s.routes {
            Some(routes) => {
                for u in &routes.unicast {
                    let Some(&i) = index.get(&u.dest) else { continue };
                    if i == 0 {
                        continue;
                    }
                    nodes[i].path =
                        if u.path.is_empty() { fallback_path(&u.via, &u.dest) } else { u.path.clone() };
                }
            }
            None => {
                for u in &r.unicast_routes {
                    if let Some(&i) = index.get(&u.dest).filter(|i| **i != 0) {
                        nodes[i].path = fallback_path(&u.via, &u.dest);
                    }
                }
            }
        }

        let mut pairs: BTreeMap<(usize, usize), Pair> = BTreeMap::new();
        for p in &r.peers {
            let Some(&from) = index.get(&p.name) else { continue };
            for c in &p.connections {
                let Some(&to) = index.get(&c.name) else { continue };
                if to == from {
                    continue;
                }
                let pair = pairs.entry((from.min(to), from.max(to))).or_default();
                let says = if from < to { &mut pair.a_says } else { &mut pair.b_says };
                *says = Some(says.unwrap_or(false) || c.established);
            }
        }
        for c in &s.connections {
            let to = match c.peer.as_ref().or(c.expected_peer.as_ref()) {
                Some(p) => index.get(p),
                None => index.get(&c.address),
            };
            let Some(&to) = to.filter(|i| **i != 0) else { continue };
            let link = (our_link(c), c.encrypted && c.state == "established");
            let pair = pairs.entry((0, to)).or_default();
            if pair.ours.is_none_or(|(l, _)| rank(link.0) > rank(l)) {
                pair.ours = Some(link);
            }
        }
        let edges = pairs
            .into_iter()
            .map(|((a, b), p)| {
                let (link, encrypted, ours) = match p.ours {
                    Some((l, e)) => (l, e, true),
                    None if p.a_says == Some(true) && p.b_says == Some(true) => (Link::Up, false, false),
                    None => (Link::Connecting, false, false),
                };
                Edge { a, b, link, encrypted, ours }
            })
            .collect();
        Graph { nodes, edges }
    }

    pub fn index(&self, key: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.key == key)
    }

    /// The edges of the route from this peer to node `n`, as node index pairs in order; a hop
    /// the graph does not hold ends the list.
    pub fn route(&self, n: usize) -> Vec<(usize, usize)> {
        let mut out = vec![];
        let mut from = 0;
        for hop in &self.nodes[n].path {
            let Some(to) = self.index(hop) else { break };
            out.push((from, to));
            from = to;
        }
        out
    }

    /// The edge between two nodes, if any.
    pub fn edge(&self, x: usize, y: usize) -> Option<&Edge> {
        let (a, b) = (x.min(y), x.max(y));
        self.edges.iter().find(|e| e.a == a && e.b == b)
    }
}

/// The way to `dest` from a next hop alone: direct, or through `via` (and maybe more).
fn fallback_path(via: &str, dest: &str) -> Vec<String> {
    if via == dest {
        vec![dest.to_string()]
    } else {
        vec![via.to_string(), dest.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, H1, H2, H3, H4};
    use std::time::Instant;

    fn graph() -> Graph {
        Graph::build(&fixtures::snapshot(Instant::now(), 3), &BTreeMap::new())
    }

    #[test]
    fn nodes_are_us_then_peers_by_name_then_what_we_dial_unknown() {
        let g = graph();
        let keys: Vec<&str> = g.nodes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, [H1, H2, H3, H4, "10.99.0.9:6783"]);
        assert_eq!(g.nodes[0].kind, NodeKind::Us);
        assert_eq!(g.nodes[4].kind, NodeKind::Target);
        let hops: Vec<Option<usize>> = g.nodes.iter().map(Node::hops).collect();
        assert_eq!(hops, [Some(0), Some(1), Some(2), None, None]);
    }

    #[test]
    fn our_edges_carry_the_overlay_and_others_what_both_ends_announce() {
        let g = graph();
        let e = g.edge(0, 1).expect("us - host2");
        assert_eq!((e.link, e.encrypted, e.ours), (Link::Sleeve, true, true));
        let e = g.edge(1, 2).expect("host2 - host3");
        assert_eq!((e.link, e.ours), (Link::Up, false));
        let e = g.edge(0, 4).expect("us - the failing target");
        assert_eq!(e.link, Link::Failed);
        assert!(g.edge(0, 3).is_none(), "host4 has no connections");
        assert_eq!(g.route(2), [(0, 1), (1, 2)], "host3 through host2");
    }

    #[test]
    fn a_failing_target_is_drawn_to_its_expected_peer_and_a_one_sided_link_is_connecting() {
        let mut s = fixtures::snapshot(Instant::now(), 3);
        s.connections[1].expected_peer = Some(H3.into());
        // host3 says it is connected to host4; host4 does not say so.
        s.report.router.peers[2].connections.push(weave_api::PeerConnectionStatus {
            name: H4.into(),
            nick_name: "host4".into(),
            address: "10.99.0.4:6783".into(),
            outbound: true,
            established: true,
        });
        let g = Graph::build(&s, &BTreeMap::new());
        assert_eq!(g.nodes.len(), 4, "no node for the target's address");
        assert_eq!(g.edge(0, 2).map(|e| e.link), Some(Link::Failed));
        assert_eq!(g.edge(2, 3).map(|e| e.link), Some(Link::Connecting));
    }

    #[test]
    fn a_peer_the_topology_lost_stays_a_node_named_by_what_was_learned() {
        let mut s = fixtures::snapshot(Instant::now(), 3);
        let gone = "02:00:00:00:00:07";
        s.connections[1].expected_peer = Some(gone.into());
        let learned = BTreeMap::from([(gone.to_string(), "host7".to_string())]);
        let g = Graph::build(&s, &learned);
        let i = g.index(gone).expect("a node for it");
        assert_eq!((g.nodes[i].kind, g.nodes[i].label()), (NodeKind::Absent, "host7"));
        assert_eq!(g.edge(0, i).map(|e| e.link), Some(Link::Failed));
    }

    #[test]
    fn an_established_connection_wins_over_a_failing_dial_to_the_same_peer() {
        let mut s = fixtures::snapshot(Instant::now(), 3);
        s.connections[1].expected_peer = Some(H2.into());
        let g = Graph::build(&s, &BTreeMap::new());
        assert_eq!(g.edge(0, 1).map(|e| e.link), Some(Link::Sleeve));
    }

    #[test]
    fn without_the_apis_paths_the_reports_next_hops_stand_in() {
        let mut s = fixtures::snapshot(Instant::now(), 3);
        s.routes = None;
        let g = Graph::build(&s, &BTreeMap::new());
        assert_eq!(
            (g.nodes[1].path.clone(), g.nodes[2].path.clone()),
            (vec![H2.to_string()], vec![H2.to_string(), H3.to_string()])
        );
        assert_eq!(g.nodes[3].hops(), None);
    }

    #[test]
    fn whole_paths_come_from_the_api_when_it_has_them() {
        let mut s = fixtures::snapshot(Instant::now(), 3);
        s.routes = Some(weave_api::Routes {
            unicast: vec![weave_api::UnicastHop {
                dest: H3.into(),
                via: H2.into(),
                path: vec![H2.into(), H4.into(), H3.into()],
            }],
            broadcast: vec![],
        });
        let g = Graph::build(&s, &BTreeMap::new());
        assert_eq!(g.nodes[2].path, [H2, H4, H3]);
        assert_eq!(g.nodes[2].hops(), Some(3));
        assert_eq!(g.nodes[1].hops(), None, "host2 has no route in these routes");
    }
}
