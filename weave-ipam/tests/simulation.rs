//! Twenty allocators in one process, talking through an in-memory network that loses messages,
//! partitions at random, restarts peers from what they persisted, shuts some down for good
//! (replacing them by fresh peers), and kills others (taken over later by rmpeer). Clients
//! allocate, claim, free and delete throughout.
//!
//! After every step: no address is held by idents on two different live peers, every allocation
//! handed out is inside its subnet's host range (and was persisted before it was handed out),
//! and every allocator's space matches its ring. After healing the network: all pending requests
//! complete, and all rings converge to the same entries.
//!
//! Fixed seed, so a failure reproduces; `SIM_SEED=n` tries another.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use weave_ipam::allocator::{InitMode, Outcome, Output, RequestId};
use weave_ipam::persist::PersistedState;
use weave_ipam::{Address, Allocator, Cidr, PeerName};

const PEERS: usize = 20;
const UNIVERSE: &str = "10.0.0.0/22";
/// Two subnets of the universe allocations are made in.
const SUBNETS: [&str; 2] = ["10.0.0.0/22", "10.0.2.0/23"];
const CHAOS_STEPS: usize = 5000;
/// Addresses held or requested at most: below the smaller subnet's size, so every allocation can
/// be satisfied (eventually, once the network heals), however fragmented the space.
const MAX_LIVE_ADDRESSES: usize = 450;
const MAX_SHUTDOWNS: u64 = 4;
const MAX_KILLS: u64 = 3;
const LOSS: f64 = 0.1;

struct Peer {
    name: PeerName,
    alloc: Option<Allocator>,
    /// The durable store: what the last executed Persist wrote.
    stored: Option<PersistedState>,
    group: u8,
    /// Killed (crashed for good) or shut down.
    gone: bool,
    restarts: u64,
}

/// A queued message. Broadcast payloads wait in `Sim::pending_broadcasts`: like mesh's
/// per-connection gossip sender, a newer broadcast from the same origin replaces one not sent yet
/// (Weave's IPAM gossip data always carries the full current state).
#[derive(Debug)]
enum Msg {
    Broadcast { from: usize, to: usize },
    Unicast { from: usize, to: usize, payload: Vec<u8> },
}

#[derive(Debug, Clone)]
struct Pending {
    ident: String,
    subnet: Cidr,
    claim: bool,
}

struct Sim {
    rng: StdRng,
    now: Duration,
    peers: Vec<Peer>,
    queue: VecDeque<Msg>,
    pending_broadcasts: BTreeMap<(usize, usize), Vec<u8>>,
    /// Requests in flight, by (peer, restart count, id).
    pending: BTreeMap<(usize, u64, RequestId), Pending>,
    next_ident: u64,
    loss: f64,
    stats: BTreeMap<&'static str, u64>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut sim = Sim {
            rng: StdRng::seed_from_u64(seed),
            now: Duration::from_secs(1_700_000_000),
            peers: Vec::new(),
            queue: VecDeque::new(),
            pending_broadcasts: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_ident: 0,
            loss: LOSS,
            stats: BTreeMap::new(),
        };
        for _ in 0..PEERS {
            sim.add_peer();
        }
        sim.update_known_peers();
        sim
    }

    fn stat(&self, what: &str) -> u64 {
        self.stats.get(what).copied().unwrap_or(0)
    }

    fn count(&mut self, what: &'static str) {
        *self.stats.entry(what).or_default() += 1;
    }

    fn add_peer(&mut self) -> usize {
        let i = self.peers.len();
        let name = PeerName(0x0a_00_00_00_00_00 + i as u64);
        self.peers.push(Peer { name, alloc: None, stored: None, group: 0, gone: false, restarts: 0 });
        self.start(i);
        i
    }

    /// (Re)starts peer `i` from its store, with a new UID as a restarted weaver would have.
    fn start(&mut self, i: usize) {
        let uid = self.rng.random();
        let mut c =
            config(self.peers[i].name, uid, UNIVERSE, InitMode::Consensus { quorum: (PEERS / 2 + 1) as u32 });
        c.persisted = self.peers[i].stored.clone();
        c.known_peers = self.reachable_from(i);
        self.peers[i].alloc = Some(Allocator::new(c, self.now).unwrap());
        self.execute(i);
    }

    fn live(&self, i: usize) -> bool {
        !self.peers[i].gone && self.peers[i].alloc.is_some()
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        a != b && self.live(a) && self.live(b) && self.peers[a].group == self.peers[b].group
    }

    fn reachable_from(&self, i: usize) -> Vec<PeerName> {
        (0..self.peers.len()).filter(|&j| self.reachable(i, j)).map(|j| self.peers[j].name).collect()
    }

    fn update_known_peers(&mut self) {
        for i in 0..self.peers.len() {
            let known = self.reachable_from(i);
            if let Some(a) = self.peers[i].alloc.as_mut() {
                a.set_known_peers(known);
            }
        }
    }

    fn index(&self, name: PeerName) -> Option<usize> {
        self.peers.iter().position(|p| p.name == name)
    }

    fn alloc(&mut self, i: usize) -> &mut Allocator {
        self.peers[i].alloc.as_mut().expect("live peer")
    }

    /// Executes peer `i`'s outputs in order.
    fn execute(&mut self, i: usize) {
        let outputs = self.alloc(i).take_outputs();
        let universe: Cidr = UNIVERSE.parse().unwrap();
        for out in outputs {
            match out {
                Output::Persist(p) => p.apply_to(&mut self.peers[i].stored),
                Output::Broadcast(payload) => {
                    self.count("broadcasts");
                    for to in 0..self.peers.len() {
                        if to != i
                            && self.live(to)
                            && self.pending_broadcasts.insert((i, to), payload.clone()).is_none()
                        {
                            self.queue.push_back(Msg::Broadcast { from: i, to });
                        }
                    }
                }
                Output::Unicast { dst, payload } => {
                    self.count(["space requests", "ring updates", "denials"][payload[0] as usize]);
                    if let Some(to) = self.index(dst) {
                        self.queue.push_back(Msg::Unicast { from: i, to, payload });
                    }
                }
                Output::Completed { id, result } => {
                    let key = (i, self.peers[i].restarts, id);
                    let req = self.pending.remove(&key).expect("a request we made, answered once");
                    match result {
                        Ok(Outcome::Allocated(addr)) => {
                            assert!(!req.claim);
                            assert!(req.subnet.host_range().contains(addr), "{addr} outside {}", req.subnet);
                            assert!(universe.range().contains(addr));
                            // Persisted before it was handed out.
                            let stored = self.peers[i].stored.as_ref().unwrap();
                            assert!(
                                stored.owned[&req.ident].cidrs.iter().any(|c| c.addr == addr),
                                "not persisted"
                            );
                            self.count("allocated");
                        }
                        Ok(Outcome::Claimed) => {
                            assert!(req.claim);
                            self.count("claimed");
                        }
                        Ok(Outcome::Primed) => unreachable!(),
                        Err(e) => {
                            let text = e.to_string();
                            assert!(
                                req.claim || text.ends_with("cancelled"),
                                "allocation {} failed: {text}",
                                req.ident
                            );
                            self.count(if req.claim { "claim refused" } else { "cancelled" });
                        }
                    }
                }
            }
        }
        // The deltas add up to exactly the allocator's state.
        if self.peers[i].stored.is_some() {
            let now = self.alloc(i).persisted_state();
            assert_eq!(self.peers[i].stored.as_ref(), Some(&now), "peer {i}: deltas drifted");
        }
    }

    fn deliver_one(&mut self) {
        let Some(msg) = self.queue.pop_front() else { return };
        let (from, to) = match &msg {
            Msg::Broadcast { from, to, .. } | Msg::Unicast { from, to, .. } => (*from, *to),
        };
        if !self.reachable(from, to) || self.rng.random_bool(self.loss) {
            if let Msg::Broadcast { .. } = msg {
                self.pending_broadcasts.remove(&(from, to));
            }
            self.count("dropped");
            return;
        }
        let (now, src) = (self.now, self.peers[from].name);
        let result = match &msg {
            Msg::Broadcast { .. } => {
                let payload = self.pending_broadcasts.remove(&(from, to)).expect("queued broadcast");
                self.alloc(to).on_gossip_broadcast(now, src, &payload).map(|_| ())
            }
            Msg::Unicast { payload, .. } => self.alloc(to).on_gossip_unicast(now, src, payload),
        };
        if let Err(e) = result {
            panic!("peer {to} rejected a message from {from}: {e}");
        }
        self.count("delivered");
        self.execute(to);
    }

    fn gossip_from(&mut self, i: usize) {
        let now = self.now;
        let payload = self.alloc(i).gossip(now);
        for j in 0..self.peers.len() {
            if self.reachable(i, j) {
                let now = self.now;
                self.alloc(j).on_gossip(now, &payload).unwrap_or_else(|e| panic!("gossip {i} -> {j}: {e}"));
                self.execute(j);
            }
        }
    }

    fn random_live(&mut self) -> usize {
        loop {
            let i = self.rng.random_range(0..self.peers.len());
            if self.live(i) {
                return i;
            }
        }
    }

    fn live_addresses(&self) -> usize {
        self.peers.iter().filter(|p| !p.gone).filter_map(|p| p.alloc.as_ref()).map(|a| a.owned().len()).sum()
    }

    fn allocate(&mut self, i: usize) {
        if self.live_addresses() + self.pending.len() >= MAX_LIVE_ADDRESSES {
            return;
        }
        self.next_ident += 1;
        let ident = format!("c{}", self.next_ident);
        let subnet: Cidr = SUBNETS[usize::from(self.rng.random_bool(0.3))].parse().unwrap();
        let now = self.now;
        let id = self.alloc(i).allocate(now, &ident, subnet, true);
        self.pending.insert((i, self.peers[i].restarts, id), Pending { ident, subnet, claim: false });
        self.execute(i);
    }

    fn claim(&mut self, i: usize) {
        self.next_ident += 1;
        let ident = format!("k{}", self.next_ident);
        let universe: Cidr = UNIVERSE.parse().unwrap();
        let addr = universe.host_range().start.offset(self.rng.random_range(0..universe.host_range().size()));
        let cidr = universe.with_addr(addr);
        let now = self.now;
        let id = self.alloc(i).claim(now, &ident, cidr, true, false);
        self.pending
            .insert((i, self.peers[i].restarts, id), Pending { ident, subnet: universe, claim: true });
        self.execute(i);
    }

    fn release(&mut self, i: usize) {
        let owned: Vec<(String, Address)> = self
            .alloc(i)
            .owned()
            .iter()
            .flat_map(|(k, d)| d.cidrs.iter().map(move |c| (k.clone(), c.addr)))
            .collect();
        if owned.is_empty() {
            return;
        }
        let (ident, addr) = owned[self.rng.random_range(0..owned.len())].clone();
        if self.rng.random_bool(0.5) {
            self.alloc(i).free(&ident, addr).unwrap();
        } else {
            self.alloc(i).delete(&ident).unwrap();
        }
        self.execute(i);
        self.count("released");
    }

    fn drop_pending_of(&mut self, i: usize) {
        self.pending.retain(|(p, _, _), _| *p != i);
    }

    fn restart(&mut self, i: usize) {
        self.drop_pending_of(i);
        self.peers[i].restarts += 1;
        self.peers[i].alloc = None;
        self.start(i);
        self.count("restarts");
    }

    fn shutdown_and_replace(&mut self, i: usize) {
        let now = self.now;
        self.alloc(i).shutdown(now);
        self.execute(i);
        // Its cancelled requests were answered; anything else of it is moot now.
        self.drop_pending_of(i);
        self.peers[i].gone = true;
        let fresh = self.add_peer();
        self.peers[fresh].group = self.peers[i].group;
        self.update_known_peers();
        self.count("shutdowns");
    }

    fn kill(&mut self, i: usize) {
        self.drop_pending_of(i);
        self.peers[i].gone = true;
        self.update_known_peers();
        self.count("kills");
    }

    fn repartition(&mut self) {
        let groups = self.rng.random_range(1..=3u8);
        for i in 0..self.peers.len() {
            self.peers[i].group = self.rng.random_range(0..groups);
        }
        self.update_known_peers();
        self.count("repartitions");
    }

    fn tick_all(&mut self) {
        for i in 0..self.peers.len() {
            if self.live(i) {
                let now = self.now;
                self.alloc(i).tick(now);
                self.execute(i);
            }
        }
    }

    /// No address held twice (by idents on two live peers, or by two idents on one); every
    /// allocator consistent with its ring.
    fn check(&self, step: &str) {
        let universe: Cidr = UNIVERSE.parse().unwrap();
        let mut holder: BTreeMap<Address, (usize, &str)> = BTreeMap::new();
        for (i, p) in self.peers.iter().enumerate() {
            if p.gone {
                continue;
            }
            let Some(a) = &p.alloc else { continue };
            a.check_invariants().unwrap_or_else(|e| panic!("{step}: peer {i}: {e}"));
            for (ident, d) in a.owned() {
                for c in &d.cidrs {
                    assert!(
                        universe.range().contains(c.addr),
                        "{step}: {ident} holds {c} outside the universe"
                    );
                    if let Some((j, other)) = holder.insert(c.addr, (i, ident)) {
                        panic!("{step}: {} held by {other} on peer {j} and by {ident} on peer {i}", c.addr);
                    }
                }
            }
        }
    }

    fn step(&mut self, chaos: bool) {
        self.now += Duration::from_millis(200);
        let r = self.rng.random_range(0..1000);
        let i = self.random_live();
        match r {
            0..=299 => self.allocate(i),
            300..=449 => self.release(i),
            450..=499 => self.claim(i),
            500..=529 => self.gossip_from(i),
            530..=537 if chaos => self.restart(i),
            538..=545 if chaos => self.repartition(),
            546..=547 if chaos && self.stat("shutdowns") < MAX_SHUTDOWNS => self.shutdown_and_replace(i),
            548 if chaos && self.stat("kills") < MAX_KILLS => self.kill(i),
            _ => {}
        }
        // Latency well below the 5 s retry interval, as on a real network: the queue drains
        // within a few steps, in bursts of random size.
        let burst = self.rng.random_range(0..=self.queue.len() / 3 + 8);
        for _ in 0..burst {
            self.deliver_one();
        }
        if self.now.as_millis().is_multiple_of(5000) {
            self.tick_all();
        }
    }

    fn rings_agree(&self) -> bool {
        let rings: Vec<_> = self
            .peers
            .iter()
            .filter(|p| !p.gone)
            .filter_map(|p| p.alloc.as_ref())
            .map(|a| &a.ring().entries)
            .collect();
        rings.iter().all(|r| *r == rings[0])
    }
}

#[test]
fn twenty_peers_with_partitions_loss_and_restarts() {
    let seed = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_260_101);
    let mut sim = Sim::new(seed);

    // Forming the ring: everyone connected, messages still lost, no restarts (a peer restarting
    // during the election forgets its promises: Weave's Paxos does not survive that).
    let mut steps = 0;
    while sim.peers.iter().any(|p| p.alloc.as_ref().unwrap().ring().is_empty()) {
        sim.step(false);
        sim.check("forming");
        steps += 1;
        assert!(steps < 2000, "no ring after {steps} steps");
    }

    for n in 0..CHAOS_STEPS {
        // At least one of each, whatever the dice say.
        if n == CHAOS_STEPS / 3 && sim.stat("shutdowns") == 0 {
            let i = sim.random_live();
            sim.shutdown_and_replace(i);
        }
        if n == CHAOS_STEPS / 2 && sim.stat("kills") == 0 {
            let i = sim.random_live();
            sim.kill(i);
        }
        sim.step(true);
        sim.check(&format!("chaos step {n}"));
    }

    // Heal: one partition, no loss, dead peers' ranges taken over by a survivor.
    sim.loss = 0.0;
    for p in &mut sim.peers {
        p.group = 0;
    }
    sim.update_known_peers();
    let killed: Vec<usize> =
        (0..sim.peers.len()).filter(|&i| sim.peers[i].gone && sim.peers[i].stored.is_some()).collect();
    for _ in 0..3 {
        for i in 0..sim.peers.len() {
            if sim.live(i) {
                sim.gossip_from(i);
            }
        }
    }
    let survivor = sim.random_live();
    for k in killed {
        let name = sim.peers[k].name.to_string();
        let now = sim.now;
        sim.alloc(survivor).admin_takeover_ranges(now, &name);
        sim.execute(survivor);
    }
    for round in 0..60 {
        sim.now += Duration::from_secs(5);
        sim.tick_all();
        while !sim.queue.is_empty() {
            sim.deliver_one();
        }
        for i in 0..sim.peers.len() {
            if sim.live(i) {
                sim.gossip_from(i);
            }
        }
        sim.check(&format!("healing round {round}"));
        if sim.pending.is_empty() && sim.rings_agree() {
            break;
        }
    }
    assert!(
        sim.pending.is_empty(),
        "requests still pending after healing: {:?}",
        sim.pending.values().collect::<Vec<_>>()
    );
    assert!(sim.rings_agree(), "rings did not converge");
    let live: BTreeSet<PeerName> = sim.peers.iter().filter(|p| !p.gone).map(|p| p.name).collect();
    let ring = sim.peers.iter().find(|p| !p.gone).unwrap().alloc.as_ref().unwrap().ring().clone();
    assert!(
        ring.peer_names().iter().all(|p| live.contains(p) || *p == PeerName::UNKNOWN),
        "dead owners left"
    );
    // The converged ring's free counts match the owners' own records.
    for p in sim.peers.iter().filter(|p| !p.gone) {
        let a = p.alloc.as_ref().unwrap();
        let free: u32 = a.owned_ranges().iter().map(|r| a.num_free_addresses(*r)).sum();
        let reported: u32 = ring.entries.iter().filter(|e| e.peer == p.name).map(|e| e.free).sum();
        assert_eq!(free, reported, "peer {}", p.name);
    }

    let s = &sim.stats;
    eprintln!("simulation stats: {s:?}");
    assert!(s["allocated"] > 500 && s["released"] > 300, "{s:?}");
    assert!(s["restarts"] > 10 && s["repartitions"] > 10 && s["dropped"] > 100, "{s:?}");
    assert!(sim.stat("shutdowns") >= 1 && sim.stat("kills") >= 1, "{s:?}");
}
