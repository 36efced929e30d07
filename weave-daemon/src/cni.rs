//! CNI's backend: the `weave-cni` crate's operations run over the daemon's attach service,
//! IPAM, weaveDNS and policy's label rules. Failures stay [`AttachError`]s (IPAM's wrapped),
//! so the API answers them as it answers `weave attach`.

use crate::attach::target::{veth_names, NsRef, Target};
use crate::attach::{AttachError, AttachService, AttachSpec, LinkOptions, TargetMeta};
use crate::dns::Dns;
use crate::ipam::{to_cidr, to_net, Ipam};
use crate::store::Store;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use weave_cni::backend::{Interface, Observed, Plumb};

pub use weave_cni::{check, plan, records};

/// CNI attachments, over the daemon.
pub type CniService = weave_cni::CniService<CniDaemon>;
/// Why a CNI request failed.
pub type CniFailure = weave_cni::CniFailure<AttachError>;

/// The CNI service of a daemon.
pub fn service(
    attach: Arc<AttachService>,
    store: Store,
    ipam: Option<Arc<Ipam>>,
    dns: Option<Arc<Dns>>,
    dns_listen: SocketAddr,
    bridge: &str,
    mtu: u32,
) -> Arc<CniService> {
    let daemon = CniDaemon { attach, ipam: ipam.map(CniIpam), dns };
    weave_cni::CniService::new(daemon, store, dns_listen, bridge, mtu)
}

/// What CNI reaches of the daemon.
pub struct CniDaemon {
    attach: Arc<AttachService>,
    ipam: Option<CniIpam>,
    dns: Option<Arc<Dns>>,
}

/// IPAM as CNI uses it.
pub struct CniIpam(Arc<Ipam>);

impl weave_cni::Backend for CniDaemon {
    type Error = AttachError;
    type Ipam = CniIpam;

    fn ipam(&self) -> Option<&CniIpam> {
        self.ipam.as_ref()
    }

    fn dns_domain(&self) -> Option<String> {
        self.dns.as_ref().map(|d| d.responder().domain().to_string())
    }

    fn is_container_id(&self, id: &str) -> bool {
        matches!(Target::parse(id), Ok(Target::Container(_)))
    }

    fn host_veth(&self, id: &str) -> String {
        veth_names(id).0
    }

    fn check_labels(&self, labels: &BTreeMap<String, String>) -> Result<(), String> {
        crate::policy::handle::check_labels(labels)
    }

    async fn attach(&self, p: Plumb) -> Result<Interface, AttachError> {
        let spec = AttachSpec {
            target: p.container_id,
            addrs: p.addrs,
            dns: p.name.is_some(),
            multicast_route: false,
            ifname: p.ifname,
            hostname: p.name,
            meta: TargetMeta { namespace: p.namespace, labels: p.labels, ..TargetMeta::default() },
            at: Some(NsRef::Path(p.netns)),
            fresh: true,
            link: LinkOptions { mtu: p.mtu, hairpin: p.hairpin, routes: p.routes },
        };
        let a = self.attach.attach(spec).await?;
        Ok(Interface { mac: a.mac, addrs: a.addrs })
    }

    async fn detach(
        &self,
        id: &str,
        netns: Option<PathBuf>,
        ifname: &str,
    ) -> Result<Vec<Ipv4Net>, AttachError> {
        let at = netns.map(NsRef::Path);
        Ok(self.attach.detach_at(id.to_string(), at, ifname.to_string()).await?.removed)
    }

    async fn observe(&self, netns: PathBuf, id: &str, ifname: &str) -> Result<Option<Observed>, AttachError> {
        let o = self.attach.observe(NsRef::Path(netns), id, ifname).await?;
        Ok(o.map(|o| Observed { mac: o.mac, addrs: o.addrs, routes: o.routes, ours: o.ours }))
    }

    async fn bridge(&self) -> Result<Interface, AttachError> {
        let b = self.attach.bridge().await?;
        Ok(Interface { mac: b.mac, addrs: b.addrs })
    }

    async fn expose(&self, subnet: Ipv4Net) -> Result<Vec<Ipv4Net>, AttachError> {
        Ok(self.attach.expose(vec![format!("net:{subnet}")], None, true).await?.addrs)
    }
}

impl weave_cni::Addresses for CniIpam {
    type Error = AttachError;

    fn universe(&self) -> Ipv4Net {
        to_net(self.0.universe())
    }

    fn default_subnet(&self) -> Ipv4Net {
        to_net(self.0.default_subnet())
    }

    fn parse_subnet(&self, s: &str) -> Result<Ipv4Net, String> {
        crate::ipam::parse_subnet(s).map(to_net)
    }

    async fn allocate(&self, id: &str, subnet: Ipv4Net) -> Result<Ipv4Net, AttachError> {
        Ok(to_net(self.0.allocate_or_explain(id, to_cidr(subnet), true).await?))
    }

    fn owned_by(&self, id: &str) -> Vec<Ipv4Net> {
        self.0.owned_by(id).into_iter().map(to_net).collect()
    }

    fn state(&self) -> String {
        weave_api::text::ipam_state(&self.0.status())
    }
}
