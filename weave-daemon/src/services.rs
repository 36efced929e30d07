//! Services' wiring: the runtime is the crate `weave-services` (re-exported here under its
//! module names); the daemon gives it the attach service, IPAM and weaveDNS through its ports.

pub use weave_services::{error, kernel, ports, rules, spec, store, RECHECK};

use crate::attach::target::{NsRef, Target};
use crate::attach::{AttachError, AttachService, TargetEvent, CONTAINER_IF};
use crate::dns::Dns;
use crate::ipam::{to_cidr, to_net, Ipam, IpamFailure};
use ipnet::Ipv4Net;
use ports::{Addresses, LocateError, Names, Namespace, Ports, Targets};
use std::net::Ipv4Addr;
use std::sync::Arc;
use tokio::sync::broadcast;
use weave_netdev::{NetdevError, Netns};

/// The daemon's services.
pub type Services = weave_services::Services<Live>;
/// Why a service request failed, with the attach service's and IPAM's own errors.
pub type ServiceError = weave_services::ServiceError<AttachError, IpamFailure>;

/// The daemon's ports: the attach service, IPAM and weaveDNS.
pub struct Live;

impl Ports for Live {
    type Targets = AttachService;
    type Addresses = ServiceIpam;
    type Names = ServiceDns;

    fn rfc3339(t: std::time::SystemTime) -> String {
        crate::timefmt::rfc3339(t)
    }
}

/// The services of a daemon, over its subsystems (IPAM and weaveDNS absent when off).
pub fn new(
    attach: Arc<AttachService>,
    ipam: Option<Arc<Ipam>>,
    dns: Option<Arc<Dns>>,
    store: crate::store::Store,
    bridge: &str,
) -> Arc<Services> {
    let ipam = ipam.map(|i| Arc::new(ServiceIpam(i)));
    let dns = dns.map(|d| Arc::new(ServiceDns(d)));
    Services::new(attach, ipam, dns, store, bridge)
}

impl Namespace for NsRef {
    const IFNAME: &'static str = CONTAINER_IF;

    fn open(&self) -> Result<Netns, NetdevError> {
        match self {
            NsRef::Named(n) => Netns::named(n),
            NsRef::Path(p) => Netns::path(p),
            NsRef::Pid(p) => Netns::pid(*p),
        }
    }

    fn exists(&self) -> bool {
        NsRef::exists(self)
    }
}

impl Targets for AttachService {
    type Ns = NsRef;
    type Error = AttachError;
    type Event = TargetEvent;

    fn check(&self, target: &str) -> Result<(), AttachError> {
        Target::parse(target).map(drop)
    }

    async fn locate(&self, target: &str) -> Result<(String, NsRef), LocateError<AttachError>> {
        match AttachService::locate(self, target).await {
            Ok(l) => Ok((l.id, l.ns)),
            Err(AttachError::UnknownTarget { why, .. }) => Err(LocateError::Unknown(why)),
            Err(e) => Err(LocateError::Failed(e)),
        }
    }

    async fn list(&self) -> Result<Vec<(String, Vec<Ipv4Net>)>, AttachError> {
        Ok(AttachService::list(self).await?.into_iter().map(|a| (a.id, a.addrs)).collect())
    }

    fn reserved_addrs(&self) -> Vec<Ipv4Net> {
        AttachService::reserved_addrs(self)
    }

    fn reserve_bridge(&self, addrs: Vec<Ipv4Net>) {
        AttachService::reserve_bridge(self, addrs)
    }

    fn subscribe(&self) -> broadcast::Receiver<TargetEvent> {
        AttachService::subscribe(self)
    }
}

/// IPAM, as services take addresses from it.
pub struct ServiceIpam(pub Arc<Ipam>);

impl Addresses for ServiceIpam {
    type Error = IpamFailure;

    fn universe(&self) -> Ipv4Net {
        to_net(self.0.universe())
    }

    fn default_subnet(&self) -> Ipv4Net {
        to_net(self.0.default_subnet())
    }

    async fn claim(&self, owner: &str, addr: Ipv4Net) -> Result<(), IpamFailure> {
        self.0.claim(owner, to_cidr(addr), false, false).await
    }

    async fn allocate(&self, owner: &str, subnet: Ipv4Net) -> Result<Ipv4Net, IpamFailure> {
        Ok(to_net(self.0.allocate_or_explain(owner, to_cidr(subnet), false).await?))
    }

    async fn release_all(&self, owner: &str) -> Result<(), IpamFailure> {
        match self.0.delete(owner).await {
            Ok(_) | Err(IpamFailure::Op(weave_ipam::OpError::NoAddresses(_))) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// weaveDNS, as services name their addresses in it.
pub struct ServiceDns(pub Arc<Dns>);

impl Names for ServiceDns {
    fn name_in_domain(&self, name: &str) -> Result<String, String> {
        self.0.name_in_domain(name)
    }

    async fn add(&self, fqdn: &str, owner: &str, addr: Ipv4Addr) -> bool {
        self.0.add(fqdn, owner, addr).await.is_some()
    }

    async fn delete(&self, owner: &str, addr: Ipv4Addr) {
        self.0.delete(None, Some(owner), Some(addr)).await;
    }
}
