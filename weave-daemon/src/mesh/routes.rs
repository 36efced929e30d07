//! Unicast and broadcast routes, computed from the topology exactly as mesh's `routes.go`:
//! breadth-first widening with each level sorted by peer name, so every peer computing on the
//! same topology gets the same answer (which keeps broadcasts loop-free and exactly-once with
//! Weave Net peers).

use super::peers::{Peer, Peers};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, BTreeSet};
use weave_wire::PeerName;

/// For each reachable peer, the neighbour to send to (`UNKNOWN` for ourselves).
pub type UnicastRoutes = BTreeMap<PeerName, PeerName>;

/// Breadth-first widening from `from` over the topology. With `established_and_symmetric`
/// only connections that are established and announced by both ends count. With `stop_at`,
/// widening stops when that peer is dequeued; the bool says whether it was.
pub fn routes_from(
    peers: &Peers,
    from: PeerName,
    stop_at: Option<PeerName>,
    established_and_symmetric: bool,
) -> (bool, UnicastRoutes) {
    let mut routes = UnicastRoutes::new();
    routes.insert(from, PeerName::UNKNOWN);
    let mut next = vec![from];
    while !next.is_empty() {
        let mut worklist = std::mem::take(&mut next);
        worklist.sort();
        for cur in worklist {
            if Some(cur) == stop_at {
                return (true, routes);
            }
            let Some(cur_peer) = peers.get(&cur) else { continue };
            for remote in connected_peers(peers, cur_peer, established_and_symmetric, &routes) {
                next.push(remote);
                let hop = if cur == from { remote } else { routes[&cur] };
                routes.insert(remote, hop);
            }
        }
    }
    (false, routes)
}

/// The neighbours of `peer` not yet in `exclude`, honouring the established/symmetric rule.
fn connected_peers(
    peers: &Peers,
    peer: &Peer,
    established_and_symmetric: bool,
    exclude: &UnicastRoutes,
) -> Vec<PeerName> {
    peer.conns
        .iter()
        .filter(|(remote, c)| {
            if established_and_symmetric && !c.established {
                return false;
            }
            if exclude.contains_key(remote) {
                return false;
            }
            let Some(remote_peer) = peers.get(remote) else { return false };
            !established_and_symmetric
                || remote_peer.conns.get(&peer.name).is_some_and(|back| back.established)
        })
        .map(|(remote, _)| *remote)
        .collect()
}

/// The routes of one peer: recomputed when the topology changes, broadcast trees computed
/// per source on demand and cached until the next change.
#[derive(Debug, Default, Clone)]
pub struct Routes {
    pub unicast: UnicastRoutes,
    pub unicast_all: UnicastRoutes,
    broadcast: BTreeMap<PeerName, Vec<PeerName>>,
    broadcast_all: BTreeMap<PeerName, Vec<PeerName>>,
}

impl Routes {
    pub fn calculate(peers: &Peers) -> Routes {
        let us = peers.ourself().name;
        Routes {
            unicast: routes_from(peers, us, None, true).1,
            unicast_all: routes_from(peers, us, None, false).1,
            broadcast: BTreeMap::new(),
            broadcast_all: BTreeMap::new(),
        }
    }

    /// Neighbours to pass a broadcast from `source` on to (established, symmetric links).
    pub fn broadcast(&mut self, peers: &Peers, source: PeerName) -> Vec<PeerName> {
        self.broadcast.entry(source).or_insert_with(|| broadcast_hops(peers, source, true)).clone()
    }

    /// The same over all connections (gossip broadcasts use this).
    pub fn broadcast_all(&mut self, peers: &Peers, source: PeerName) -> Vec<PeerName> {
        self.broadcast_all.entry(source).or_insert_with(|| broadcast_hops(peers, source, false)).clone()
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

    /// Peers reachable over established symmetric links.
    pub fn reachable(&self) -> BTreeSet<PeerName> {
        self.unicast.keys().copied().collect()
    }
}

/// Computes `source`'s tree up to ourselves; we forward to those of our neighbours it has not
/// reached by then. With a stable topology every peer receives each broadcast exactly once.
fn broadcast_hops(peers: &Peers, source: PeerName, established_and_symmetric: bool) -> Vec<PeerName> {
    let us = peers.ourself();
    if peers.get(&source).is_none() {
        return vec![];
    }
    let (found, reached) = routes_from(peers, source, Some(us.name), established_and_symmetric);
    if !found {
        return vec![];
    }
    connected_peers(peers, us, established_and_symmetric, &reached)
}

#[cfg(test)]
mod tests;
