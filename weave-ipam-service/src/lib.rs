//! IPAM in the daemon: the pure allocator of `weave-ipam` behind one lock, wired to the mesh's
//! `IPallocation` gossip channel, the database (durable before any address is answered), the
//! 5-second retry tick and the mesh's view of which peers exist.
//!
//! * [`core`]: the lock's contents and the execution of the allocator's outputs.
//! * [`store`]: IPAM's tables in the database.
//! * [`gossip`]: the gossip channel callbacks.
//! * [`check`]: `weave ipam check`.
//! * [`mesh`]: what IPAM needs of the mesh (the daemon implements it).
//!
//! Requests from the API run on a blocking thread (a persist is an fsync), then send what the
//! allocator asked for through the [`Mesh`]; requests that must wait (for consensus or
//! for space) wait on a oneshot answered when the allocator completes them.

#![forbid(unsafe_code)]

pub mod check;
mod core;
mod gossip;
pub mod mesh;
pub mod store;

use self::core::{Answer, Batch, Core, Persister, Sends};
pub use self::mesh::Mesh;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use weave_api::{Event, IpamEntry, IpamInfo, IpamStatus, PaxosStatus, PendingClaim};
use weave_ipam::allocator::{Config as AllocConfig, PreClaim};
use weave_ipam::messages::CHANNEL;
use weave_ipam::persist::{OwnedData, PersistedState};
use weave_ipam::{Address, Allocator, Cidr, InitMode, OpError, Outcome, PeerName, Range, RequestId};
use weave_mesh::{Channel, MeshEvent};
use weave_store::{Store, StoreError};

/// How often the allocator's clock is driven (it acts on its own 5 s interval).
const TICK: Duration = Duration::from_secs(1);
/// Longest owner identifier accepted (a Docker id is 64, a namespace path a little more).
pub const MAX_IDENT_LEN: usize = 1024;

/// The time the allocator works with: since the Unix epoch.
pub fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Why an IPAM request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum IpamFailure {
    /// Refused by the allocator (Weave's error text).
    #[error("{0}")]
    Op(#[from] OpError),
    #[error("the daemon is stopping")]
    Stopping,
    #[error("IPAM state cannot be persisted: {0}")]
    Persist(String),
    /// Waiting could not help: nobody reachable has a free address for the request.
    #[error("{0}")]
    Stuck(Stuck),
}

/// Why an allocation would wait for ever: Weave's own endpoints wait anyway (as Weave); the
/// v1 API and `weave attach` answer with this instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stuck {
    #[error("no free address in {subnet}: all {size} are in use")]
    Exhausted { subnet: Cidr, size: u32 },
    #[error("the free addresses in {subnet} belong to unreachable peers: {}", .peers.join(", "))]
    Unreachable {
        subnet: Cidr,
        /// `NAME(NICK)` each.
        peers: Vec<String>,
        /// Their names, for `weave rmpeer`.
        names: Vec<String>,
    },
}

/// How often a waiting v1 allocation checks whether it can still succeed.
const STUCK_CHECK: Duration = Duration::from_secs(1);

/// What IPAM starts from, derived from the daemon's flags and what it finds.
pub struct IpamConfig {
    pub name: PeerName,
    pub uid: u64,
    pub nickname: String,
    pub universe: Cidr,
    pub default_subnet: Cidr,
    pub init: InitMode,
    /// Addresses found on the bridge and on attached targets at start.
    pub pre_claims: Vec<PreClaim>,
}

/// `--ipalloc-init`: how the ring is formed.
#[derive(Debug, Clone, PartialEq)]
pub enum IpallocInit {
    /// Form the ring by Paxos; `None` derives the quorum from the peers given, as Weave.
    Consensus(Option<u32>),
    /// Form the ring immediately from exactly these peers.
    Seed(Vec<PeerName>),
    /// Never vote; wait for others to form the ring.
    Observer,
}

impl IpallocInit {
    /// The allocator's init mode for `init` (`None`: the flag is not given); `peers` are the
    /// peers given at launch, from a file listing every node when `peers_file`.
    pub fn mode(init: Option<&IpallocInit>, peers: usize, peers_file: bool) -> InitMode {
        match init {
            // weave-kube's consensus=<number of peers>: the file lists every node, us too.
            None if peers_file => InitMode::Consensus { quorum: (peers.max(1) as u32) / 2 + 1 },
            None | Some(IpallocInit::Consensus(None)) => InitMode::Consensus { quorum: quorum(peers) },
            Some(IpallocInit::Consensus(Some(n))) => InitMode::Consensus { quorum: n / 2 + 1 },
            Some(IpallocInit::Seed(seeds)) => InitMode::Seed(seeds.clone()),
            Some(IpallocInit::Observer) => InitMode::Observer,
        }
    }
}

/// Weave's guess of the quorum from the number of peers given (which may or may not include
/// ourselves, so it assumes not).
pub fn quorum(peers: usize) -> u32 {
    (peers as u32).div_ceil(2) + 1
}

pub fn to_cidr(n: ipnet::Ipv4Net) -> Cidr {
    Cidr::new(Address(u32::from(n.addr())), n.prefix_len())
}

pub fn to_net(c: Cidr) -> ipnet::Ipv4Net {
    ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(c.addr.0), c.prefix_len).expect("prefix <= 32")
}

/// Owner identifiers: any non-empty string of reasonable length.
pub fn check_ident(ident: &str) -> Result<(), String> {
    if ident.is_empty() {
        return Err("the owner identifier (ident) must not be empty".into());
    }
    if ident.len() > MAX_IDENT_LEN {
        return Err(format!("identifier too long ({} bytes; at most {MAX_IDENT_LEN})", ident.len()));
    }
    Ok(())
}

/// A subnet to allocate in, with Weave's checks and texts (`ParseCIDRSubnet`).
pub fn parse_subnet(s: &str) -> Result<Cidr, String> {
    let c: Cidr = s.parse().map_err(|e: weave_ipam::address::ParseError| e.to_string())?;
    if c.size() < weave_ipam::allocator::MIN_SUBNET_SIZE {
        return Err(format!("invalid subnet - smaller than minimum size 4: {s}"));
    }
    if !c.is_subnet() {
        return Err(format!("invalid subnet - bits after network prefix are not all zero: {s}"));
    }
    Ok(c)
}

/// IPAM of this daemon.
pub struct Ipam {
    core: Mutex<Core>,
    persister: Persister,
    events: broadcast::Sender<Event>,
    mesh: OnceLock<Arc<dyn Mesh>>,
    our_name: PeerName,
    universe: Cidr,
    default_subnet: Cidr,
    /// The daemon's shutdown: waiting requests end with it, and a persist failure triggers it.
    stop: CancellationToken,
}

impl Ipam {
    /// Builds the allocator from what was persisted (see [`store::load`]) and stores its
    /// initial state.
    pub fn new(
        cfg: IpamConfig,
        store: Store,
        persisted: Option<PersistedState>,
        stop: CancellationToken,
    ) -> anyhow::Result<Arc<Ipam>> {
        let t = now();
        let alloc = Allocator::new(
            AllocConfig {
                our_name: cfg.name,
                our_uid: cfg.uid,
                our_nickname: cfg.nickname,
                universe: cfg.universe,
                init: cfg.init,
                pre_claims: cfg.pre_claims,
                persisted: persisted.clone(),
                known_peers: vec![],
                rng_seed: rand::random(),
            },
            t,
        )
        .map_err(|e| anyhow::anyhow!("--ipalloc-range: {e}"))?;
        // As the allocator decides: only a ring of ours, for this range, is adopted.
        let adopted = persisted.as_ref().is_some_and(|p| {
            p.peer_name == cfg.name
                && p.ring.as_ref().is_some_and(|r| !r.is_empty() && r.range() == cfg.universe.range())
        });
        let discarded =
            persisted.as_ref().is_some_and(|p| p.ring.as_ref().is_some_and(|r| !r.is_empty())) && !adopted;
        let (events, _) = broadcast::channel(1024);
        let ipam = Arc::new(Ipam {
            core: Mutex::new(Core::new(alloc)),
            persister: Persister::new(store, events.clone(), persisted),
            events,
            mesh: OnceLock::new(),
            our_name: cfg.name,
            universe: cfg.universe,
            default_subnet: cfg.default_subnet,
            stop,
        });
        {
            let mut core = ipam.lock();
            // Nobody is connected yet: messages go out with the first gossip.
            core.stage(&ipam.persister).finish(&ipam.persister)?;
            let ring = core.alloc.ring();
            let owned = core.alloc.owned().values().map(|d| d.cidrs.len()).sum::<usize>();
            if adopted {
                tracing::info!(range = %cfg.universe, entries = ring.entries.len(), owned, "IPAM: adopting the persisted ring and addresses");
            } else if discarded {
                tracing::info!(range = %cfg.universe, "IPAM: discarding persisted data of another peer name or range");
            }
            if ring.is_empty() {
                tracing::info!(range = %cfg.universe, "IPAM: no ring yet; it is formed when the first address is needed");
            }
        }
        Ok(ipam)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gossiper to register as channel `IPallocation`.
    pub fn gossiper(self: &Arc<Self>) -> Channel {
        Channel::new(CHANNEL, gossip::IpamGossiper(self.clone()))
    }

    pub fn universe(&self) -> Cidr {
        self.universe
    }

    pub fn default_subnet(&self) -> Cidr {
        self.default_subnet
    }

    pub fn our_name(&self) -> PeerName {
        self.our_name
    }

    /// Why IPAM stopped the daemon, if it did (its state could not be persisted).
    pub fn failure(&self) -> Option<String> {
        self.persister.failed()
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Connects IPAM to the running mesh: sending, the retry tick, and which peers exist.
    pub fn start(self: &Arc<Self>, mesh: impl Mesh) {
        let mesh: Arc<dyn Mesh> = Arc::new(mesh);
        let _ = self.mesh.set(mesh.clone());
        let me = self.clone();
        let m = mesh.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = me.stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let known = known_from(&*m, me.our_name);
                let _ = me
                    .run(move |core, now| {
                        core.set_known(known);
                        core.alloc.tick(now);
                    })
                    .await;
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            let mut rx = mesh.events();
            loop {
                let ev = tokio::select! {
                    _ = me.stop.cancelled() => break,
                    ev = rx.recv() => ev,
                };
                let change: KnownChange = match ev {
                    Ok(MeshEvent::PeerAdded { name, .. }) => Box::new(move |k| {
                        k.insert(name);
                    }),
                    Ok(MeshEvent::PeerRemoved { name, .. }) => Box::new(move |k| {
                        k.remove(&name);
                    }),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let known = known_from(&*mesh, me.our_name);
                        Box::new(move |k| *k = known)
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let _ = me
                    .run(move |core, _| {
                        let mut k = core.known.clone();
                        change(&mut k);
                        core.set_known(k);
                    })
                    .await;
            }
        });
    }

    /// A persist failed: stop the daemon (as Weave, which exits), since nothing more can be
    /// handed out safely.
    fn fatal(&self, why: &str) {
        tracing::error!("IPAM cannot persist its state ({why}); stopping the daemon");
        self.stop.cancel();
    }

    /// Runs `f` under the lock on a blocking thread and stages its outputs; then, without the
    /// lock, waits until they are durable (sharing the commit with concurrent requests), and
    /// sends.
    async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Core, Duration) -> R + Send + 'static,
    ) -> Result<R, IpamFailure> {
        self.run_with(false, f).await
    }

    /// As [`Ipam::run`], but durable before the lock is released: for changes nobody may see
    /// (in gossip) before they are on disk.
    async fn run_locked<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Core, Duration) -> R + Send + 'static,
    ) -> Result<R, IpamFailure> {
        self.run_with(true, f).await
    }

    async fn run_with<R: Send + 'static>(
        self: &Arc<Self>,
        hold_lock: bool,
        f: impl FnOnce(&mut Core, Duration) -> R + Send + 'static,
    ) -> Result<R, IpamFailure> {
        let me = self.clone();
        let (r, sends) = tokio::task::spawn_blocking(move || {
            if let Some(why) = me.persister.failed() {
                return Err(IpamFailure::Persist(why));
            }
            let mut core = me.lock();
            let r = f(&mut core, now());
            let batch = core.stage(&me.persister);
            let sends = if hold_lock {
                me.finish(batch)
            } else {
                drop(core);
                me.finish(batch)
            };
            sends.map(|s| (r, s))
        })
        .await
        .map_err(|e| IpamFailure::Persist(format!("IPAM task failed: {e}")))??;
        self.send(sends).await;
        Ok(r)
    }

    /// Makes a staged batch durable and answers it; a failure stops the daemon.
    fn finish(&self, batch: Batch) -> Result<Sends, IpamFailure> {
        batch.finish(&self.persister).map_err(|e| {
            self.fatal(&e.to_string());
            IpamFailure::Persist(e.to_string())
        })
    }

    async fn send(self: &Arc<Self>, sends: Sends) {
        let Some(mesh) = self.mesh.get() else { return };
        if sends.broadcast {
            mesh.gossip_broadcast(CHANNEL, Box::new(gossip::Latest(self.clone()))).await;
        }
        for (dst, payload) in sends.unicasts {
            if let Err(e) = mesh.gossip_unicast(CHANNEL, dst, payload).await {
                tracing::debug!(peer = %dst, "IPAM unicast not sent: {e}");
            }
        }
    }

    /// Starts a request that completes later, and waits for its answer.
    async fn wait(
        self: &Arc<Self>,
        start: impl FnOnce(&mut Allocator, Duration) -> RequestId + Send + 'static,
    ) -> Result<Outcome, IpamFailure> {
        self.wait_unless(start, || None).await
    }

    /// As [`Ipam::wait`], but gives up (cancelling the request) once `stuck` says waiting
    /// cannot help; it is asked every [`STUCK_CHECK`].
    async fn wait_unless(
        self: &Arc<Self>,
        start: impl FnOnce(&mut Allocator, Duration) -> RequestId + Send + 'static,
        stuck: impl Fn() -> Option<Stuck>,
    ) -> Result<Outcome, IpamFailure> {
        let (id, rx) = self
            .run(move |core, now| {
                let id = start(&mut core.alloc, now);
                let (tx, rx) = oneshot::channel::<Answer>();
                core.waiters.insert(id, tx);
                (id, rx)
            })
            .await?;
        // Cancelled in the allocator if the client goes away before the answer.
        let mut guard = CancelOnDrop { ipam: self.clone(), id, armed: true };
        let mut rx = rx;
        let mut check = tokio::time::interval_at(tokio::time::Instant::now() + STUCK_CHECK, STUCK_CHECK);
        let answer = loop {
            tokio::select! {
                a = &mut rx => break a,
                _ = self.stop.cancelled() => return Err(IpamFailure::Stopping),
                _ = check.tick() => {
                    if let Some(why) = stuck() {
                        // An answer that raced the check wins.
                        match rx.try_recv() {
                            Ok(a) => break Ok(a),
                            Err(_) => return Err(IpamFailure::Stuck(why)),
                        }
                    }
                }
            }
        };
        guard.armed = false;
        match answer {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(IpamFailure::Op(e)),
            // The waiter was dropped: a persist failed or the daemon is stopping.
            Err(_) => match self.persister.failed() {
                Some(why) => Err(IpamFailure::Persist(why)),
                None => Err(IpamFailure::Stopping),
            },
        }
    }

    /// An address for `ident` in `subnet` (the one it has there already, if any); waits for
    /// the ring and for space.
    pub async fn allocate(
        self: &Arc<Self>,
        ident: &str,
        subnet: Cidr,
        is_container: bool,
    ) -> Result<Cidr, IpamFailure> {
        self.allocate_in(ident, subnet, is_container, false).await
    }

    /// As [`Ipam::allocate`], but fails with [`IpamFailure::Stuck`] instead of waiting when no
    /// reachable peer has a free address in `subnet` (waiting for consensus still waits).
    pub async fn allocate_or_explain(
        self: &Arc<Self>,
        ident: &str,
        subnet: Cidr,
        is_container: bool,
    ) -> Result<Cidr, IpamFailure> {
        self.allocate_in(ident, subnet, is_container, true).await
    }

    /// Allocation, giving up when `explain` and waiting cannot help.
    async fn allocate_in(
        self: &Arc<Self>,
        ident: &str,
        subnet: Cidr,
        is_container: bool,
        explain: bool,
    ) -> Result<Cidr, IpamFailure> {
        let ident = ident.to_string();
        let me = self.clone();
        let start = move |a: &mut Allocator, now| a.allocate(now, &ident, subnet, is_container);
        let stuck = move || if explain { me.stuck(subnet) } else { None };
        match self.wait_unless(start, stuck).await? {
            Outcome::Allocated(addr) => Ok(subnet.with_addr(addr)),
            other => Err(IpamFailure::Persist(format!("unexpected IPAM answer {other:?}"))),
        }
    }

    /// Whether an allocation in `subnet` cannot succeed by waiting: the ring exists, we have
    /// no free address there, and no reachable peer reports one.
    pub fn stuck(&self, subnet: Cidr) -> Option<Stuck> {
        let core = self.lock();
        let ring = core.alloc.ring();
        let want = subnet.host_range();
        if ring.is_empty() || core.alloc.num_free_addresses(want) > 0 {
            return None;
        }
        let n = ring.entries.len();
        let mut holders: BTreeSet<PeerName> = BTreeSet::new();
        for (i, e) in ring.entries.iter().enumerate() {
            if e.free == 0 || e.peer == self.our_name {
                continue;
            }
            let next = ring.entries[(i + 1) % n].token;
            let parts = if next > e.token {
                vec![Range { start: e.token, end: next }]
            } else {
                // The entry wraps round the end of the ring.
                vec![Range { start: e.token, end: ring.end }, Range { start: ring.start, end: next }]
            };
            if parts.iter().any(|r| r.overlaps(&want)) {
                holders.insert(e.peer);
            }
        }
        if holders.is_empty() {
            return Some(Stuck::Exhausted { subnet, size: want.size() });
        }
        if holders.iter().any(|p| core.known.contains(p)) {
            return None;
        }
        let nick = |p: &PeerName| core.alloc.nicknames().get(p).cloned().unwrap_or_default();
        Some(Stuck::Unreachable {
            subnet,
            peers: holders.iter().map(|p| format!("{p}({})", nick(p))).collect(),
            names: holders.iter().map(|p| p.to_string()).collect(),
        })
    }

    /// Records `cidr` for `ident` (asking its owner for it when another peer owns it).
    pub async fn claim(
        self: &Arc<Self>,
        ident: &str,
        cidr: Cidr,
        is_container: bool,
        no_error_on_unknown: bool,
    ) -> Result<(), IpamFailure> {
        let ident = ident.to_string();
        self.wait(move |a, now| a.claim(now, &ident, cidr, is_container, no_error_on_unknown))
            .await
            .map(|_| ())
    }

    /// Waits until the ring exists.
    pub async fn prime(self: &Arc<Self>) -> Result<(), IpamFailure> {
        self.wait(|a, now| a.prime(now)).await.map(|_| ())
    }

    /// Releases one address of `ident`.
    pub async fn free(self: &Arc<Self>, ident: &str, addr: Address) -> Result<(), IpamFailure> {
        let ident = ident.to_string();
        self.run(move |core, _| core.alloc.free(&ident, addr)).await?.map_err(IpamFailure::Op)
    }

    /// Releases every address of `ident`; returns them.
    pub async fn delete(self: &Arc<Self>, ident: &str) -> Result<Vec<Cidr>, IpamFailure> {
        let ident = ident.to_string();
        self.run(move |core, _| {
            let cidrs = core.alloc.owned().get(&ident).map(|d| d.cidrs.clone()).unwrap_or_default();
            core.alloc.delete(&ident).map(|()| cidrs)
        })
        .await?
        .map_err(IpamFailure::Op)
    }

    /// Hands `addr` to the container `to` (see `Allocator::transfer`); returns the previous owner.
    pub async fn transfer(self: &Arc<Self>, addr: Address, to: &str) -> Result<String, IpamFailure> {
        let to = to.to_string();
        self.run(move |core, _| core.alloc.transfer(addr, &to, true)).await?.map_err(IpamFailure::Op)
    }

    /// The ident owning `addr` on this peer.
    pub fn owner_of(&self, addr: Address) -> Option<String> {
        self.lock().alloc.owner_of(addr).map(str::to_string)
    }

    /// A container stopped: its addresses go after Weave's grace period unless it starts again.
    pub async fn container_died(self: &Arc<Self>, ident: &str) -> Result<(), IpamFailure> {
        let ident = ident.to_string();
        self.run(move |core, now| core.alloc.container_died(now, &ident)).await
    }

    /// A container was removed: its addresses go now.
    pub async fn container_destroyed(self: &Arc<Self>, ident: &str) -> Result<(), IpamFailure> {
        let ident = ident.to_string();
        self.run(move |core, _| core.alloc.container_destroyed(&ident)).await
    }

    /// A container (re)started: it keeps its addresses.
    pub async fn container_started(self: &Arc<Self>, ident: &str) -> Result<(), IpamFailure> {
        let ident = ident.to_string();
        self.run(move |core, _| core.alloc.container_started(&ident)).await
    }

    /// rmpeer: takes over the ranges of a dead peer (name or nickname); returns the free
    /// addresses gained.
    pub async fn takeover(self: &Arc<Self>, peer: &str) -> Result<u32, IpamFailure> {
        let peer = peer.to_string();
        self.run_locked(move |core, now| core.alloc.admin_takeover_ranges(now, &peer)).await
    }

    /// Leaves IPAM: hands all our ranges to an heir and broadcasts that. Returns how many
    /// addresses our ranges held, or 0 when there was nobody to hand them to.
    pub async fn shutdown(self: &Arc<Self>) -> Result<u64, IpamFailure> {
        self.run_locked(|core, now| {
            let ours = core.alloc.owned_ranges();
            core.alloc.shutdown(now);
            let heir = ours.first().and_then(|r| core.alloc.ring().owner(r.start));
            match heir {
                Some(h) if h != PeerName::UNKNOWN => ours.iter().map(|r| u64::from(r.size())).sum(),
                _ => 0,
            }
        })
        .await
    }

    /// The ident's addresses inside `subnet`'s host range (Weave's `Lookup`).
    pub fn lookup(&self, ident: &str, subnet: Cidr) -> Vec<Cidr> {
        self.lock().alloc.lookup(ident, subnet.host_range())
    }

    /// The addresses this peer handed out to `ident`.
    pub fn owned_by(&self, ident: &str) -> Vec<Cidr> {
        self.lock().alloc.owned().get(ident).map(|d| d.cidrs.clone()).unwrap_or_default()
    }

    /// Everything handed out by this peer.
    pub fn owned(&self) -> Vec<(String, OwnedData)> {
        self.lock().alloc.owned().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// A peer name or nickname this peer's IPAM knows, resolved to the name.
    pub fn resolve_peer(&self, name_or_nick: &str) -> Option<PeerName> {
        let core = self.lock();
        let by_nick =
            core.alloc.nicknames().iter().find(|(_, n)| n.as_str() == name_or_nick).map(|(p, _)| *p);
        let known = |p: PeerName| {
            core.alloc.ring().peer_names().contains(&p) || core.alloc.nicknames().contains_key(&p)
        };
        by_nick.or_else(|| name_or_nick.parse::<PeerName>().ok().filter(|p| known(*p)))
    }

    /// Whether `peer` is in the topology: the mesh's own view now, or the core's copy (which
    /// follows the mesh's events a moment later), so a peer that just joined is not taken for dead.
    pub fn is_reachable(&self, peer: PeerName) -> bool {
        self.mesh.get().is_some_and(|m| m.peer_names().contains(&peer)) || self.lock().known.contains(&peer)
    }

    /// Weave's IPAM status block.
    pub fn status(&self) -> IpamStatus {
        to_api(self.lock().alloc.status(self.default_subnet))
    }

    pub fn info(&self) -> IpamInfo {
        let (status, errors) = {
            let core = self.lock();
            (to_api(core.alloc.status(self.default_subnet)), core.errors.iter().cloned().collect())
        };
        IpamInfo { state: weave_api::text::ipam_state(&status), status, errors }
    }

    pub fn errors(&self) -> Vec<weave_api::IpamGossipError> {
        self.lock().errors.iter().cloned().collect()
    }

    /// Free addresses this peer owns in `r`.
    pub fn free_in(&self, r: Range) -> u32 {
        self.lock().alloc.num_free_addresses(r)
    }
}

/// An update of the known peers, from a mesh event.
type KnownChange = Box<dyn FnOnce(&mut BTreeSet<PeerName>) + Send>;

/// Cancels a waiting request whose client went away.
struct CancelOnDrop {
    ipam: Arc<Ipam>,
    id: RequestId,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (ipam, id) = (self.ipam.clone(), self.id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = ipam
                    .run(move |core, _| {
                        core.waiters.remove(&id);
                        core.alloc.cancel(id);
                    })
                    .await;
            });
        }
    }
}

/// The peers in the mesh's topology, except ourselves.
fn known_from(mesh: &dyn Mesh, us: PeerName) -> BTreeSet<PeerName> {
    mesh.peer_names().into_iter().filter(|p| *p != us).collect()
}

fn to_api(s: weave_ipam::allocator::Status) -> IpamStatus {
    IpamStatus {
        paxos: s.paxos.map(|p| PaxosStatus {
            elector: p.elector,
            known_nodes: p.known_nodes as u32,
            quorum: p.quorum,
        }),
        range: s.range,
        range_num_ips: s.range_num_ips,
        active_ips: u64::from(s.active_ips),
        default_subnet: s.default_subnet,
        entries: s
            .entries
            .into_iter()
            .map(|e| IpamEntry {
                token: e.token,
                size: e.size,
                peer: e.peer,
                nickname: e.nickname,
                is_known_peer: e.is_known_peer,
                version: e.version,
            })
            .collect(),
        pending_claims: s
            .pending_claims
            .into_iter()
            .map(|c| PendingClaim { ident: c.ident, cidr: c.cidr.to_string() })
            .collect(),
        pending_allocates: s.pending_allocates,
    }
}

/// Loads IPAM's persisted state; a value that cannot be read refuses the start.
pub fn load(store: &Store) -> Result<Option<PersistedState>, StoreError> {
    store::load(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_checked_as_weave() {
        assert_eq!(parse_subnet("10.32.1.0/24").unwrap().to_string(), "10.32.1.0/24");
        assert_eq!(parse_subnet("x/8").unwrap_err(), "invalid CIDR address: x/8");
        assert!(parse_subnet("10.32.0.1/24").unwrap_err().contains("bits after network prefix"));
        assert!(parse_subnet("10.32.0.0/31").unwrap_err().contains("smaller than minimum size 4"));
        assert!(check_ident("").is_err() && check_ident(&"x".repeat(MAX_IDENT_LEN + 1)).is_err());
    }
}
