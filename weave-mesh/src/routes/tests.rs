use super::*;
use crate::peers::{ConnSummary, Peer};

fn n(x: u64) -> PeerName {
    PeerName(x)
}

/// A topology from undirected links (established, symmetric) plus one-way extras.
fn topo(us: u64, links: &[(u64, u64)], one_way: &[(u64, u64)]) -> Peers {
    let mut all: BTreeMap<u64, Peer> = BTreeMap::new();
    let add = |a: u64, b: u64, all: &mut BTreeMap<u64, Peer>| {
        all.entry(a).or_insert_with(|| Peer::new(n(a), String::new(), a, 1, None)).conns.insert(
            n(b),
            ConnSummary { remote_tcp_addr: Default::default(), outbound: true, established: true },
        );
    };
    for &(a, b) in links {
        add(a, b, &mut all);
        add(b, a, &mut all);
    }
    for &(a, b) in one_way {
        add(a, b, &mut all);
        all.entry(b).or_insert_with(|| Peer::new(n(b), String::new(), b, 1, None));
    }
    let mut ps = Peers::new(all.remove(&us).unwrap_or_else(|| Peer::new(n(us), String::new(), us, 1, None)));
    let others: Vec<Peer> = all.into_values().collect();
    let update: Vec<_> = others.iter().map(Peer::summary).collect();
    ps.apply_update(&weave_wire::topology::encode_topology(&update)).unwrap();
    ps
}

#[test]
fn line_routes_through_the_middle() {
    let ps = topo(1, &[(1, 2), (2, 3)], &[]);
    let r = Routes::calculate(&ps);
    assert_eq!(r.unicast[&n(3)], n(2));
    assert_eq!(r.unicast[&n(2)], n(2));
    assert_eq!(r.unicast[&n(1)], PeerName::UNKNOWN);
    assert_eq!((r.next_hop(&n(3)), r.next_hop(&n(1))), (Some(n(2)), None), "no hop to ourselves");
    assert!(r.relays(&n(2)), "2 is the next hop towards 3");
    assert_eq!(r.known, [n(1), n(2), n(3)].into_iter().collect());
}

#[test]
fn ties_go_to_the_lowest_named_neighbour() {
    // 1 reaches 4 through both 2 and 3; the sorted worklist makes 2 the route.
    let ps = topo(1, &[(1, 3), (1, 2), (3, 4), (2, 4)], &[]);
    assert_eq!(Routes::calculate(&ps).unicast[&n(4)], n(2));
}

#[test]
fn one_way_links_count_only_for_all_connection_routes() {
    let ps = topo(1, &[(1, 2)], &[(2, 3)]);
    let r = Routes::calculate(&ps);
    assert!(!r.unicast.contains_key(&n(3)));
    assert_eq!(r.unicast_all[&n(3)], n(2));
}

#[test]
fn gossip_broadcasts_also_use_one_way_links_the_datapath_does_not() {
    // 1 announces a connection to 3 that 3 does not (yet) announce back.
    let ps = topo(1, &[(1, 2)], &[(1, 3)]);
    let r = Routes::calculate(&ps);
    assert_eq!(r.broadcast_hops(&n(1)), [n(2)]);
    assert_eq!(r.broadcast_all_hops(&n(1)), [n(2), n(3)]);
    assert!(r.broadcast_hops(&n(3)).is_empty(), "3 is no source over established links");
}

#[test]
fn broadcast_trees_cover_every_peer_exactly_once() {
    // A ring of 6 with two chords: every source's broadcast must reach every peer once.
    let links = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 1), (1, 4), (2, 5)];
    let names: Vec<u64> = (1..=6).collect();
    let mut tables: BTreeMap<u64, (Peers, Routes)> = BTreeMap::new();
    for &me in &names {
        let ps = topo(me, &links, &[]);
        let r = Routes::calculate(&ps);
        tables.insert(me, (ps, r));
    }
    for &src in &names {
        let mut received: BTreeMap<u64, u32> = BTreeMap::new();
        let mut queue = vec![src];
        while let Some(at) = queue.pop() {
            let (_, r) = &tables[&at];
            for &hop in r.broadcast_hops(&n(src)) {
                *received.entry(hop.0).or_default() += 1;
                queue.push(hop.0);
            }
        }
        for &p in names.iter().filter(|&&p| p != src) {
            assert_eq!(
                received.get(&p),
                Some(&1),
                "broadcast from {src} reached {p} {:?} times",
                received.get(&p)
            );
        }
    }
}

#[test]
fn random_neighbours_picks_distinct_neighbours_up_to_twice_log2_peers() {
    let ps = topo(1, &[(1, 2), (1, 3), (1, 4), (1, 5), (1, 6)], &[]);
    let r = Routes::calculate(&ps);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    for _ in 0..50 {
        let picked = r.random_neighbours(n(2), &mut rng);
        // 6 peers: 2*log2(6) = 5.17 -> 5, but only 4 neighbours besides the excluded one.
        assert_eq!(picked.len(), 4);
        assert!(!picked.contains(&n(2)));
        let set: BTreeSet<_> = picked.iter().collect();
        assert_eq!(set.len(), picked.len());
    }
}

/// mesh's `routes.go` as first written here, over the peers' own maps: the reference the
/// indexed searches must agree with.
mod reference {
    use super::*;

    pub fn routes_from(
        peers: &Peers,
        from: PeerName,
        stop_at: Option<PeerName>,
        symmetric: bool,
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
                for remote in connected(peers, cur_peer, symmetric, &routes) {
                    next.push(remote);
                    let hop = if cur == from { remote } else { routes[&cur] };
                    routes.insert(remote, hop);
                }
            }
        }
        (false, routes)
    }

    fn connected(
        peers: &Peers,
        peer: &Peer,
        symmetric: bool,
        exclude: &BTreeMap<PeerName, PeerName>,
    ) -> Vec<PeerName> {
        peer.conns
            .iter()
            .filter(|(remote, c)| {
                if (symmetric && !c.established) || exclude.contains_key(remote) {
                    return false;
                }
                let Some(remote_peer) = peers.get(remote) else { return false };
                !symmetric || remote_peer.conns.get(&peer.name).is_some_and(|back| back.established)
            })
            .map(|(remote, _)| *remote)
            .collect()
    }

    pub fn broadcast_hops(peers: &Peers, source: PeerName, symmetric: bool) -> Vec<PeerName> {
        let us = peers.ourself();
        if peers.get(&source).is_none() {
            return vec![];
        }
        let (found, reached) = routes_from(peers, source, Some(us.name), symmetric);
        if !found {
            return vec![];
        }
        connected(peers, us, symmetric, &reached)
    }
}

#[test]
fn indexed_searches_agree_with_the_reference_on_random_topologies() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    for round in 0..200 {
        let size = rng.random_range(2..14u64);
        let mut links = vec![];
        let mut one_way = vec![];
        for a in 1..=size {
            for b in a + 1..=size {
                match rng.random_range(0..10) {
                    0..=2 => links.push((a, b)),
                    3 => one_way.push((a, b)),
                    4 => one_way.push((b, a)),
                    _ => {}
                }
            }
        }
        let us = rng.random_range(1..=size);
        let ps = topo(us, &links, &one_way);
        let r = Routes::calculate(&ps);
        assert_eq!(r.unicast, reference::routes_from(&ps, n(us), None, true).1, "round {round}");
        assert_eq!(r.unicast_all, reference::routes_from(&ps, n(us), None, false).1, "round {round}");
        for src in ps.names() {
            let want =
                if r.unicast.contains_key(&src) { reference::broadcast_hops(&ps, src, true) } else { vec![] };
            assert_eq!(r.broadcast_hops(&src), want, "round {round}, source {src}");
            assert_eq!(
                r.broadcast_all_hops(&src),
                reference::broadcast_hops(&ps, src, false),
                "round {round}, source {src}"
            );
        }
    }
}

use rand::{RngExt, SeedableRng};

#[test]
fn paths_follow_each_hops_own_next_hop_to_the_destination() {
    // 1 - 2 - 3 - 4, and 2 - 5 - 4: from 1, 4 is three hops away either way; 2 picks 3 (the
    // lower name) and 3 goes straight to 4.
    let ps = topo(1, &[(1, 2), (2, 3), (3, 4), (2, 5), (5, 4)], &[(1, 6)]);
    let copy: Vec<Peer> = ps.iter().cloned().collect();
    let paths = unicast_paths(&copy, n(1));
    assert_eq!(paths[&n(2)], [n(2)]);
    assert_eq!(paths[&n(4)], [n(2), n(3), n(4)]);
    assert_eq!(paths[&n(5)], [n(2), n(5)]);
    assert!(!paths.contains_key(&n(1)), "no path to ourselves");
    assert!(!paths.contains_key(&n(6)), "a one-way link is no route");
    // The first hop is always the routes' own next hop.
    let r = Routes::calculate(&ps);
    for (dest, path) in &paths {
        assert_eq!(r.next_hop(dest), Some(path[0]));
    }
}
