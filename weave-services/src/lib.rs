//! Services: the one owner of export, import and bind, beside the attach service whose targets
//! they follow. Weave Net documented these as recipes (expose plus hand-written DNAT rules);
//! here each is a resource with state that survives restarts.
//!
//! * export: outside clients reach a target's port through this host. DNAT on the host's
//!   address and published port to the target's weave address (any host's), SNAT to a weave
//!   address of this host's own (on the bridge, from IPAM) so replies come back through it.
//! * import: containers on every host reach an outside address that only this host reaches.
//!   The host takes a weave address on the bridge (not masqueraded as expose's are), DNATs it
//!   to the outside address and masquerades towards it; a weaveDNS name points at it.
//! * bind: a target's port also answers at a weave address of its own. The address goes on the
//!   target's own interface and a redirect in its namespace maps the port: the target sees its
//!   clients' real addresses, nothing is forwarded or tracked on the host, the traffic takes
//!   the direct overlay path to the target's host, and it keeps working while the daemon is
//!   down. So the target must be attached on this host.
//!
//! Every change is recorded durably before it reaches the kernel ([`store::Phase`]) and undone
//! in reverse when a step fails; a daemon that finds a change cut short by a kill -9 undoes an
//! add and finishes a removal, and puts every active service back (addresses, rules, names).
//! A service whose target goes away stays, shown broken with the reason, and comes back with
//! the target: the service follows the attach service's target events, and checks every
//! [`RECHECK`] (namespaces deleted without a detach, a firewall reload that removed its table,
//! and whether anything still answers ARP at an exported address on another host).
//!
//! * [`spec`]: requests checked; [`store`]: the records; [`rules`]: the nftables batches;
//!   [`kernel`]: addresses and tables; [`error`]; [`ports`]: what the daemon gives it (the
//!   attach service, IPAM, weaveDNS), as traits it implements.

#![forbid(unsafe_code)]

pub mod error;
pub mod kernel;
pub mod ports;
pub mod rules;
pub mod spec;
pub mod store;

pub use error::ServiceError;

use ipnet::Ipv4Net;
use ports::{Addresses, LocateError, Names, Namespace, Ports, Targets};
use rules::{BindRule, HostRule};
use spec::{Spec, TargetRef};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Phase, Record};
use tokio::sync::broadcast;
use weave_api::{Event, Service, ServiceRequest, ServiceState};
use weave_store::Store;

/// How often targets and tables are checked besides the target events.
pub const RECHECK: Duration = Duration::from_secs(10);

/// Why a service call failed, with the daemon's attach and IPAM errors.
type Error<P> =
    ServiceError<<<P as Ports>::Targets as Targets>::Error, <<P as Ports>::Addresses as Addresses>::Error>;
/// How the daemon's targets' namespaces are reached.
type Ns<P> = <<P as Ports>::Targets as Targets>::Ns;

/// Where a service's traffic goes now.
#[derive(Debug, Clone, PartialEq)]
struct Resolved<N> {
    /// The attached target's id (local targets).
    id: Option<String>,
    addr: Ipv4Addr,
    /// The target's namespace (local targets).
    ns: Option<N>,
}

struct Entry<N> {
    record: Record,
    /// Where its traffic goes, or why it cannot go anywhere (broken).
    at: Result<Resolved<N>, String>,
}

impl<N> Entry<N> {
    fn in_force(&self) -> bool {
        self.record.phase != Phase::Removing && self.at.is_ok() && self.record.weave.is_some()
    }
}

/// The service. One operation at a time (the lock over the entries).
pub struct Services<P: Ports> {
    attach: Arc<P::Targets>,
    ipam: Option<Arc<P::Addresses>>,
    dns: Option<Arc<P::Names>>,
    store: Store,
    bridge: String,
    entries: tokio::sync::Mutex<BTreeMap<String, Entry<Ns<P>>>>,
    snapshot: Mutex<Vec<Service>>,
    events: broadcast::Sender<Event>,
}

/// Runs blocking kernel work off the runtime.
async fn blocking<T: Send + 'static, A, I>(
    f: impl FnOnce() -> Result<T, weave_netdev::NetdevError> + Send + 'static,
) -> Result<T, ServiceError<A, I>> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(ServiceError::Invalid(format!("blocking task failed: {e}"))),
    }
}

impl<P: Ports> Services<P> {
    pub fn new(
        attach: Arc<P::Targets>,
        ipam: Option<Arc<P::Addresses>>,
        dns: Option<Arc<P::Names>>,
        store: Store,
        bridge: &str,
    ) -> Arc<Services<P>> {
        Arc::new(Services {
            attach,
            ipam,
            dns,
            store,
            bridge: bridge.to_string(),
            entries: tokio::sync::Mutex::new(BTreeMap::new()),
            snapshot: Mutex::new(vec![]),
            events: broadcast::channel(256).0,
        })
    }

    /// Every service, as last published.
    pub fn list(&self) -> Vec<Service> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `service_added`, `service_removed` and `service_changed` from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Creates a service; the same request again answers the service it made.
    pub async fn add(self: &Arc<Self>, req: ServiceRequest) -> Result<Service, Error<P>> {
        let me = self.clone();
        // In a task of its own: a client that goes away cannot cut the steps short.
        tokio::spawn(async move { me.run_add(req).await })
            .await
            .map_err(|e| ServiceError::Invalid(format!("service task failed: {e}")))?
    }

    /// Removes a service: its name, rules, address and record.
    pub async fn remove(self: &Arc<Self>, id: String) -> Result<(), Error<P>> {
        let me = self.clone();
        tokio::spawn(async move { me.run_remove(&id).await })
            .await
            .map_err(|e| ServiceError::Invalid(format!("service task failed: {e}")))?
    }

    async fn run_add(&self, req: ServiceRequest) -> Result<Service, Error<P>> {
        let mut spec = Spec::parse(req, |t| self.attach.check(t))?;
        // The name is checked and qualified before anything changes.
        if let Spec::Import { fqdn, .. } | Spec::Bind { fqdn, .. } = &mut spec {
            if let Some(name) = fqdn.take() {
                let dns = self.dns.as_ref().ok_or(ServiceError::DnsDisabled)?;
                *fqdn = Some(dns.name_in_domain(&name).map_err(ServiceError::BadName)?);
            }
        }
        let id = spec.id();
        let mut entries = self.entries.lock().await;
        if let Some(e) = entries.get(&id) {
            if e.record.phase == Phase::Active {
                return Ok(view(e));
            }
        }
        let asked = self.weave_net(&spec)?;
        for (other, e) in entries.iter() {
            if let Some(why) = spec.conflict(asked, other, &e.record.spec, e.record.weave) {
                return Err(ServiceError::Conflict(why));
            }
        }
        let at = self.resolve(&spec).await?;
        if let Some(w) = asked {
            let br = self.bridge.clone();
            let on_bridge = blocking(move || kernel::bridge_addrs(&br)).await?;
            if on_bridge.iter().any(|a| a.addr() == w.addr()) {
                return Err(ServiceError::Conflict(format!(
                    "weave address {} is in use on this host (`weave ps` shows it on weave:expose)",
                    w.addr()
                )));
            }
        }
        let mut record = Record {
            id: id.clone(),
            spec,
            weave: None,
            phase: Phase::Adding,
            created: P::rfc3339(std::time::SystemTime::now()),
        };
        store::put(&self.store, &record)?;
        entries.insert(id.clone(), Entry { record: record.clone(), at: Ok(at.clone()) });
        let result = async {
            let w = self.take_address(&record, asked, &at).await?;
            record.weave = Some(w);
            store::put(&self.store, &record)?;
            entries.get_mut(&id).expect("inserted").record.weave = Some(w);
            self.plumb(&entries, &id).await?;
            self.name(&record).await;
            record.phase = Phase::Active;
            store::put(&self.store, &record)?;
            Ok::<_, Error<P>>(())
        }
        .await;
        match result {
            Ok(()) => {
                let e = entries.get_mut(&id).expect("inserted");
                e.record.phase = Phase::Active;
                let out = view(e);
                self.publish(&entries).await;
                tracing::info!(service = %id, kind = out.kind.as_str(), "service added");
                Ok(out)
            }
            Err(err) => {
                tracing::info!(service = %id, "adding the service failed, undoing what it did: {err}");
                if let Err(u) = self.undo(&mut entries, &id).await {
                    tracing::error!(service = %id, "undoing the failed add failed too ({u}); the daemon's next start finishes undoing it");
                    entries.remove(&id);
                }
                self.publish(&entries).await;
                Err(err)
            }
        }
    }

    async fn run_remove(&self, id: &str) -> Result<(), Error<P>> {
        let mut entries = self.entries.lock().await;
        let e = entries.get_mut(id).ok_or_else(|| ServiceError::NotFound(id.to_string()))?;
        e.record.phase = Phase::Removing;
        store::put(&self.store, &e.record)?;
        let r = self.undo(&mut entries, id).await;
        self.publish(&entries).await;
        if r.is_ok() {
            tracing::info!(service = %id, "service removed");
        }
        r
    }

    /// Takes a service away, last step first, carrying on past failures: its name, its rules
    /// (the tables rebuilt without it), its address, its IPAM ownership, its record. On a
    /// failure the record stays (marked removing) for the next start to finish.
    async fn undo(&self, entries: &mut BTreeMap<String, Entry<Ns<P>>>, id: &str) -> Result<(), Error<P>> {
        let Some(e) = entries.get_mut(id) else { return Ok(()) };
        e.record.phase = Phase::Removing;
        let (record, at) = (e.record.clone(), e.at.clone());
        let mut first: Option<Error<P>> = None;
        let mut keep = |r: Result<(), Error<P>>| {
            if let Err(err) = r {
                tracing::warn!(service = %id, "undoing: {err}");
                first.get_or_insert(err);
            }
        };
        if let (Some(dns), Some(w)) = (&self.dns, record.weave) {
            dns.delete(&record.owner(), w.addr()).await;
        }
        match (&record.spec, &at, record.weave) {
            (Spec::Bind { .. }, Ok(Resolved { id: Some(tid), ns: Some(ns), .. }), Some(w)) => {
                let rules = bind_rules(entries, tid);
                let (ns, tid, gone) = (ns.clone(), tid.clone(), ns.exists());
                let r = blocking(move || kernel::apply_bind(&ns, &tid, None, Some(w), &rules)).await;
                // A target that is gone took the address and the table with it.
                keep(if gone { r } else { Ok(()) });
            }
            (spec, _, _) if spec.on_bridge() => {
                keep(self.apply_host(entries).await);
                if let Some(w) = record.weave {
                    let br = self.bridge.clone();
                    keep(blocking(move || kernel::bridge_del(&br, w)).await);
                }
            }
            _ => {}
        }
        if let Some(ipam) = &self.ipam {
            keep(ipam.release_all(&record.owner()).await.map_err(ServiceError::Ipam));
        }
        if let Some(err) = first {
            if let Some(e) = entries.get_mut(id) {
                e.at = Err(format!("removal unfinished: {err}"));
            }
            return Err(err);
        }
        store::delete(&self.store, id)?;
        entries.remove(id);
        self.reserve(entries);
        Ok(())
    }

    /// The weave address asked for, with its prefix: inside IPAM's range, else refused.
    fn weave_net(&self, spec: &Spec) -> Result<Option<Ipv4Net>, Error<P>> {
        let Some(w) = spec.weave() else { return Ok(None) };
        let prefix = match (&self.ipam, w.prefix) {
            (Some(ipam), p) => {
                let (universe, default) = (ipam.universe(), ipam.default_subnet());
                if !universe.contains(&w.addr) {
                    return Err(ServiceError::OutOfRange {
                        addr: w.addr.to_string(),
                        range: universe.to_string(),
                    });
                }
                p.unwrap_or(if default.contains(&w.addr) {
                    default.prefix_len()
                } else {
                    universe.prefix_len()
                })
            }
            (None, Some(p)) => p,
            (None, None) => {
                return Err(ServiceError::NeedsIpam(format!(
                    "the weave address {} needs a prefix length",
                    w.addr
                )))
            }
        };
        Ipv4Net::new(w.addr, prefix).map(Some).map_err(|e| ServiceError::Invalid(e.to_string()))
    }

    /// Claims the address asked for, or allocates one: in the default subnet, or for an
    /// export in IPAM's subnet that holds the target (so the host routes to the target).
    async fn take_address(
        &self,
        r: &Record,
        asked: Option<Ipv4Net>,
        at: &Resolved<Ns<P>>,
    ) -> Result<Ipv4Net, Error<P>> {
        let owner = r.owner();
        if let Some(w) = asked {
            if let Some(ipam) = &self.ipam {
                ipam.claim(&owner, w).await.map_err(ServiceError::Ipam)?;
            }
            return Ok(w);
        }
        let ipam = self.ipam.as_ref().ok_or_else(|| {
            ServiceError::NeedsIpam(match r.spec {
                Spec::Export { .. } => "an export needs a weave address for this host".into(),
                _ => "a service without --as WEAVEIP needs one allocated".into(),
            })
        })?;
        let default = ipam.default_subnet();
        let subnet = match r.spec {
            Spec::Export { .. } if !default.contains(&at.addr) && ipam.universe().contains(&at.addr) => {
                ipam.universe()
            }
            _ => default,
        };
        ipam.allocate(&owner, subnet).await.map_err(ServiceError::Ipam)
    }

    /// Puts the service's address where it lives and rebuilds the tables that hold its rules.
    async fn plumb(&self, entries: &BTreeMap<String, Entry<Ns<P>>>, id: &str) -> Result<(), Error<P>> {
        let e = &entries[id];
        let Some(w) = e.record.weave else { return Ok(()) };
        match (&e.record.spec, &e.at) {
            (Spec::Bind { .. }, Ok(Resolved { id: Some(tid), ns: Some(ns), .. })) => {
                let rules = bind_rules(entries, tid);
                let (ns, tid) = (ns.clone(), tid.clone());
                blocking(move || kernel::apply_bind(&ns, &tid, Some(w), None, &rules)).await
            }
            (Spec::Bind { .. }, _) => Ok(()),
            _ => {
                let br = self.bridge.clone();
                blocking(move || kernel::bridge_add(&br, w)).await?;
                self.reserve(entries);
                self.apply_host(entries).await
            }
        }
    }

    async fn name(&self, r: &Record) {
        if let (Some(dns), Some(fqdn), Some(w)) = (&self.dns, r.spec.fqdn(), r.weave) {
            if !dns.add(fqdn, &r.owner(), w.addr()).await {
                tracing::info!(%fqdn, "not registering a name outside the DNS domain");
            }
        }
    }

    async fn apply_host(&self, entries: &BTreeMap<String, Entry<Ns<P>>>) -> Result<(), Error<P>> {
        let rules = host_rules(entries);
        blocking(move || kernel::apply_host(&rules)).await
    }

    /// Tells the attach service which addresses are services': `weave hide` leaves those on
    /// the bridge alone, and a bound target's own address is told from its bound one.
    fn reserve(&self, entries: &BTreeMap<String, Entry<Ns<P>>>) {
        let addrs = entries.values().filter_map(|e| e.record.weave).collect();
        self.attach.reserve_bridge(addrs);
    }

    /// Where the service's traffic goes: a local target is looked up among the targets
    /// attached on this host (its first weave address that is not a service's).
    async fn resolve(&self, spec: &Spec) -> Result<Resolved<Ns<P>>, Error<P>> {
        match spec {
            Spec::Export { target: TargetRef::Address(a), .. } => {
                Ok(Resolved { id: None, addr: *a, ns: None })
            }
            Spec::Import { addr, .. } => Ok(Resolved { id: None, addr: *addr, ns: None }),
            _ => {
                let target = spec.local_target().unwrap_or_default();
                let unknown = |why: String| ServiceError::UnknownTarget { target: target.to_string(), why };
                let (loc_id, loc_ns) = match self.attach.locate(target).await {
                    Ok(l) => l,
                    Err(LocateError::Unknown(why)) => return Err(unknown(why)),
                    Err(LocateError::Failed(e)) => return Err(ServiceError::Attach(e)),
                };
                let listed = self.attach.list().await.map_err(ServiceError::Attach)?;
                let reserved = self.attach.reserved_addrs();
                let addr = listed
                    .iter()
                    .find(|(id, _)| *id == loc_id)
                    .and_then(|(_, addrs)| addrs.iter().find(|n| !reserved.contains(n)).copied())
                    .ok_or_else(|| unknown("it is not attached to the weave network on this host".into()))?;
                Ok(Resolved { id: Some(loc_id), addr: addr.addr(), ns: Some(loc_ns) })
            }
        }
    }

    /// Asks, for each export to an address (a container on any host), whether anything still
    /// answers there: an answer, or why the export is broken.
    async fn probe_addresses(&self) -> BTreeMap<String, Result<(), String>> {
        let asks: Vec<(String, Ipv4Net, Ipv4Addr)> = {
            let entries = self.entries.lock().await;
            entries
                .iter()
                .filter(|(_, e)| e.record.phase == Phase::Active)
                .filter_map(|(id, e)| match (&e.record.spec, e.record.weave) {
                    (Spec::Export { target: TargetRef::Address(a), .. }, Some(w)) => {
                        Some((id.clone(), w, *a))
                    }
                    _ => None,
                })
                .collect()
        };
        let mut probes = tokio::task::JoinSet::new();
        for (id, from, to) in asks {
            let br = self.bridge.clone();
            probes.spawn_blocking(move || {
                let r = match kernel::answers(&br, from, to) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!(
                        "nothing on the weave network answers at {to} (3 ARP requests from {} went \
                         unanswered): the container is gone or its host is unreachable",
                        from.addr()
                    )),
                    Err(e) => Err(format!("cannot tell whether anything answers at {to}: {e}")),
                };
                (id, r)
            });
        }
        let mut out = BTreeMap::new();
        while let Some(done) = probes.join_next().await {
            if let Ok((id, r)) = done {
                out.insert(id, r);
            }
        }
        out
    }

    /// Publishes the snapshot and the events of what changed since the last one.
    async fn publish(&self, entries: &BTreeMap<String, Entry<Ns<P>>>) {
        let now: Vec<Service> =
            entries.values().filter(|e| e.record.phase != Phase::Adding).map(view).collect();
        let before =
            std::mem::replace(&mut *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()), now.clone());
        for s in &now {
            match before.iter().find(|b| b.id == s.id) {
                None => drop(self.events.send(Event::ServiceAdded { service: Box::new(s.clone()) })),
                Some(b) if b != s => {
                    drop(self.events.send(Event::ServiceChanged { service: Box::new(s.clone()) }))
                }
                Some(_) => {}
            }
        }
        for b in before.iter().filter(|b| !now.iter().any(|s| s.id == b.id)) {
            let _ = self.events.send(Event::ServiceRemoved { id: b.id.clone() });
        }
    }

    /// At start, after the attach service's replay: undoes adds and finishes removals a kill -9
    /// cut short, and puts every active service back in the kernel and weaveDNS.
    pub async fn start(self: &Arc<Self>) -> Result<(), Error<P>> {
        let records = store::load(&self.store)?;
        let mut entries = self.entries.lock().await;
        for r in records {
            let at = self.resolve(&r.spec).await.map_err(|e| e.to_string());
            let (id, phase) = (r.id.clone(), r.phase);
            entries.insert(id.clone(), Entry { record: r, at });
            if phase != Phase::Active {
                tracing::info!(service = %id, ?phase, "finishing an interrupted service change: removing it");
                if let Err(e) = self.undo(&mut entries, &id).await {
                    tracing::warn!(service = %id, "could not finish removing the service: {e}");
                }
            }
        }
        self.reserve(&entries);
        let ids: Vec<String> = entries.keys().cloned().collect();
        for id in &ids {
            let e = &entries[id];
            if e.record.phase != Phase::Active {
                continue;
            }
            if let Err(err) = self.restore(&entries, id).await {
                tracing::warn!(service = %id, "restoring the service: {err}");
            }
            self.name(&entries[id].record).await;
        }
        if let Err(e) = self.apply_host(&entries).await {
            tracing::warn!("restoring the services' NAT rules: {e}");
        }
        self.publish(&entries).await;
        drop(entries);
        let me = self.clone();
        tokio::spawn(async move { me.follow().await });
        Ok(())
    }

    /// The address of a service back where it lives (the tables are rebuilt by the caller for
    /// the host, here for a bound target).
    async fn restore(&self, entries: &BTreeMap<String, Entry<Ns<P>>>, id: &str) -> Result<(), Error<P>> {
        let e = &entries[id];
        match (&e.record.spec, e.record.weave) {
            (Spec::Bind { .. }, _) => self.plumb(entries, id).await,
            (_, Some(w)) => {
                let br = self.bridge.clone();
                blocking(move || kernel::bridge_add(&br, w)).await
            }
            _ => Ok(()),
        }
    }

    /// Follows targets coming and going, and checks every [`RECHECK`].
    async fn follow(self: Arc<Self>) {
        let mut rx = self.attach.subscribe();
        let mut tick = tokio::time::interval(RECHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let check_tables = tokio::select! {
                e = rx.recv() => match e {
                    Ok(_) => false,
                    Err(broadcast::error::RecvError::Lagged(_)) => false,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => true,
            };
            self.reconcile(check_tables).await;
        }
    }

    /// Resolves local targets again; services whose target went away become broken, those
    /// whose target is back become active again, and the rules follow. With `check_tables`,
    /// also puts back tables and bound addresses something else removed.
    pub async fn reconcile(&self, check_tables: bool) {
        // Probed without the lock: each probe may take seconds, and adds and removals go on.
        let probed = if check_tables { self.probe_addresses().await } else { BTreeMap::new() };
        let mut entries = self.entries.lock().await;
        let ids: Vec<String> = entries
            .iter()
            .filter(|(id, e)| {
                e.record.phase == Phase::Active
                    && (e.record.spec.local_target().is_some() || probed.contains_key(*id))
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut host_changed = false;
        for id in ids {
            let spec = entries[&id].record.spec.clone();
            let at = match probed.get(&id) {
                Some(Err(why)) => Err(why.clone()),
                _ => self.resolve(&spec).await.map_err(|e| e.to_string()),
            };
            let e = entries.get_mut(&id).expect("listed");
            let changed = e.at != at;
            if changed {
                match &at {
                    Ok(r) => tracing::info!(service = %id, target = %r.addr, "service's target is back"),
                    Err(why) => tracing::info!(service = %id, "service broken: {why}"),
                }
                e.at = at;
                host_changed |= spec.on_bridge();
            }
            let bind_missing = match (&spec, &entries[&id].at, entries[&id].record.weave) {
                (Spec::Bind { .. }, Ok(Resolved { id: Some(tid), ns: Some(ns), .. }), Some(w))
                    if changed || check_tables =>
                {
                    let (ns, tid) = (ns.clone(), tid.clone());
                    !tokio::task::spawn_blocking(move || kernel::bind_present(&ns, &tid, w))
                        .await
                        .unwrap_or(false)
                }
                _ => false,
            };
            if bind_missing {
                if let Err(err) = self.plumb(&entries, &id).await {
                    tracing::warn!(service = %id, "putting the bound address back: {err}");
                }
            }
        }
        let rules = host_rules(&entries);
        let missing = check_tables
            && !rules.is_empty()
            && !tokio::task::spawn_blocking(kernel::host_table_present).await.unwrap_or(true);
        if host_changed || missing {
            if missing {
                tracing::info!("the services' NAT table is gone; putting it back");
            }
            if let Err(e) = self.apply_host(&entries).await {
                tracing::warn!("rebuilding the services' NAT rules: {e}");
            }
        }
        self.publish(&entries).await;
    }

    /// `weave reset`: the tables in bound targets and on the host go (the bridge, and the
    /// database holding the records, go with the rest of the reset).
    pub async fn reset(&self) {
        let entries = self.entries.lock().await;
        for e in entries.values() {
            if let (Spec::Bind { .. }, Ok(Resolved { id: Some(tid), ns: Some(ns), .. }), Some(w)) =
                (&e.record.spec, &e.at, e.record.weave)
            {
                let (ns, tid) = (ns.clone(), tid.clone());
                let r: Result<(), Error<P>> =
                    blocking(move || kernel::apply_bind(&ns, &tid, None, Some(w), &[])).await;
                if let Err(err) = r {
                    tracing::warn!(service = %e.record.id, "removing the bound address: {err}");
                }
            }
        }
        let removed: Result<(), Error<P>> = blocking(kernel::remove_host).await;
        if let Err(e) = removed {
            tracing::warn!("removing the services' NAT table: {e}");
        }
    }
}

/// The host's rules of every export and import in force.
fn host_rules<N>(entries: &BTreeMap<String, Entry<N>>) -> Vec<HostRule> {
    entries
        .values()
        .filter(|e| e.in_force())
        .filter_map(|e| {
            let (Ok(at), Some(w)) = (&e.at, e.record.weave) else { return None };
            Some(match e.record.spec {
                Spec::Export { proto, publish_addr, publish_port, port, .. } => HostRule::Export {
                    proto,
                    publish_addr,
                    publish_port,
                    target: at.addr,
                    port,
                    snat: w.addr(),
                },
                Spec::Import { proto, weave_port, port, addr, .. } => {
                    HostRule::Import { proto, weave: w.addr(), weave_port, addr, port }
                }
                Spec::Bind { .. } => return None,
            })
        })
        .collect()
}

/// The rules of every bind in force on the target `tid`.
fn bind_rules<N>(entries: &BTreeMap<String, Entry<N>>, tid: &str) -> Vec<BindRule> {
    entries
        .values()
        .filter(|e| e.in_force())
        .filter(|e| matches!(&e.at, Ok(Resolved { id: Some(t), .. }) if t == tid))
        .filter_map(|e| match (&e.record.spec, e.record.weave) {
            (Spec::Bind { proto, port, weave_port, .. }, Some(w)) => {
                Some(BindRule { proto: *proto, weave: w.addr(), weave_port: *weave_port, port: *port })
            }
            _ => None,
        })
        .collect()
}

/// A service as the API shows it.
fn view<N>(e: &Entry<N>) -> Service {
    let r = &e.record;
    let (target, port) = match &r.spec {
        Spec::Export { target: TargetRef::Local(t), port, .. } | Spec::Bind { target: t, port, .. } => {
            (t.clone(), *port)
        }
        Spec::Export { target: TargetRef::Address(a), port, .. } => (a.to_string(), *port),
        Spec::Import { addr, port, .. } => (addr.to_string(), *port),
    };
    let (publish_address, publish_port) = match &r.spec {
        Spec::Export { publish_addr, publish_port, .. } => {
            (publish_addr.map(|a| a.to_string()), Some(*publish_port))
        }
        _ => (None, None),
    };
    let (state, reason) = match (&e.at, r.phase) {
        (Ok(_), Phase::Active) => (ServiceState::Active, None),
        (Ok(_), _) => (ServiceState::Broken, Some("being changed".to_string())),
        (Err(why), _) => (ServiceState::Broken, Some(why.clone())),
    };
    Service {
        id: r.id.clone(),
        kind: r.spec.kind(),
        protocol: r.spec.proto(),
        target,
        port,
        target_id: e.at.as_ref().ok().and_then(|a| a.id.clone()),
        target_address: e.at.as_ref().ok().map(|a| a.addr.to_string()),
        publish_address,
        publish_port,
        weave_address: r.weave.map(|w| w.to_string()),
        weave_port: r.spec.weave_port(),
        fqdn: r.spec.fqdn().map(String::from),
        state,
        reason,
        created: r.created.clone(),
    }
}
