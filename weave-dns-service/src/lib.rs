//! weaveDNS in the daemon: the replicated entries (pure core in `weave-dns`) behind a lock, the
//! gossip channel `nameserver`, the DNS server on `--dns-listen-address` and the upstream list
//! from `--resolv-conf`. The daemon reaches it through [`Dns`]'s methods and gives it a
//! [`Mesh`] to gossip through.

#![forbid(unsafe_code)]

mod clients;
mod forward;
pub mod gossip;
pub mod mesh;
pub mod persist;
pub mod resolv;
mod server;

use arc_swap::ArcSwap;
pub use mesh::{Mesh, TargetExists};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use weave_api::{DnsEntry, DnsEntryStatus, Event};
use weave_dns::clients::{DEFAULT_RATE, MAX_CLIENTS};
use weave_dns::{ClientNets, Entry, GossipData, Nameserver, RateLimiter, Responder};
use weave_wire::PeerName;

pub use server::Sockets;

/// How often names of targets whose namespace is gone are removed (Weave does it when Docker
/// reports the container's death).
const DEATH_CHECK: Duration = Duration::from_secs(10);

/// The container id of names registered without one (`weave dns-add IP -h NAME`), as Weave.
pub const EXTERN_ID: &str = "weave:extern";

/// The flags weaveDNS runs with.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub domain: String,
    pub ttl: u32,
    pub listen: SocketAddr,
    /// Empty: no upstream servers.
    pub resolv_conf: String,
    /// Where our own names are kept across restarts (`None`: not kept).
    pub state_file: Option<std::path::PathBuf>,
    /// Client networks always answered besides loopback and the bridge's (the allocation
    /// range and `--dns-allow-from`).
    pub allow_from: Vec<ipnet::IpNet>,
    /// Bridges whose subnets are answered: weave's, and Docker's with the Docker integration
    /// (see [`clients`]).
    pub bridges: Vec<String>,
}

pub struct Dns {
    pub config: DnsConfig,
    state: RwLock<Nameserver>,
    responder: Responder,
    upstream: ArcSwap<Vec<SocketAddr>>,
    events: broadcast::Sender<Event>,
    mesh: OnceLock<Arc<dyn Mesh>>,
    /// Group commit of our names, see [`Dns::save`].
    saves: Saves,
    /// Who is answered: see [`clients`].
    clients: ArcSwap<ClientNets>,
    limiter: std::sync::Mutex<RateLimiter>,
    /// The rate limiter's clock starts here.
    epoch: std::time::Instant,
}

/// The generations of local changes: staged (applied in memory) and written to disk.
#[derive(Default)]
struct Saves {
    staged: AtomicU64,
    /// Held while writing, so writes happen one at a time.
    committed: std::sync::Mutex<Committed>,
    /// Our names that became live (`true`) or went since the last write, in order: noted
    /// under the nameserver's lock by every local change (gossip never changes which of our
    /// names are live, see `Nameserver::receive`).
    changes: std::sync::Mutex<Vec<(persist::Saved, bool)>>,
    /// A write failed: the next one compares every name with what is on disk.
    rescan: std::sync::atomic::AtomicBool,
    writes: AtomicU64,
}

#[derive(Default)]
struct Committed {
    generation: u64,
    /// None without a state file.
    store: Option<persist::Store>,
}

/// What to do with a query from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Answer,
    /// Not a client weaveDNS serves: REFUSED.
    Refuse,
    /// Over its rate: nothing.
    Drop,
}

/// Unix seconds, the clock of entries and gossip.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// What identifies a live entry, for telling which appeared or went.
type LiveKey = (String, String, Ipv4Addr, PeerName);

fn live_set(ns: &Nameserver) -> HashSet<LiveKey> {
    ns.entries()
        .iter()
        .filter(|e| !e.is_tombstoned())
        .map(|e| (e.hostname.clone(), e.container_id.clone(), e.addr, e.origin))
        .collect()
}

impl Dns {
    pub fn new(config: DnsConfig, our_name: PeerName) -> Arc<Dns> {
        let (events, _) = broadcast::channel(1024);
        let dns = Dns {
            state: RwLock::new(Nameserver::new(our_name, &config.domain)),
            responder: Responder::new(&config.domain, config.ttl),
            upstream: ArcSwap::from_pointee(vec![]),
            events,
            mesh: OnceLock::new(),
            saves: Saves::default(),
            clients: ArcSwap::from_pointee(ClientNets::new(config.allow_from.clone())),
            limiter: std::sync::Mutex::new(RateLimiter::new(DEFAULT_RATE, MAX_CLIENTS)),
            epoch: std::time::Instant::now(),
            config,
        };
        dns.reload_upstream(&mut resolv::Watch::default());
        // Before the mesh runs, so our entries gossiped back by other peers find them here.
        if let Some(path) = &dns.config.state_file {
            let (store, saved) = persist::Store::open(path);
            let saved = saved.unwrap_or_else(|e| {
                tracing::warn!("{e}");
                vec![]
            });
            let mut ns = dns.write();
            for e in saved {
                ns.add_entry(&e.hostname, &e.container_id, e.addr, now());
            }
            drop(ns);
            dns.saves.committed.lock().unwrap_or_else(|e| e.into_inner()).store = Some(store);
        }
        Arc::new(dns)
    }

    /// Makes every local change made so far durable before returning, sharing the write with
    /// concurrent callers (a group commit, as IPAM's): a change bumps `staged` after it is
    /// applied, and a writer first takes `committed`, then the newest generation, then the
    /// entries, so what it writes holds every change up to that generation. Callers that
    /// queued behind a write which already covered them return without writing. The fsync runs
    /// on the blocking pool, so waiting callers do not hold runtime threads.
    async fn save(self: &Arc<Self>) {
        if self.config.state_file.is_none() {
            return;
        }
        let gen = self.saves.staged.fetch_add(1, Ordering::SeqCst) + 1;
        let me = self.clone();
        let done = tokio::task::spawn_blocking(move || me.flush(gen)).await;
        if let Err(e) = done {
            tracing::warn!("saving DNS names: {e}");
        }
    }

    /// Writes our names unless generation `gen` is on disk already.
    fn flush(&self, gen: u64) {
        let mut committed = self.saves.committed.lock().unwrap_or_else(|e| e.into_inner());
        if committed.generation >= gen {
            return;
        }
        let newest = self.saves.staged.load(Ordering::SeqCst);
        let changes = std::mem::take(&mut *self.saves.changes.lock().unwrap_or_else(|e| e.into_inner()));
        let Some(store) = committed.store.as_mut() else { return };
        let written = if self.saves.rescan.swap(false, Ordering::SeqCst) {
            store.write(persist::ours(&self.read()))
        } else {
            store.apply(changes)
        };
        if let Err(e) = written {
            // Not marked committed: the next change writes again, comparing every name.
            self.saves.rescan.store(true, Ordering::SeqCst);
            return tracing::warn!("saving DNS names: {e}");
        }
        committed.generation = newest;
        self.saves.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes of the names file so far (tests: concurrent changes share them).
    #[cfg(test)]
    fn writes(&self) -> u64 {
        self.saves.writes.load(Ordering::Relaxed)
    }

    /// Binds the DNS listen address, UDP and TCP (before the daemon reports ready).
    pub fn bind(&self) -> std::io::Result<Sockets> {
        Sockets::bind(self.config.listen)
    }

    /// Serves DNS on `sockets`, gossips through `mesh`, purges tombstones, removes the names of
    /// targets that `exists` says are gone and follows resolv.conf, until `stop`.
    pub fn start(
        self: &Arc<Self>,
        mesh: impl Mesh,
        sockets: Sockets,
        stop: CancellationToken,
        exists: TargetExists,
    ) {
        let mesh: Arc<dyn Mesh> = Arc::new(mesh);
        let _ = self.mesh.set(mesh.clone());
        // Names kept from before a restart: announce them.
        let restored: Vec<Entry> = {
            let ns = self.read();
            ns.entries().iter().filter(|e| e.origin == ns.our_name()).cloned().collect()
        };
        if !restored.is_empty() {
            tracing::info!(count = restored.len(), "restored this peer's DNS names");
            let data = GossipData::new(now(), restored);
            tokio::spawn(async move {
                mesh.gossip_broadcast(weave_dns::CHANNEL, Box::new(gossip::DnsGossip(data))).await;
            });
        }
        // The bridge's networks before the first query (then every DEATH_CHECK).
        match clients::local_nets(&self.config.bridges, self.config.listen.ip()) {
            Ok(local) => self.set_clients(local),
            Err(e) => tracing::warn!("weaveDNS clients: {e}"),
        }
        server::spawn(self.clone(), sockets, stop.clone());
        let me = self.clone();
        tokio::spawn(async move {
            let mut watch = resolv::Watch::default();
            let mut purge = tokio::time::interval(Duration::from_secs(weave_dns::PURGE_INTERVAL_SECS as u64));
            let mut recheck = tokio::time::interval(weave_dns::resolv::RESOLV_RECHECK);
            let mut deaths = tokio::time::interval(DEATH_CHECK);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = purge.tick() => me.write().purge_tombstones(now()),
                    _ = recheck.tick() => me.reload_upstream(&mut watch),
                    _ = deaths.tick() => {
                        me.reap_dead_targets(exists).await;
                        me.refresh_clients().await;
                    }
                }
            }
        });
    }

    fn reload_upstream(&self, watch: &mut resolv::Watch) {
        if self.config.resolv_conf.is_empty() {
            return;
        }
        if let Some(servers) =
            watch.changed(std::path::Path::new(&self.config.resolv_conf), self.config.listen)
        {
            tracing::info!(?servers, "upstream DNS servers");
            self.upstream.store(Arc::new(servers));
        }
    }

    /// Whether (and how) to answer a query from `client`; `udp` queries count against the
    /// client's rate (TCP ones cannot come from forged sources).
    pub fn admit(&self, client: std::net::IpAddr, udp: bool) -> Admit {
        let allowed = self.clients.load().allows(client);
        if udp {
            let now = self.epoch.elapsed();
            let within = self.limiter.lock().unwrap_or_else(|e| e.into_inner()).allow(client, now);
            if !within {
                return Admit::Drop;
            }
        }
        if allowed {
            Admit::Answer
        } else {
            Admit::Refuse
        }
    }

    /// Re-reads the networks on the weave bridge (and the one the listen address is on, when
    /// it is a specific address): clients there are answered.
    pub async fn refresh_clients(&self) {
        let (listen, bridges) = (self.config.listen.ip(), self.config.bridges.clone());
        let found = tokio::task::spawn_blocking(move || clients::local_nets(&bridges, listen)).await;
        let local = match found {
            Ok(Ok(nets)) => nets,
            Ok(Err(e)) => return tracing::warn!("weaveDNS clients: {e}"),
            Err(e) => return tracing::warn!("weaveDNS clients: {e}"),
        };
        self.set_clients(local);
    }

    fn set_clients(&self, local: Vec<ipnet::IpNet>) {
        let nets = ClientNets::new(self.config.allow_from.iter().copied().chain(local).collect());
        if **self.clients.load() != nets {
            tracing::info!(nets = ?nets.nets(), "weaveDNS answers loopback and these networks");
            self.clients.store(Arc::new(nets));
        }
    }

    pub fn upstream(&self) -> Arc<Vec<SocketAddr>> {
        self.upstream.load_full()
    }

    pub fn responder(&self) -> &Responder {
        &self.responder
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Nameserver> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Nameserver> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Runs `f` on the entries and announces the live entries that appeared or went.
    pub(crate) fn change<R>(&self, f: impl FnOnce(&mut Nameserver) -> R) -> R {
        let mut ns = self.write();
        if self.events.receiver_count() == 0 {
            return f(&mut ns);
        }
        let before = live_set(&ns);
        let r = f(&mut ns);
        let after = live_set(&ns);
        drop(ns);
        let event = |k: &LiveKey, added: bool| {
            let (hostname, container_id, address, origin) =
                (k.0.clone(), k.1.clone(), k.2.to_string(), k.3.to_string());
            if added {
                Event::DnsEntryAdded { hostname, address, container_id, origin }
            } else {
                Event::DnsEntryRemoved { hostname, address, container_id, origin }
            }
        };
        for k in after.difference(&before) {
            let _ = self.events.send(event(k, true));
        }
        for k in before.difference(&after) {
            let _ = self.events.send(event(k, false));
        }
        r
    }

    /// [`Dns::change`] for a local change of our names: what changed is noted for the next
    /// write while the nameserver is still locked, so the notes keep the changes' order.
    fn change_ours(&self, f: impl FnOnce(&mut Nameserver) -> Option<GossipData>) -> Option<GossipData> {
        self.change(|ns| {
            let data = f(ns);
            if let (Some(d), Some(_)) = (&data, &self.config.state_file) {
                let us = ns.our_name();
                let mut changes = self.saves.changes.lock().unwrap_or_else(|e| e.into_inner());
                changes.extend(d.entries.iter().filter(|e| e.origin == us).map(|e| {
                    let name = persist::Saved {
                        hostname: e.hostname.clone(),
                        container_id: e.container_id.clone(),
                        addr: e.addr,
                    };
                    (name, !e.is_tombstoned())
                }));
            }
            data
        })
    }

    /// Saves our change, then broadcasts it on channel `nameserver` (nothing before the mesh
    /// runs).
    async fn broadcast(self: &Arc<Self>, data: Option<GossipData>) {
        if data.is_some() {
            self.save().await;
        }
        if let (Some(data), Some(mesh)) = (data, self.mesh.get()) {
            mesh.gossip_broadcast(weave_dns::CHANNEL, Box::new(gossip::DnsGossip(data))).await;
        }
    }

    /// Registers `name` (qualified if needed) for `addr`; `None` when the name is outside our
    /// domain (ignored, as Weave).
    pub async fn add(self: &Arc<Self>, name: &str, container_id: &str, addr: Ipv4Addr) -> Option<Entry> {
        let data = self.change_ours(|ns| ns.add_entry_fqdn(name, container_id, addr, now()))?;
        let entry = data.entries.iter().next().cloned();
        self.broadcast(Some(data)).await;
        entry
    }

    /// Removes our live entries matching every given part; returns them.
    pub async fn delete(
        self: &Arc<Self>,
        hostname: Option<&str>,
        container_id: Option<&str>,
        addr: Option<Ipv4Addr>,
    ) -> Vec<Entry> {
        let hostname = hostname.map(weave_dns::names::fqdn);
        let data = self.change_ours(|ns| ns.delete(hostname.as_deref(), container_id, addr, now()));
        let removed = data.as_ref().map(|d| d.entries.to_vec()).unwrap_or_default();
        self.broadcast(data).await;
        removed
    }

    /// Removes our names of targets (`netns:NAME`, `pid:PID`, namespace paths) that no longer
    /// exist, as Weave's `ContainerDied`.
    async fn reap_dead_targets(self: &Arc<Self>, exists: TargetExists) {
        let ids: HashSet<String> = {
            let ns = self.read();
            let us = ns.our_name();
            ns.entries()
                .iter()
                .filter(|e| e.origin == us && !e.is_tombstoned())
                .map(|e| e.container_id.clone())
                .collect()
        };
        for id in ids {
            let dead = exists(&id) == Some(false);
            if dead {
                tracing::info!(target = %id, "target gone: removing its DNS names");
                let data = self.change_ours(|ns| ns.container_died(&id, now()));
                self.broadcast(data).await;
            }
        }
    }

    /// The container ids of our own live entries.
    pub fn our_container_ids(&self) -> HashSet<String> {
        let ns = self.read();
        let us = ns.our_name();
        ns.entries()
            .iter()
            .filter(|e| e.origin == us && !e.is_tombstoned())
            .map(|e| e.container_id.clone())
            .collect()
    }

    /// Removes every name of the target `id` (detach of a target that is gone).
    pub async fn forget_target(self: &Arc<Self>, id: &str) {
        let data = self.change_ours(|ns| ns.container_died(id, now()));
        self.broadcast(data).await;
    }

    /// The name a target called `name` gets: `name` under the domain (unless already in it).
    pub fn target_name(&self, name: &str) -> String {
        let name = name.trim_end_matches('.');
        let domain = self.read().domain().to_string();
        if weave_dns::names::is_subdomain(&domain, &weave_dns::names::fqdn(name)) {
            return weave_dns::names::fqdn(name);
        }
        format!("{name}.{domain}")
    }

    /// A name as given to the API: a single label is qualified with the domain, anything else
    /// only gets its trailing dot.
    pub fn qualify(&self, name: &str) -> String {
        let name = weave_dns::names::fqdn(name);
        if weave_dns::names::is_single_label(&name) {
            return format!("{name}{}", self.read().domain());
        }
        name
    }

    /// [`Dns::qualify`], refused when the name falls outside our domain (Weave ignores such
    /// names; the API says so instead).
    pub fn name_in_domain(&self, name: &str) -> Result<String, String> {
        let name = self.qualify(name);
        let domain = self.responder().domain();
        if !weave_dns::names::is_subdomain(domain, &name) {
            return Err(format!("{name} is outside the DNS domain {domain}"));
        }
        Ok(name)
    }

    /// Live addresses of a name (single labels qualified with the domain).
    pub fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        let ns = self.read();
        let mut name = weave_dns::names::fqdn(name);
        if name.trim_end_matches('.').split('.').count() == 1 {
            name.push_str(ns.domain());
        }
        ns.lookup(&name)
    }

    /// Every entry, tombstones included, as the report shows them.
    pub fn status_entries(&self) -> Vec<DnsEntryStatus> {
        self.read()
            .entries()
            .iter()
            .map(|e| DnsEntryStatus {
                hostname: e.hostname.clone(),
                origin: e.origin.to_string(),
                container_id: e.container_id.clone(),
                address: e.addr.to_string(),
                version: e.version,
                tombstone: e.tombstone,
            })
            .collect()
    }

    /// `GET /name` with `Accept: application/json`: Weave's JSON byte for byte.
    pub fn name_json(&self) -> String {
        self.read().name_json()
    }
}

/// An entry as `/api/v1/dns` shows it.
pub fn api_entry(e: &Entry) -> DnsEntry {
    DnsEntry {
        hostname: e.hostname.clone(),
        address: e.addr.to_string(),
        container_id: e.container_id.clone(),
        origin: e.origin.to_string(),
        version: e.version,
        tombstone: e.tombstone,
    }
}

impl Dns {
    /// Answers one request (see `weave_dns::Responder::answer`).
    pub(crate) fn answer(&self, request: &[u8], transport: weave_dns::Transport) -> weave_dns::Action {
        let ns = self.read();
        self.responder.answer(request, transport, ns.entries(), &mut rand::rng())
    }
}

#[cfg(test)]
mod admit_tests {
    use super::*;

    #[test]
    fn loopback_and_allowed_networks_are_answered_others_refused_floods_dropped() {
        let config = DnsConfig {
            domain: "weave.local.".into(),
            ttl: 1,
            listen: "127.0.0.1:0".parse().unwrap(),
            resolv_conf: String::new(),
            state_file: None,
            allow_from: vec!["10.32.0.0/12".parse().unwrap()],
            bridges: vec![],
        };
        let dns = Dns::new(config, PeerName(1));
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(dns.admit(ip("127.0.0.1"), true), Admit::Answer);
        assert_eq!(dns.admit(ip("10.32.4.4"), true), Admit::Answer);
        assert_eq!(dns.admit(ip("192.168.77.2"), false), Admit::Refuse);
        assert_eq!(dns.admit(ip("192.168.77.2"), true), Admit::Refuse);
        // A flood from one container: its burst, then nothing; loopback is never limited.
        let answered = (0..5000).filter(|_| dns.admit(ip("10.32.9.9"), true) == Admit::Answer).count();
        assert!(
            answered >= DEFAULT_RATE.burst as usize && answered < 2 * DEFAULT_RATE.burst as usize,
            "{answered}"
        );
        assert_eq!(dns.admit(ip("10.32.9.9"), false), Admit::Answer, "TCP is not rate limited");
        assert!((0..5000).all(|_| dns.admit(ip("127.0.0.1"), true) == Admit::Answer));
        // The bridge's networks, once read, are answered too.
        dns.set_clients(vec!["10.2.0.0/16".parse().unwrap()]);
        assert_eq!(dns.admit(ip("10.2.1.1"), false), Admit::Answer);
        assert_eq!(dns.admit(ip("10.32.4.4"), false), Admit::Answer, "the flags' networks stay");
    }
}

#[cfg(test)]
mod save_tests {
    use super::*;

    /// An empty data directory of its own, the names file in it and a config saving there.
    fn scratch(tag: &str) -> (std::path::PathBuf, std::path::PathBuf, DnsConfig) {
        let dir = std::env::temp_dir().join(format!("weave-dns-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = persist::path(&dir);
        let config = DnsConfig {
            domain: "weave.local.".into(),
            ttl: 1,
            listen: "127.0.0.1:0".parse().unwrap(),
            resolv_conf: String::new(),
            state_file: Some(file.clone()),
            allow_from: vec![],
            bridges: vec![],
        };
        (dir, file, config)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_changes_share_one_write_and_each_is_on_disk_when_it_returns() {
        let (dir, file, config) = scratch("group");
        let dns = Dns::new(config, PeerName(1));
        let on_disk = |file: &std::path::Path, name: &str| {
            persist::load(file).unwrap().iter().any(|s| s.hostname == name)
        };
        dns.add("first.weave.local.", EXTERN_ID, Ipv4Addr::new(10, 0, 0, 1)).await.unwrap();
        assert!(on_disk(&file, "first.weave.local."));
        assert_eq!(dns.writes(), 1);

        // While a write is under way (the writer's lock held here), 50 changes queue; then
        // one write covers them all, and none returns before its name is on disk.
        let (held_tx, held) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let writer = {
            let dns = dns.clone();
            std::thread::spawn(move || {
                let _writing = dns.saves.committed.lock().unwrap();
                held_tx.send(()).unwrap();
                let _ = release_rx.recv();
            })
        };
        held.recv().unwrap();
        let tasks: Vec<_> = (0..50u8)
            .map(|i| {
                let (dns, file) = (dns.clone(), file.clone());
                tokio::spawn(async move {
                    let name = format!("n{i}.weave.local.");
                    dns.add(&name, EXTERN_ID, Ipv4Addr::new(10, 0, 1, i)).await.unwrap();
                    on_disk(&file, &name)
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while dns.saves.staged.load(Ordering::SeqCst) < 51 {
            assert!(std::time::Instant::now() < deadline, "the 50 changes did not queue");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(release);
        writer.join().unwrap();
        for t in tasks {
            assert!(t.await.unwrap(), "a change returned before it was on disk");
        }
        assert_eq!(dns.writes(), 2, "the queued changes did not share one write");
        assert_eq!(persist::load(&file).unwrap().len(), 51);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn removals_persist_and_a_failed_write_is_made_good_by_the_next() {
        let (dir, _, config) = scratch("removals");
        let names = |dns: &Dns| {
            let mut v: Vec<String> = persist::ours(&dns.read()).into_iter().map(|s| s.hostname).collect();
            v.sort();
            v
        };
        let dns = Dns::new(config.clone(), PeerName(1));
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            dns.add(&format!("{n}.weave.local."), EXTERN_ID, Ipv4Addr::new(10, 0, 0, i as u8 + 1))
                .await
                .unwrap();
        }
        dns.delete(Some("b.weave.local."), None, None).await;
        // The log cannot be written: the change is applied but not saved...
        let log = dir.join(persist::LOG);
        dns.saves.committed.lock().unwrap().store.as_mut().unwrap().close_log();
        let kept = std::fs::read(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap();
        let writes = dns.writes();
        dns.add("d.weave.local.", EXTERN_ID, Ipv4Addr::new(10, 0, 0, 4)).await.unwrap();
        assert_eq!(dns.writes(), writes, "a failed write counted as done");
        assert!(dns.saves.rescan.load(Ordering::SeqCst));
        // ...until the next change writes, comparing every name with what is on disk.
        std::fs::remove_dir(&log).unwrap();
        std::fs::write(&log, kept).unwrap();
        dns.delete(Some("a.weave.local."), None, None).await;
        assert_eq!(dns.writes(), writes + 1);
        drop(dns);
        let again = Dns::new(config, PeerName(1));
        assert_eq!(names(&again), ["c.weave.local.", "d.weave.local."]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
