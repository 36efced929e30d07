//! Unicast and broadcast routes, computed from the topology exactly as mesh's `routes.go`:
//! breadth-first widening with each level sorted by peer name, so every peer computing on the
//! same topology gets the same answer (which keeps broadcasts loop-free and exactly-once with
//! Weave Net peers).

use crate::peers::{Peer, Peers};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use weave_wire::PeerName;

/// No route yet (in [`Graph::bfs`]'s first-hop table).
const NONE: u32 = u32::MAX;

/// The topology as index-linked adjacency lists, built once per change: peers are numbered in
/// name order, so sorting indices sorts names, and each search is plain array work.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    /// In name order (an index is a position here).
    names: Vec<PeerName>,
    /// Per peer, its announced connections to known peers in name order, each with whether
    /// it is established and announced established by the other end too.
    edges: Vec<Vec<(u32, bool)>>,
    us: u32,
}

impl Graph {
    pub(crate) fn new(peers: &Peers) -> Graph {
        Graph::of(peers.iter(), peers.ourself().name).unwrap_or_default()
    }

    /// The graph of any set of peers (a live topology or a status copy), as seen by `us`;
    /// `None` when `us` is not among them.
    fn of<'a>(peers: impl Iterator<Item = &'a Peer>, us: PeerName) -> Option<Graph> {
        let mut list: Vec<&Peer> = peers.collect();
        list.sort_by_key(|p| p.name);
        list.dedup_by_key(|p| p.name);
        let names: Vec<PeerName> = list.iter().map(|p| p.name).collect();
        let find = |n: &PeerName| names.binary_search(n).ok().map(|i| i as u32);
        // Each peer's connections come in name order, so each list is sorted by index: the
        // other end's view of an edge is then a binary search, not a map lookup.
        let mut edges: Vec<Vec<(u32, bool)>> = list
            .iter()
            .map(|p| p.conns.iter().filter_map(|(remote, c)| Some((find(remote)?, c.established))).collect())
            .collect();
        let announced: Vec<Vec<(u32, bool)>> = edges.clone();
        for (i, list) in edges.iter_mut().enumerate() {
            for (r, sym) in list.iter_mut() {
                let back = &announced[*r as usize];
                *sym = *sym && back.binary_search_by_key(&(i as u32), |e| e.0).is_ok_and(|k| back[k].1);
            }
        }
        let us = find(&us)?;
        Some(Graph { names, edges, us })
    }

    /// The index of a peer.
    fn index(&self, name: &PeerName) -> Option<u32> {
        self.names.binary_search(name).ok().map(|i| i as u32)
    }

    /// Breadth-first widening from `from`: for each peer reached, the neighbour of `from` it
    /// was reached through (`from` itself for `from`). Each level is taken in name order.
    /// With `symmetric` only connections established and announced by both ends count. With
    /// `stop_at`, widening stops when that peer's turn comes; the bool says whether it did.
    fn bfs(&self, from: u32, stop_at: Option<u32>, symmetric: bool) -> (bool, Vec<u32>) {
        let mut hop = vec![NONE; self.names.len()];
        hop[from as usize] = from;
        let mut level = vec![from];
        let mut next = Vec::new();
        while !level.is_empty() {
            level.sort_unstable();
            for &cur in &level {
                if Some(cur) == stop_at {
                    return (true, hop);
                }
                for &(remote, sym) in &self.edges[cur as usize] {
                    if (symmetric && !sym) || hop[remote as usize] != NONE {
                        continue;
                    }
                    hop[remote as usize] = if cur == from { remote } else { hop[cur as usize] };
                    next.push(remote);
                }
            }
            std::mem::swap(&mut level, &mut next);
            next.clear();
        }
        (false, hop)
    }

    /// Next hop per reachable peer from ourselves (`UNKNOWN` for ourselves).
    fn routes(&self, symmetric: bool) -> BTreeMap<PeerName, PeerName> {
        let (_, hop) = self.bfs(self.us, None, symmetric);
        hop.iter()
            .enumerate()
            .filter(|(_, h)| **h != NONE)
            .map(|(i, h)| {
                let via = if i as u32 == self.us { PeerName::UNKNOWN } else { self.names[*h as usize] };
                (self.names[i], via)
            })
            .collect()
    }

    /// The peers reachable from ourselves over any connection.
    pub(crate) fn reachable(&self) -> BTreeSet<PeerName> {
        let (_, hop) = self.bfs(self.us, None, false);
        hop.iter().enumerate().filter(|(_, h)| **h != NONE).map(|(i, _)| self.names[i]).collect()
    }

    /// `source`'s broadcast tree computed up to ourselves: our neighbours it has not reached
    /// by then, whom we pass its broadcasts on to. With a stable topology every peer receives
    /// each broadcast exactly once (mesh's `calculateBroadcast`).
    fn broadcast_hops(&self, source: u32, symmetric: bool) -> Vec<PeerName> {
        let (found, reached) = self.bfs(source, Some(self.us), symmetric);
        if !found {
            return vec![];
        }
        self.edges[self.us as usize]
            .iter()
            .filter(|(r, sym)| (!symmetric || *sym) && reached[*r as usize] == NONE)
            .map(|(r, _)| self.names[*r as usize])
            .collect()
    }
}

/// The routes of one peer, computed from the topology at one moment: the one route type,
/// read by the mesh's gossip, published to the sleeve datapath and shown in status. A new
/// topology makes a new `Routes`; a published one never changes, so it can be shared.
/// Broadcast trees cost a search per source, so each is computed when first asked for.
#[derive(Debug, Default)]
pub struct Routes {
    /// Every peer of the topology (the datapath drops frames naming any other).
    pub known: BTreeSet<PeerName>,
    /// Next hop per peer reachable over established, symmetric connections; ourselves map to
    /// `UNKNOWN`.
    pub unicast: BTreeMap<PeerName, PeerName>,
    /// The same over all connections (gossip unicasts use these).
    pub unicast_all: BTreeMap<PeerName, PeerName>,
    graph: Arc<Graph>,
    /// Per source index: broadcast hops over established, symmetric connections (the
    /// datapath's), and over all connections (gossip broadcasts).
    broadcast: Vec<OnceLock<Vec<PeerName>>>,
    broadcast_all: Vec<OnceLock<Vec<PeerName>>>,
    /// The next hops towards some other peer than themselves.
    relaying: OnceLock<BTreeSet<PeerName>>,
}

impl PartialEq for Routes {
    /// Routes are equal when they route alike: broadcast trees follow from the topology.
    fn eq(&self, other: &Routes) -> bool {
        self.known == other.known && self.unicast == other.unicast && self.unicast_all == other.unicast_all
    }
}

impl Routes {
    /// The routes of a topology.
    pub fn calculate(peers: &Peers) -> Routes {
        let graph = Arc::new(Graph::new(peers));
        let n = graph.names.len();
        Routes {
            known: peers.names(),
            unicast: graph.routes(true),
            unicast_all: graph.routes(false),
            graph,
            broadcast: (0..n).map(|_| OnceLock::new()).collect(),
            broadcast_all: (0..n).map(|_| OnceLock::new()).collect(),
            relaying: OnceLock::new(),
        }
    }

    /// The routes `us` computes for a topology of established, symmetric links: for tests and
    /// benchmarks of the datapath that need routes without running a mesh.
    pub fn of_links(us: PeerName, links: &[(PeerName, PeerName)]) -> Routes {
        use crate::peers::{ConnSummary, Peer};
        let mut all: BTreeMap<PeerName, Peer> = BTreeMap::new();
        for (a, b) in links.iter().flat_map(|&(a, b)| [(a, b), (b, a)]) {
            all.entry(a).or_insert_with(|| Peer::new(a, String::new(), a.0, 1, None)).conns.insert(
                b,
                ConnSummary { remote_tcp_addr: Default::default(), outbound: true, established: true },
            );
        }
        let ourself = all.remove(&us).unwrap_or_else(|| Peer::new(us, String::new(), us.0, 1, None));
        let mut peers = Peers::new(ourself);
        let others: Vec<_> = all.values().map(Peer::summary).collect();
        if !others.is_empty() {
            // Our own encoding of peers we just built: it cannot fail to apply.
            let _ = peers.apply_update(&weave_wire::topology::encode_topology(&others));
        }
        Routes::calculate(&peers)
    }

    /// The neighbour to send to for `dst`, over established symmetric connections; `None` for
    /// ourselves and for peers we cannot reach.
    pub fn next_hop(&self, dst: &PeerName) -> Option<PeerName> {
        self.unicast.get(dst).copied().filter(|hop| *hop != PeerName::UNKNOWN)
    }

    /// The neighbours to pass a broadcast from `source` on to, over established, symmetric
    /// connections (the datapath's); none for a source we cannot reach that way.
    pub fn broadcast_hops(&self, source: &PeerName) -> &[PeerName] {
        if !self.unicast.contains_key(source) {
            return &[];
        }
        self.hops(&self.broadcast, source, true)
    }

    /// The neighbours to pass a gossip broadcast from `source` on to, over all connections.
    pub fn broadcast_all_hops(&self, source: &PeerName) -> &[PeerName] {
        self.hops(&self.broadcast_all, source, false)
    }

    fn hops<'a>(
        &'a self,
        cache: &'a [OnceLock<Vec<PeerName>>],
        source: &PeerName,
        symmetric: bool,
    ) -> &'a [PeerName] {
        let Some(i) = self.graph.index(source) else { return &[] };
        cache[i as usize].get_or_init(|| self.graph.broadcast_hops(i, symmetric))
    }

    /// Every source's broadcast hops over established, symmetric connections (for status:
    /// a search per source).
    pub fn broadcast(&self) -> BTreeMap<PeerName, Vec<PeerName>> {
        self.unicast.keys().map(|src| (*src, self.broadcast_hops(src).to_vec())).collect()
    }

    /// Whether `hop` is the next hop towards some other peer, so it relays our broadcasts.
    pub fn relays(&self, hop: &PeerName) -> bool {
        self.relaying
            .get_or_init(|| self.unicast.iter().filter(|(dst, h)| h != dst).map(|(_, h)| *h).collect())
            .contains(hop)
    }

    /// Weave's random neighbour subset for gossip: min(2·log2(#peers), #neighbours) distinct
    /// neighbours, weighted by how many destinations each is the next hop for.
    pub fn random_neighbours(&self, except: PeerName, rng: &mut impl Rng) -> Vec<PeerName> {
        let mut weights: BTreeMap<PeerName, u64> = BTreeMap::new();
        for hop in self.unicast_all.values() {
            if *hop != PeerName::UNKNOWN && *hop != except {
                *weights.entry(*hop).or_default() += 1;
            }
        }
        let n = self.unicast_all.len() as f64;
        let needed = ((2.0 * n.log2()).min(weights.len() as f64)).max(0.0) as usize;
        let mut total: u64 = weights.values().sum();
        let mut out = Vec::with_capacity(needed);
        while out.len() < needed && total > 0 {
            let mut point = rng.random_range(0..total);
            let pick = weights.iter().find_map(|(name, &w)| {
                if point < w {
                    Some((*name, w))
                } else {
                    point -= w;
                    None
                }
            });
            let Some((name, w)) = pick else { break };
            weights.remove(&name);
            total -= w;
            out.push(name);
        }
        out
    }
}

/// The whole way a frame from `us` to each peer it reaches goes, from our next hop to the
/// destination: each hop picks its own next hop by the same rule, on this topology (as the
/// peers do once their views agree). `peers` is a status copy of the topology. Computed on
/// demand for display, not on the forwarding path: one search per relaying hop.
pub fn unicast_paths<'a>(
    peers: impl IntoIterator<Item = &'a Peer>,
    us: PeerName,
) -> BTreeMap<PeerName, Vec<PeerName>> {
    let Some(g) = Graph::of(peers.into_iter(), us) else { return BTreeMap::new() };
    let n = g.names.len();
    let first = g.bfs(g.us, None, true).1;
    let mut tables: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for dest in (0..n as u32).filter(|d| *d != g.us && first[*d as usize] != NONE) {
        let mut cur = first[dest as usize];
        let mut path = vec![cur];
        // Each hop is one step closer on a breadth-first tree, so this ends; the bound guards
        // against a topology that changed between searches (it cannot, here).
        while cur != dest && path.len() <= n {
            let table = tables.entry(cur).or_insert_with(|| g.bfs(cur, None, true).1);
            match table[dest as usize] {
                NONE => break,
                hop => {
                    path.push(hop);
                    cur = hop;
                }
            }
        }
        if cur == dest {
            out.insert(g.names[dest as usize], path.iter().map(|i| g.names[*i as usize]).collect());
        }
    }
    out
}

#[cfg(test)]
mod tests;
