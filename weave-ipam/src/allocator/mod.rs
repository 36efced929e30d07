//! The allocator (Weave's `ipam.Allocator`) as a sans-IO state machine. It owns the ring, our
//! local space, the record of addresses handed out per ident, nicknames, the Paxos participant
//! and the queues of requests that cannot complete yet.
//!
//! How a caller drives it (one allocator per peer, all calls from one thread; `now` is the time
//! since the Unix epoch, passed with every input):
//! * Start: [`Allocator::new`] with the config and what was persisted, then `take_outputs()`.
//! * After every input, call [`Allocator::take_outputs`] and execute the [`Output`]s strictly in
//!   order: `Persist` (apply the delta to what is stored, durably, before going on; deltas
//!   may be folded together with [`crate::persist::PersistDelta::merge`] and written at once),
//!   `Broadcast`/`Unicast` (send on channel
//!   `IPallocation`), `Completed` (answer the request). Persistence always comes before the
//!   answer or message that depends on it.
//! * Allocation: `let id = alloc.allocate(now, ident, subnet, is_container)`, execute outputs;
//!   the answer is `Output::Completed { id, .. }`, now or after later inputs. `claim` and
//!   `prime` work the same way; `free`/`delete` answer directly (execute the outputs first).
//! * Received gossip: `on_gossip_unicast` / `on_gossip_broadcast` (relay what it returns along
//!   the sender's broadcast tree) / `on_gossip`; then execute outputs. An error means: drop the
//!   connection the message came on, as Weave does.
//! * Periodic gossip and new connections: send [`Allocator::gossip`].
//! * [`Allocator::tick`] at least every few seconds: every 5 s it retries what is pending.
//! * Reachability: [`Allocator::set_known_peers`] whenever the topology changes.
//! * Restart: build a new allocator from the persisted [`PersistedState`] (the deltas applied).
//!
//! Module layout: this file has the state, construction and output plumbing; `ops` the requests,
//! `gossip` the channel callbacks and ring formation, `admin` shutdown/rmpeer, `status` status.

mod admin;
mod gossip;
mod ops;
mod output;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use weave_wire::PeerName;

use crate::address::{Address, Cidr, Range};
use crate::paxos::{Node, Participant};
use crate::persist::{OwnedData, PersistDelta, PersistedState};
use crate::ring::Ring;
use crate::space::Space;

pub use output::{ConfigError, GossipError, OpError, Outcome, Output, RequestId};
pub use status::{ClaimStatus, EntryStatus, PaxosStatus, Status};

use ops::{AllocateOp, ClaimOp};

/// Retry interval for pending requests and consensus (Weave's `tickInterval`).
pub const TICK_INTERVAL: Duration = Duration::from_secs(5);
/// How long addresses of a dead container are kept in case it restarts.
pub const CONTAINER_DIED_TIMEOUT: Duration = Duration::from_secs(30);
/// Smallest subnet allocations can be made in (first and last address are excluded).
pub const MIN_SUBNET_SIZE: u64 = 4;
/// Weave's `api.NoContainerID`: an anonymous ident, filed under the address itself.
pub const NO_CONTAINER_ID: &str = "_";

/// How the ring comes into being when nothing is persisted (`--ipalloc-init`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitMode {
    /// `consensus[=N]`: elect the initial peer set by Paxos once some peer needs the ring.
    /// `quorum` is the number of votes needed (N/2+1); see [`Allocator::set_quorum`].
    Consensus { quorum: u32 },
    /// `seed=...`: split the ring between these peers right away.
    Seed(Vec<PeerName>),
    /// `observer`: never vote; ask the others for the ring.
    Observer,
}

/// An address found in use before IPAM started (on the bridge or a container), claimed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreClaim {
    pub ident: String,
    pub is_container: bool,
    pub cidr: Cidr,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub our_name: PeerName,
    /// This run's UID (a restarted peer gets a new one, as mesh does).
    pub our_uid: u64,
    pub our_nickname: String,
    /// `--ipalloc-range`.
    pub universe: Cidr,
    pub init: InitMode,
    pub pre_claims: Vec<PreClaim>,
    /// What was stored last time, if anything.
    pub persisted: Option<PersistedState>,
    /// Peers reachable right now (see [`Allocator::set_known_peers`]).
    pub known_peers: Vec<PeerName>,
    /// Seeds the random choice of which peer to ask for space.
    pub rng_seed: u64,
}

/// The allocator. See the module documentation for how to drive it.
#[derive(Debug)]
pub struct Allocator {
    our_name: PeerName,
    universe: Cidr,
    ring: Ring,
    space: Space,
    owned: BTreeMap<String, OwnedData>,
    nicknames: BTreeMap<PeerName, String>,
    pending_allocates: Vec<AllocateOp>,
    pending_claims: Vec<ClaimOp>,
    pending_primes: Vec<RequestId>,
    /// Containers reported dead, and when.
    dead: BTreeMap<String, Duration>,
    /// Dropped once the ring exists.
    paxos: Option<Participant>,
    awaiting_consensus: bool,
    shutting_down: bool,
    known_peers: BTreeSet<PeerName>,
    quorum: u32,
    rng: StdRng,
    next_id: u64,
    /// Time of the input being handled.
    now: Duration,
    last_tick: Duration,
    outputs: Vec<Output>,
    /// State changed since the last `Persist` output.
    persist_dirty: bool,
    /// Owners whose addresses changed since the last `Persist` output.
    dirty_owned: BTreeSet<String>,
    /// The next `Persist` replaces whatever was stored (a fresh start).
    persist_reset: bool,
    /// Something happened that Weave would broadcast; sent, with the final state, when the input
    /// is done (Weave's gossip data is encoded at send time, so it too sends the latest state).
    broadcast_wanted: bool,
}

impl Allocator {
    /// Builds the allocator from its configuration and persisted state. Take the outputs
    /// afterwards: a fresh state is persisted, a seeded ring is broadcast.
    pub fn new(config: Config, now: Duration) -> Result<Allocator, ConfigError> {
        let universe = config.universe;
        let range = universe.range();
        if !universe.is_subnet() || universe.size() < MIN_SUBNET_SIZE || range.start >= range.end {
            return Err(ConfigError::Universe(universe));
        }
        let ring = Ring::new(range.start, range.end, config.our_name)
            .map_err(|_| ConfigError::Universe(universe))?;
        let (paxos, quorum, seed) = match config.init {
            InitMode::Observer => (Participant::Observer, 0, Vec::new()),
            InitMode::Consensus { quorum } => {
                (Participant::Node(Node::new(config.our_name, config.our_uid, 0)), quorum, vec![])
            }
            InitMode::Seed(seed) => {
                (Participant::Node(Node::new(config.our_name, config.our_uid, 0)), 1, seed)
            }
        };
        let mut alloc = Allocator {
            our_name: config.our_name,
            universe,
            ring,
            space: Space::new(),
            owned: BTreeMap::new(),
            nicknames: [(config.our_name, config.our_nickname)].into(),
            pending_allocates: Vec::new(),
            pending_claims: config
                .pre_claims
                .into_iter()
                .map(|c| ClaimOp::new(None, c.ident, c.cidr, c.is_container, false))
                .collect(),
            pending_primes: Vec::new(),
            dead: BTreeMap::new(),
            paxos: Some(paxos),
            awaiting_consensus: false,
            shutting_down: false,
            known_peers: config.known_peers.into_iter().collect(),
            quorum,
            rng: StdRng::seed_from_u64(config.rng_seed),
            next_id: 0,
            now,
            last_tick: now,
            outputs: Vec::new(),
            persist_dirty: false,
            dirty_owned: BTreeSet::new(),
            persist_reset: false,
            broadcast_wanted: false,
        };
        let loaded = match config.persisted {
            Some(p) => alloc.restore(p),
            None => false,
        };
        if !loaded {
            // Weave overwrites whatever was stored.
            alloc.persist_dirty = true;
            alloc.persist_reset = true;
            if !seed.is_empty() {
                alloc.create_ring(&seed);
            }
        } else {
            alloc.try_claims();
        }
        alloc.finish();
        Ok(alloc)
    }

    /// Adopts persisted state if it is ours, for this universe, and has a ring.
    fn restore(&mut self, p: PersistedState) -> bool {
        let Some(ring) = p.ring.filter(|r| !r.is_empty()) else {
            return false;
        };
        if p.peer_name != self.our_name
            || ring.range() != self.universe.range()
            || ring.check_invariants().is_err()
        {
            return false;
        }
        self.ring = Ring { peer: self.our_name, ..ring };
        self.space.update_ranges(&self.ring.owned_ranges());
        for cidr in p.owned.values().flat_map(|d| &d.cidrs) {
            // Addresses outside our space (or the universe) are just recorded.
            let _ = self.space.claim(cidr.addr);
        }
        self.owned = p.owned;
        true
    }

    /// Everything to do since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// The peers reachable now (in the topology with a route). Space is only requested from
    /// these, heirs are preferably chosen among them, and status marks the others unreachable.
    pub fn set_known_peers(&mut self, peers: impl IntoIterator<Item = PeerName>) {
        self.known_peers = peers.into_iter().collect();
    }

    /// The quorum for the next election (Weave evaluates it when an election starts; without an
    /// explicit `consensus=N` it follows the number of connection targets).
    pub fn set_quorum(&mut self, quorum: u32) {
        self.quorum = quorum;
    }

    fn is_known_peer(&self, peer: PeerName) -> bool {
        peer == self.our_name || self.known_peers.contains(&peer)
    }

    // ---- queries ----

    pub fn our_name(&self) -> PeerName {
        self.our_name
    }

    pub fn universe(&self) -> Cidr {
        self.universe
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Addresses handed out, by ident (for `GET /ip`).
    pub fn owned(&self) -> &BTreeMap<String, OwnedData> {
        &self.owned
    }

    pub fn nicknames(&self) -> &BTreeMap<PeerName, String> {
        &self.nicknames
    }

    /// The ident's addresses inside `r` (Weave's `Lookup`).
    pub fn lookup(&self, ident: &str, r: Range) -> Vec<Cidr> {
        self.owned_in_range(ident, r)
    }

    pub fn num_free_addresses(&self, r: Range) -> u32 {
        self.space.num_free_addresses_in_range(r)
    }

    /// Ranges the ring says we own.
    pub fn owned_ranges(&self) -> Vec<Range> {
        self.ring.owned_ranges()
    }

    /// What would be persisted now.
    pub fn persisted_state(&self) -> PersistedState {
        PersistedState { peer_name: self.our_name, ring: Some(self.ring.clone()), owned: self.owned.clone() }
    }

    /// Weave's allocator invariant: our space covers exactly the ranges the ring gives us.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.ring.check_invariants().map_err(|e| e.to_string())?;
        let mut expected = Space::new();
        expected.add_ranges(&self.ring.owned_ranges());
        let (want, got) = (expected.owned_ranges(), self.space.owned_ranges());
        if want != got {
            return Err(format!("ring says we own {want:?} but our space is {got:?}"));
        }
        Ok(())
    }

    // ---- output plumbing ----

    fn next_request_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    fn flush_persist(&mut self) {
        if self.persist_dirty {
            self.persist_dirty = false;
            let reset = std::mem::take(&mut self.persist_reset);
            let dirty = std::mem::take(&mut self.dirty_owned);
            let owned = if reset {
                self.owned.iter().map(|(k, d)| (k.clone(), Some(d.clone()))).collect()
            } else {
                dirty
                    .into_iter()
                    .map(|k| {
                        let d = self.owned.get(&k).cloned();
                        (k, d)
                    })
                    .collect()
            };
            let delta =
                PersistDelta { reset, peer_name: self.our_name, ring: Some(self.ring.clone()), owned };
            self.outputs.push(Output::Persist(delta));
        }
    }

    /// Queues a message or an answer, after persisting whatever it may depend on.
    fn emit(&mut self, out: Output) {
        self.flush_persist();
        self.outputs.push(out);
    }

    fn complete(&mut self, id: RequestId, result: Result<Outcome, OpError>) {
        self.emit(Output::Completed { id, result });
    }

    fn broadcast(&mut self) {
        self.broadcast_wanted = true;
    }

    /// What Weave does after every action: report our free space into the ring, then persist and
    /// send what is due.
    fn finish(&mut self) {
        self.report_free_space();
        self.flush_persist();
        if std::mem::take(&mut self.broadcast_wanted) {
            let payload = self.encode();
            self.outputs.push(Output::Broadcast(payload));
        }
    }

    fn report_free_space(&mut self) {
        let ranges = self.ring.owned_ranges();
        if ranges.is_empty() {
            return;
        }
        let free: BTreeMap<Address, u32> =
            ranges.iter().map(|r| (r.start, self.space.num_free_addresses_in_range(*r))).collect();
        // Cannot fail while ring and space agree; a failure changes nothing worth persisting.
        if let Ok(true) = self.ring.report_free(free) {
            self.persist_dirty = true;
        }
    }

    // ---- owned addresses ----

    fn has_owned_by_container(&self, ident: &str) -> bool {
        self.owned.get(ident).is_some_and(|d| d.is_container)
    }

    fn add_owned(&mut self, ident: &str, cidr: Cidr, is_container: bool) {
        let d = self.owned.entry(ident.to_string()).or_default();
        d.is_container = is_container;
        d.cidrs.push(cidr);
        self.dirty_owned.insert(ident.to_string());
        self.persist_dirty = true;
    }

    fn remove_all_owned(&mut self, ident: &str) -> Vec<Cidr> {
        let cidrs = self.owned.remove(ident).map(|d| d.cidrs).unwrap_or_default();
        self.dirty_owned.insert(ident.to_string());
        self.persist_dirty = true;
        cidrs
    }

    fn remove_owned(&mut self, ident: &str, addr: Address) -> bool {
        let Some(d) = self.owned.get_mut(ident) else {
            return false;
        };
        let Some(i) = d.cidrs.iter().position(|c| c.addr == addr) else {
            return false;
        };
        d.cidrs.remove(i);
        if d.cidrs.is_empty() {
            self.owned.remove(ident);
        }
        self.dirty_owned.insert(ident.to_string());
        self.persist_dirty = true;
        true
    }

    fn owned_in_range(&self, ident: &str, r: Range) -> Vec<Cidr> {
        self.owned
            .get(ident)
            .map(|d| d.cidrs.iter().filter(|c| r.contains(c.addr)).copied().collect())
            .unwrap_or_default()
    }

    fn find_owner(&self, addr: Address) -> Option<&str> {
        self.owned.iter().find(|(_, d)| d.cidrs.iter().any(|c| c.addr == addr)).map(|(k, _)| k.as_str())
    }

    fn find_owned(&self, addr: Address) -> Option<(String, Cidr)> {
        self.owned.iter().find_map(|(k, d)| d.cidrs.iter().find(|c| c.addr == addr).map(|c| (k.clone(), *c)))
    }

    fn has_allocations(space: &Space, ranges: &[Range]) -> bool {
        ranges.iter().any(|r| space.num_free_addresses_in_range(*r) != r.size())
    }
}

#[cfg(test)]
mod tests;
