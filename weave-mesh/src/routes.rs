//! Unicast and broadcast routes, computed from the topology exactly as mesh's `routes.go`:
//! breadth-first widening with each level sorted by peer name, so every peer computing on the
//! same topology gets the same answer (which keeps broadcasts loop-free and exactly-once with
//! Weave Net peers).

use crate::peers::{Peer, Peers};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, BTreeSet};
use weave_wire::PeerName;

/// Breadth-first widening from `from` over the topology: for each peer reached, the neighbour
/// of `from` it was reached through (`UNKNOWN` for `from`). With `established_and_symmetric`
/// only connections that are established and announced by both ends count. With `stop_at`,
/// widening stops when that peer is dequeued; the bool says whether it was.
pub(crate) fn routes_from(
    peers: &Peers,
    from: PeerName,
    stop_at: Option<PeerName>,
    established_and_symmetric: bool,
) -> (bool, BTreeMap<PeerName, PeerName>) {
    let mut routes = BTreeMap::new();
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
    exclude: &BTreeMap<PeerName, PeerName>,
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

/// The routes of one peer, computed from the topology at one moment: the one route type,
/// read by the mesh's gossip, published to the sleeve datapath and shown in status. A new
/// topology makes a new `Routes`; a published one never changes, so it can be shared.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Routes {
    /// Every peer of the topology (the datapath drops frames naming any other).
    pub known: BTreeSet<PeerName>,
    /// Next hop per peer reachable over established, symmetric connections; ourselves map to
    /// `UNKNOWN`.
    pub unicast: BTreeMap<PeerName, PeerName>,
    /// The same over all connections (gossip unicasts use these).
    pub unicast_all: BTreeMap<PeerName, PeerName>,
    /// For each source in `unicast`, the neighbours to pass its broadcasts on to over
    /// established, symmetric connections.
    pub broadcast: BTreeMap<PeerName, Vec<PeerName>>,
}

impl Routes {
    /// The complete routes of a topology.
    pub fn calculate(peers: &Peers) -> Routes {
        Routes::unicast_only(peers).with_broadcast(peers)
    }

    /// Without broadcast trees, which cost one search per source: what the mesh's gossip needs
    /// after every topology change.
    pub(crate) fn unicast_only(peers: &Peers) -> Routes {
        let us = peers.ourself().name;
        Routes {
            known: peers.names(),
            unicast: routes_from(peers, us, None, true).1,
            unicast_all: routes_from(peers, us, None, false).1,
            broadcast: BTreeMap::new(),
        }
    }

    /// These routes with the broadcast tree of every source in `unicast`.
    pub(crate) fn with_broadcast(&self, peers: &Peers) -> Routes {
        let broadcast = self.unicast.keys().map(|&src| (src, broadcast_hops(peers, src, true))).collect();
        Routes { broadcast, ..self.clone() }
    }

    /// The neighbour to send to for `dst`, over established symmetric connections; `None` for
    /// ourselves and for peers we cannot reach.
    pub fn next_hop(&self, dst: &PeerName) -> Option<PeerName> {
        self.unicast.get(dst).copied().filter(|hop| *hop != PeerName::UNKNOWN)
    }

    /// The neighbours to pass a broadcast from `source` on to.
    pub fn broadcast_hops(&self, source: &PeerName) -> &[PeerName] {
        self.broadcast.get(source).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether `hop` is the next hop towards some other peer, so it relays our broadcasts.
    pub fn relays(&self, hop: &PeerName) -> bool {
        self.unicast.iter().any(|(dst, h)| h == hop && dst != hop)
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

/// The neighbours to pass a broadcast from `source` on to over all connections, established
/// or not (gossip broadcasts); the mesh caches these per source until the topology changes.
pub fn broadcast_all_hops(peers: &Peers, source: PeerName) -> Vec<PeerName> {
    broadcast_hops(peers, source, false)
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
