//! The attach service: the one owner of attach, detach, expose and hide, for every kind of
//! target. The API, Weave's endpoints, the Docker plugin (and next CNI) call it; nothing
//! else changes targets.
//!
//! An attach parses the target once, finds and opens its namespace once, records its intent,
//! then allocates (IPAM) -> plumbs (kernel) -> names (weaveDNS), in that order; when a step
//! fails, the completed ones are undone in reverse, so no address is kept and no veth is left.
//! Expose is the same pipeline on the bridge. Detach and hide remove from the kernel, then
//! release, then unname. Every operation runs to its end in a task of its own (a client that
//! goes away cannot cut it), one at a time per target.
//!
//! Intents ([`journal`]) make this survive a kill -9: recorded durably before the first step
//! and cleared after the last, they are replayed by the next daemon before it serves
//! ([`AttachService::replay`]): an attach whose addresses all reached the interface is
//! finished, any other is undone; a detach or hide is finished.
//!
//! * [`target`]: target kinds, parsing and resolution (containers plug in there).
//! * [`addrs`]: the address arguments.
//! * [`kernel`]: veths, addresses, the bridge; [`nat`]: the NAT of exposed addresses.
//! * [`ports`]: what the service needs from IPAM and weaveDNS.
//! * [`service`] (attach, detach), [`host`] (expose, hide), [`endpoint`] (the Docker
//!   plugin's endpoints), [`replay`].

pub mod addrs;
mod endpoint;
pub mod error;
mod host;
pub mod journal;
pub mod kernel;
pub mod nat;
pub mod ports;
mod replay;
mod service;
pub mod target;
#[cfg(test)]
mod tests;

pub use endpoint::ENDPOINT_ID;
pub use error::AttachError;
pub use kernel::{format_mac, Attached, CONTAINER_IF};
pub use replay::Replayed;
// Policy owns what a target announces (its facts and events); attach sends them.
pub use weave_policy_service::targets::{TargetEvent, TargetMeta};

use ipnet::Ipv4Net;
use journal::Journal;
use kernel::Kernel;
use ports::{AddressBook, Names};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use target::ContainerResolver;
use tokio::sync::broadcast;

/// The parts the service drives. [`Live`] is the daemon's; unit tests bring their own.
pub trait Ports: Send + Sync + 'static {
    type Addresses: AddressBook;
    type Names: Names;
    type Kernel: Kernel;
    type Journal: Journal;
}

/// IPAM, weaveDNS, the kernel and the database of a running daemon.
pub struct Live;

impl Ports for Live {
    type Addresses = ports::IpamBook;
    type Names = ports::DnsNames;
    type Kernel = kernel::NetKernel;
    type Journal = journal::StoreJournal;
}

/// What an attach asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachSpec {
    /// As the user named it (see [`target::Target::parse`]).
    pub target: String,
    /// Address arguments; empty means `net:default`.
    pub addrs: Vec<String>,
    /// Register the target's name in weaveDNS.
    pub dns: bool,
    /// Add the route of 224.0.0.0/4 through the interface.
    pub multicast_route: bool,
    /// The interface inside the target: `ethwe` ([`CONTAINER_IF`]); CNI names its own.
    pub ifname: String,
    /// A name instead of the target's default one (CNI's pod name).
    pub hostname: Option<String>,
    /// What network policy selects targets by; carried to [`TargetEvent::Attached`].
    pub meta: TargetMeta,
    /// Where the target's namespace is, when the caller knows it (CNI names the path): then
    /// `target` is the target's id (the container id) and nothing is looked up.
    pub at: Option<target::NsRef>,
    /// Refuse an interface that exists already, rather than adding to it (CNI's ADD).
    pub fresh: bool,
    /// The interface's MTU, hairpin mode and routes.
    pub link: LinkOptions,
}

/// How the interface is made beyond its addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkOptions {
    /// The veth pair's MTU; the overlay's when `None`.
    pub mtu: Option<u32>,
    /// Hairpin mode on the bridge port (Weave: on).
    pub hairpin: bool,
    /// Routes inside the target, added after the addresses: destination and next hop.
    pub routes: Vec<(Ipv4Net, Option<std::net::Ipv4Addr>)>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions { mtu: None, hairpin: true, routes: vec![] }
    }
}

impl AttachSpec {
    /// `weave attach ADDR... TARGET` with Weave's defaults.
    pub fn new(target: &str, addrs: Vec<String>) -> AttachSpec {
        AttachSpec {
            target: target.to_string(),
            addrs,
            dns: true,
            multicast_route: true,
            ifname: CONTAINER_IF.to_string(),
            hostname: None,
            meta: TargetMeta::default(),
            at: None,
            fresh: false,
            link: LinkOptions::default(),
        }
    }
}

/// What a detach or hide removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Detached {
    pub id: String,
    pub removed: Vec<Ipv4Net>,
}

/// The service. Cheap to share (`Arc`); every operation runs in a task of its own.
pub struct AttachService<P: Ports = Live> {
    addresses: Arc<P::Addresses>,
    names: Arc<P::Names>,
    kernel: Arc<P::Kernel>,
    journal: Arc<P::Journal>,
    containers: OnceLock<Arc<dyn ContainerResolver>>,
    /// One operation at a time per target id.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    events: broadcast::Sender<TargetEvent>,
    /// The services' weave addresses: `weave hide` (all) leaves those on the bridge, and
    /// `weave ps` does not show them as the host's.
    reserved: Mutex<Vec<Ipv4Net>>,
}

impl<P: Ports> AttachService<P> {
    pub fn new(
        addresses: P::Addresses,
        names: P::Names,
        kernel: P::Kernel,
        journal: P::Journal,
    ) -> Arc<Self> {
        Arc::new(AttachService {
            addresses: Arc::new(addresses),
            names: Arc::new(names),
            kernel: Arc::new(kernel),
            journal: Arc::new(journal),
            containers: OnceLock::new(),
            locks: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
            reserved: Mutex::new(vec![]),
        })
    }

    /// Lets containers be targets (the Docker integration calls this once at start).
    pub fn set_container_resolver(&self, r: Arc<dyn ContainerResolver>) {
        let _ = self.containers.set(r);
    }

    fn containers(&self) -> Option<&dyn ContainerResolver> {
        self.containers.get().map(|r| r.as_ref())
    }

    /// Sets the services' weave addresses (see `reserved`).
    pub fn reserve_bridge(&self, addrs: Vec<Ipv4Net>) {
        *self.reserved.lock().unwrap_or_else(|p| p.into_inner()) = addrs;
    }

    pub fn reserved_addrs(&self) -> Vec<Ipv4Net> {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Finds a target by the name the user gave (its id, namespace and default name).
    pub async fn locate(&self, target: &str) -> Result<target::Located, AttachError> {
        target::Target::parse(target)?.locate(self.containers()).await
    }

    /// Targets attached and detached from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TargetEvent> {
        self.events.subscribe()
    }

    /// Waits until no other operation on `id` runs, and holds that until dropped.
    async fn lock(&self, id: &str) -> TargetLock<'_, P> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(id.to_string()).or_default().clone()
        };
        let guard = m.clone().lock_owned().await;
        TargetLock { service: self, id: id.to_string(), mutex: m, guard: Some(guard) }
    }

    /// Every attached target, the host's own (`weave:expose`, the bridge) first.
    pub async fn ps(&self) -> Result<Vec<Attached>, AttachError> {
        let located = self.locate_containers().await?;
        let k = self.kernel.clone();
        let reserved = self.reserved_addrs();
        blocking(move || {
            let mut out = match k.bridge() {
                Ok(mut b) => {
                    b.addrs.retain(|a| !reserved.contains(a));
                    vec![b]
                }
                Err(AttachError::NoBridge(_)) => vec![],
                Err(e) => return Err(e),
            };
            out.extend(k.list(&located)?);
            Ok(out)
        })
        .await
    }

    /// The bridge as `weave ps` shows it (`weave:expose`, with the host's addresses).
    pub async fn bridge(&self) -> Result<Attached, AttachError> {
        let k = self.kernel.clone();
        blocking(move || k.bridge()).await
    }

    /// The interface `ifname` in the namespace at `at` (of target `id`), as it is now.
    pub async fn observe(
        &self,
        at: target::NsRef,
        id: &str,
        ifname: &str,
    ) -> Result<Option<kernel::Observed>, AttachError> {
        let (k, id, ifname) = (self.kernel.clone(), id.to_string(), ifname.to_string());
        blocking(move || {
            let ns = at.open(&id)?;
            k.observe(&ns, &ifname)
        })
        .await
    }

    /// Every attached target (not the bridge).
    pub async fn list(&self) -> Result<Vec<Attached>, AttachError> {
        let located = self.locate_containers().await?;
        let k = self.kernel.clone();
        blocking(move || k.list(&located)).await
    }

    /// The namespaces of attached containers (ids that do not say where they are), from the
    /// container resolver; those it does not know are left out.
    async fn locate_containers(&self) -> Result<BTreeMap<String, target::NsRef>, AttachError> {
        let Some(resolver) = self.containers() else { return Ok(BTreeMap::new()) };
        let k = self.kernel.clone();
        let ids = blocking(move || k.port_ids()).await?;
        let mut out = BTreeMap::new();
        for id in ids.into_iter().filter(|id| kernel::ns_of_id(id).is_none()) {
            if let Ok(c) = resolver.resolve(&id).await {
                out.insert(id, target::NsRef::Pid(c.pid));
            }
        }
        Ok(out)
    }

    /// Tells the followers (policy, services) a target came or went. Also for targets others
    /// plumbed: containers Docker put on the weave network through the plugin.
    pub fn announce(&self, e: TargetEvent) {
        let _ = self.events.send(e);
    }
}

/// Holds a target's operation lock; forgets the lock when nobody else wants it.
struct TargetLock<'a, P: Ports> {
    service: &'a AttachService<P>,
    id: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<P: Ports> Drop for TargetLock<'_, P> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.service.locks.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and ours: nobody waits.
        if Arc::strong_count(&self.mutex) == 2 {
            locks.remove(&self.id);
        }
    }
}

/// Runs blocking work (namespaces, netlink, the database) off the runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AttachError> + Send + 'static,
) -> Result<T, AttachError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AttachError::Internal(format!("blocking task failed: {e}")))?
}

/// `a` without what is in `b`, in `a`'s order.
fn minus(a: &[Ipv4Net], b: &[Ipv4Net]) -> Vec<Ipv4Net> {
    a.iter().filter(|x| !b.contains(x)).copied().collect()
}

/// `a` and what of `b` it lacks.
fn union(mut a: Vec<Ipv4Net>, b: &[Ipv4Net]) -> Vec<Ipv4Net> {
    for x in b {
        if !a.contains(x) {
            a.push(*x);
        }
    }
    a
}
