//! Many meshes in one process: random graphs, partitions and heals, with no sockets.
//! Connections are pairs of in-memory queues; the handshake is reduced to exchanging
//! features. Checks convergence of topology and routes against an independent reference,
//! and that broadcasts reach every peer exactly once.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weave_mesh::{
    Channel, ConnId, GossipData, GossipError, Gossiper, Handshaked, Mesh, MeshConfig, Messages, Outbox,
    Output,
};
use weave_wire::protocol::Features;
use weave_wire::PeerName;

/// Broadcasts received: (originator, payload).
type Received = Arc<Mutex<Vec<(PeerName, Vec<u8>)>>>;

/// Records broadcasts received on the `test` channel and relays them.
struct Recorder(Received);

impl Gossiper for Recorder {
    type Update = Vec<u8>;
    type Unicast = ();
    fn decode_update(payload: &[u8]) -> Vec<u8> {
        payload.to_vec()
    }
    fn decode_unicast(_: &[u8]) {}
    fn on_gossip_unicast(&mut self, _: PeerName, _: (), _: &mut Outbox) -> Result<(), GossipError> {
        Ok(())
    }
    fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        update: Vec<u8>,
        _: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        self.0.lock().unwrap().push((src, update.clone()));
        Ok(Some(Box::new(Messages(vec![update]))))
    }
    fn gossip(&mut self) -> Option<Box<dyn GossipData>> {
        None
    }
    fn on_gossip(&mut self, _: Vec<u8>, _: &mut Outbox) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        Ok(None)
    }
}

struct SimPeer {
    mesh: Mesh,
    received: Received,
}

struct Sim {
    peers: Vec<SimPeer>,
    /// Connection id -> (owner index, peer's id for the same connection).
    conns: BTreeMap<ConnId, (usize, ConnId)>,
    queue: VecDeque<(usize, ConnId, Vec<u8>)>,
    /// Partition group of each peer; peers talk only within a group.
    group: Vec<u32>,
    now: Instant,
    next_id: ConnId,
    rng: SmallRng,
    dials: usize,
    /// Does what the daemon's loop does after outputs with events: builds the status (for
    /// the API's snapshot), so its cost shows in profiles.
    daemon_like: bool,
}

fn name(i: usize) -> PeerName {
    PeerName(0x0200_0000_0000 + i as u64 + 1)
}

fn addr(i: usize) -> String {
    format!("10.0.{}.{}:6783", i / 250, i % 250 + 1)
}

impl Sim {
    fn new(n: usize, discovery: bool, seed: u64) -> Sim {
        let now = Instant::now();
        let peers = (0..n)
            .map(|i| {
                let cfg = MeshConfig {
                    name: name(i),
                    nickname: format!("p{i}"),
                    uid: 1000 + i as u64,
                    short_id: i as u16,
                    port: 6783,
                    conn_limit: 0,
                    discovery,
                    gossip_interval: Duration::from_secs(30),
                    external_overlay: false,
                };
                let mut mesh = Mesh::new(cfg, now, seed ^ i as u64);
                let received = Arc::new(Mutex::new(vec![]));
                mesh.register_channel(Channel::new("test", Recorder(received.clone())));
                SimPeer { mesh, received }
            })
            .collect();
        Sim {
            peers,
            conns: BTreeMap::new(),
            queue: VecDeque::new(),
            group: vec![0; n],
            now,
            next_id: 1,
            rng: SmallRng::seed_from_u64(seed),
            dials: 0,
            daemon_like: false,
        }
    }

    /// Gives `from` the target `to` without a port, as `weave launch PEER` does.
    fn connect(&mut self, from: usize, to: usize) {
        let target = addr(to).trim_end_matches(":6783").to_string();
        let a = format!("{target}:0").parse().unwrap();
        self.peers[from].mesh.connect(self.now, vec![(target, a)], false);
        self.pump();
    }

    fn features(&self, i: usize, conn_id: u64) -> Features {
        let us = self.peers[i].mesh.ourself();
        Features {
            name: us.name,
            nick_name: us.nickname.clone(),
            short_id: Some(us.short_id),
            uid: us.uid,
            conn_id,
            trusted: false,
            overlays: None,
            fastdp_heartbeat_ms: None,
            sleeve_ciphers: None,
        }
    }

    fn dial(&mut self, from: usize, address: &str, accept_new_peer: bool) {
        self.dials += 1;
        let to = (0..self.peers.len()).find(|&j| addr(j) == address);
        let Some(to) = to.filter(|&j| self.group[j] == self.group[from]) else {
            self.peers[from].mesh.dial_failed(self.now, address, "connect: no route to host");
            return;
        };
        // Dialling our own address connects to ourselves.
        let (ida, idb) = (self.next_id, self.next_id + 1);
        self.next_id += 2;
        self.conns.insert(ida, (from, idb));
        self.conns.insert(idb, (to, ida));
        let (ca, cb): (u64, u64) = (self.rng.random(), self.rng.random());
        let fa = self.features(from, ca);
        let fb = self.features(to, cb);
        let uid = ca ^ cb;
        let inbound_addr = format!("{}:{}", addr(from).trim_end_matches(":6783"), 40000 + ida % 20000);
        let hs_a = Handshaked {
            features: fb,
            outbound: true,
            remote_addr: address.to_string(),
            accept_new_peer,
            conn_uid: uid,
            trust_remote: false,
        };
        let hs_b = Handshaked {
            features: fa,
            outbound: false,
            remote_addr: inbound_addr,
            accept_new_peer: true,
            conn_uid: uid,
            trust_remote: false,
        };
        let now = self.now;
        self.peers[from].mesh.connection_ready(now, ida, hs_a);
        self.peers[to].mesh.connection_ready(now, idb, hs_b);
    }

    fn close(&mut self, id: ConnId, reason: &str) {
        let Some((owner, other)) = self.conns.remove(&id) else { return };
        let now = self.now;
        self.peers[owner].mesh.connection_closed(now, id, reason);
        if let Some((peer, _)) = self.conns.remove(&other) {
            self.peers[peer].mesh.connection_closed(now, other, "EOF");
        }
    }

    /// Carries out every peer's outputs and delivers messages until nothing moves.
    fn pump(&mut self) {
        for _ in 0..10_000_000 {
            let mut moved = false;
            for i in 0..self.peers.len() {
                let outputs = self.peers[i].mesh.take_outputs();
                if self.daemon_like && outputs.iter().any(|o| matches!(o, Output::Event(_))) {
                    std::hint::black_box(self.peers[i].mesh.status());
                }
                for out in outputs {
                    moved = true;
                    match out {
                        Output::Send { conn, body, gossip } => {
                            if let Some(&(_, other)) = self.conns.get(&conn) {
                                self.queue.push_back((i, other, body));
                            }
                            if gossip {
                                let now = self.now;
                                self.peers[i].mesh.sent(now, conn);
                            }
                        }
                        Output::Close { conn, reason } => self.close(conn, &reason),
                        Output::Dial { address, accept_new_peer } => self.dial(i, &address, accept_new_peer),
                        _ => {}
                    }
                }
            }
            while let Some((_, id, body)) = self.queue.pop_front() {
                moved = true;
                if let Some(&(owner, _)) = self.conns.get(&id) {
                    let now = self.now;
                    self.peers[owner].mesh.message(now, id, &body);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the simulation did not settle");
    }

    /// Advances simulated time, firing timers as they come due.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.pump();
            let next = self.peers.iter().map(|p| p.mesh.next_deadline()).min().unwrap();
            if next > end {
                self.now = end;
                return;
            }
            self.now = next.max(self.now);
            let now = self.now;
            for p in &mut self.peers {
                if p.mesh.next_deadline() <= now {
                    p.mesh.tick(now);
                }
            }
        }
    }

    fn partition(&mut self, groups: Vec<u32>) {
        self.group = groups;
        let crossing: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, (owner, other))| self.group[*owner] != self.group[self.conns[other].0])
            .map(|(id, _)| *id)
            .collect();
        for id in crossing {
            self.close(id, "network partition");
        }
        self.pump();
    }

    /// The true topology: who holds a registered connection to whom, and established.
    fn true_links(&self) -> BTreeMap<PeerName, BTreeSet<PeerName>> {
        let mut links: BTreeMap<PeerName, BTreeSet<PeerName>> = BTreeMap::new();
        for p in &self.peers {
            let us = p.mesh.ourself();
            links.insert(us.name, us.conns.iter().filter(|(_, c)| c.established).map(|(n, _)| *n).collect());
        }
        links
    }

    fn check_converged(&mut self) {
        let links = self.true_links();
        for i in 0..self.peers.len() {
            let me = name(i);
            // Everyone in my component, by the true symmetric links.
            let component: BTreeSet<PeerName> = reference_routes(&links, me).keys().copied().collect();
            let m = &mut self.peers[i].mesh;
            let known: BTreeSet<PeerName> = m.peers().names();
            assert_eq!(
                known,
                component,
                "peer {i} knows {} peers, its component has {}",
                known.len(),
                component.len()
            );
            for p in m.peers().iter() {
                let announced: BTreeSet<PeerName> = p.conns.keys().copied().collect();
                assert_eq!(announced, links[&p.name], "peer {i}'s view of {} differs from the truth", p.name);
            }
            assert_eq!(m.routes().unicast, reference_routes(&links, me), "peer {i}'s unicast routes");
        }
    }

    /// Every peer broadcasts once; each must receive each broadcast exactly once.
    fn check_broadcasts(&mut self, round: u32) {
        for p in &self.peers {
            p.received.lock().unwrap().clear();
        }
        let now = self.now;
        for (i, p) in self.peers.iter_mut().enumerate() {
            let payload = format!("r{round}-from-{i}").into_bytes();
            p.mesh.gossip_broadcast(now, "test", Box::new(Messages(vec![payload])));
        }
        self.pump();
        let links = self.true_links();
        for (i, p) in self.peers.iter().enumerate() {
            let component = reference_routes(&links, name(i));
            let got = p.received.lock().unwrap().clone();
            let mut counts: BTreeMap<PeerName, u32> = BTreeMap::new();
            for (src, _) in &got {
                *counts.entry(*src).or_default() += 1;
            }
            for src in component.keys().filter(|s| **s != name(i)) {
                assert_eq!(
                    counts.get(src),
                    Some(&1),
                    "peer {i}: broadcast from {src} arrived {:?} times",
                    counts.get(src)
                );
            }
            assert!(
                counts.keys().all(|s| component.contains_key(s)),
                "peer {i} heard from outside its component"
            );
        }
    }
}

/// Weave's unicast route computation, written independently over plain adjacency sets:
/// breadth-first, each level in name order, first hop inherited.
fn reference_routes(
    links: &BTreeMap<PeerName, BTreeSet<PeerName>>,
    from: PeerName,
) -> BTreeMap<PeerName, PeerName> {
    let symmetric = |a: &PeerName, b: &PeerName| links.get(b).is_some_and(|s| s.contains(a));
    let mut routes = BTreeMap::from([(from, PeerName::UNKNOWN)]);
    let mut level = vec![from];
    while !level.is_empty() {
        level.sort();
        let mut next = vec![];
        for cur in level {
            for nb in links.get(&cur).into_iter().flatten() {
                if routes.contains_key(nb) || !symmetric(&cur, nb) {
                    continue;
                }
                let hop = if cur == from { *nb } else { routes[&cur] };
                routes.insert(*nb, hop);
                next.push(*nb);
            }
        }
        level = next;
    }
    routes
}

#[test]
fn fifty_peers_random_graph_partitions_and_heals() {
    let n = 50;
    let mut sim = Sim::new(n, false, 0x5eed);
    // A random connected graph: a random spanning tree plus extra edges.
    for i in 1..n {
        let j = sim.rng.random_range(0..i);
        sim.connect(i, j);
    }
    for _ in 0..30 {
        let (a, b) = (sim.rng.random_range(0..n), sim.rng.random_range(0..n));
        if a != b {
            sim.connect(a, b);
        }
    }
    sim.run_for(Duration::from_secs(60));
    sim.check_converged();
    sim.check_broadcasts(0);

    for round in 1..=3 {
        // Split into 2-3 groups at random, let it settle, check, then heal.
        let k = 2 + round % 2;
        let groups: Vec<u32> = (0..n).map(|_| sim.rng.random_range(0..k)).collect();
        sim.partition(groups);
        sim.run_for(Duration::from_secs(120));
        sim.check_converged();
        sim.check_broadcasts(round * 10);
        sim.partition(vec![0; n]);
        // Two minutes of failed retries back off to about a minute between tries.
        sim.run_for(Duration::from_secs(6 * 60));
        sim.check_converged();
        let links = sim.true_links();
        assert_eq!(reference_routes(&links, name(0)).len(), n, "round {round}: the mesh healed into one");
        sim.check_broadcasts(round * 10 + 1);
    }
}

#[test]
fn discovery_turns_a_line_into_a_full_mesh() {
    let n = 12;
    let mut sim = Sim::new(n, true, 7);
    for i in 1..n {
        sim.connect(i, i - 1);
    }
    sim.run_for(Duration::from_secs(120));
    sim.check_converged();
    for (i, p) in sim.peers.iter().enumerate() {
        assert_eq!(p.mesh.ourself().conns.len(), n - 1, "peer {i} is connected to everyone");
    }
    sim.check_broadcasts(0);
}

#[test]
fn a_restarted_peer_is_relearned_with_its_new_uid() {
    let mut sim = Sim::new(3, false, 3);
    sim.connect(1, 0);
    sim.connect(2, 1);
    sim.run_for(Duration::from_secs(10));
    sim.check_converged();
    // Restart peer 2: close its connections, replace its mesh with a new incarnation.
    let ids: Vec<ConnId> = sim.conns.iter().filter(|(_, (o, _))| *o == 2).map(|(id, _)| *id).collect();
    for id in ids {
        sim.close(id, "killed");
    }
    let cfg = MeshConfig { uid: 424242, ..sim.peers[2].mesh.config().clone() };
    sim.peers[2].mesh = Mesh::new(cfg, sim.now, 99);
    sim.connect(2, 1);
    sim.run_for(Duration::from_secs(10));
    sim.check_converged();
    assert_eq!(sim.peers[0].mesh.peers().get(&name(2)).unwrap().uid, 424242);
}

fn registered(sim: &Sim, i: usize) -> usize {
    sim.peers[i].mesh.ourself().conns.len()
}

#[test]
fn connecting_to_ourselves_is_dropped_and_never_retried() {
    let mut sim = Sim::new(2, false, 11);
    sim.connect(0, 0);
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.dials, 1, "one attempt only");
    assert_eq!(registered(&sim, 0), 0);
    assert!(sim.peers[0].mesh.direct_peers(true).is_empty(), "the target is no longer active");
    assert_eq!(
        sim.peers[0].mesh.status().termination_count,
        0,
        "connecting to ourselves is not a termination"
    );
}

#[test]
fn a_peer_with_our_name_is_refused_and_never_retried() {
    let mut sim = Sim::new(2, false, 12);
    let cfg = MeshConfig { name: name(0), uid: 777, ..sim.peers[1].mesh.config().clone() };
    sim.peers[1].mesh = Mesh::new(cfg, sim.now, 5);
    sim.connect(1, 0);
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.dials, 1);
    assert_eq!(registered(&sim, 0), 0);
    assert_eq!(registered(&sim, 1), 0);
}

#[test]
fn simultaneous_dials_leave_exactly_one_connection() {
    let mut sim = Sim::new(2, false, 13);
    // Queue both dials before either is carried out.
    let port0 = |i: usize| addr(i).replace(":6783", ":0").parse().unwrap();
    let (a0, a1) = (port0(0), port0(1));
    let now = sim.now;
    sim.peers[0].mesh.connect(now, vec![("b".into(), a1)], false);
    sim.peers[1].mesh.connect(now, vec![("a".into(), a0)], false);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.dials, 2);
    assert_eq!(registered(&sim, 0), 1);
    assert_eq!(registered(&sim, 1), 1);
    assert_eq!(sim.conns.len(), 2, "one connection: its two ends");
    sim.check_converged();
}

#[test]
fn the_connection_limit_is_enforced() {
    let mut sim = Sim::new(5, false, 14);
    let cfg = MeshConfig { conn_limit: 2, ..sim.peers[0].mesh.config().clone() };
    sim.peers[0].mesh = Mesh::new(cfg, sim.now, 6);
    for i in 1..5 {
        sim.connect(i, 0);
    }
    sim.run_for(Duration::from_secs(60));
    assert_eq!(registered(&sim, 0), 2);
}

/// `n` peers started together with discovery, each given peer 0 (star) or every other peer
/// (full) as its target, until every peer is connected to every other; returns the simulated
/// time it took.
fn converge(n: usize, star: bool, daemon_like: bool) -> (Sim, Duration) {
    let mut sim = Sim::new(n, true, 21);
    sim.daemon_like = daemon_like;
    let now = sim.now;
    for i in 0..n {
        let targets: Vec<usize> = if star { vec![0] } else { (0..n).filter(|&j| j != i).collect() };
        let targets = targets
            .into_iter()
            .filter(|&j| j != i)
            .map(|j| {
                let t = addr(j).trim_end_matches(":6783").to_string();
                let a = format!("{t}:0").parse().unwrap();
                (t, a)
            })
            .collect();
        sim.peers[i].mesh.connect(now, targets, false);
    }
    let start = sim.now;
    for _ in 0..600 {
        sim.run_for(Duration::from_millis(500));
        if (0..n).all(|i| registered(&sim, i) == n - 1) {
            let took = sim.now - start;
            return (sim, took);
        }
    }
    let counts: Vec<usize> = (0..n).map(|i| registered(&sim, i)).collect();
    panic!("not a full mesh after 5 minutes: {counts:?}");
}

#[test]
fn twenty_peers_from_one_seed_become_a_full_mesh() {
    let (mut sim, _) = converge(20, true, false);
    // The last connections' news is still on its way (one gossip message in flight per
    // connection): it arrives without waiting for the periodic gossip (30 s).
    sim.run_for(Duration::from_secs(2));
    sim.check_converged();
    sim.check_broadcasts(0);
}

/// The scale run in-process, to profile the mesh's own costs:
/// `SCALE_PEERS=100 SCALE_STAR=1 cargo test --release -p weave-mesh --test sim scale_run -- --ignored --nocapture`
#[test]
#[ignore]
fn scale_run() {
    let n: usize = std::env::var("SCALE_PEERS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let star = std::env::var("SCALE_STAR").map(|v| v != "0").unwrap_or(true);
    let cpu = std::time::Instant::now();
    let (sim, took) = converge(n, star, true);
    let messages: usize = sim.dials;
    eprintln!(
        "{n} peers ({}): full mesh after {took:?} simulated, {:?} of CPU, {messages} dials",
        if star { "star" } else { "full" },
        cpu.elapsed()
    );
}

/// Peers that know each other through a hub connect to each other a few at a time. Each
/// learns the others' news from the hub first, when it has no other neighbour to pass it to;
/// what it could not pass on still reaches everyone within seconds, not at the next periodic
/// gossip (30 s).
#[test]
fn news_a_peer_could_not_relay_goes_out_with_its_next_update() {
    for seed in 0..8 {
        let n = 16;
        let mut sim = Sim::new(n, false, 100 + seed);
        for i in 1..n {
            sim.connect(i, 0);
        }
        sim.run_for(Duration::from_secs(3));
        for i in 1..n {
            for j in (i + 1)..n {
                sim.connect(i, j);
            }
            sim.run_for(Duration::from_millis(300));
        }
        sim.run_for(Duration::from_secs(3));
        sim.check_converged();
    }
}
