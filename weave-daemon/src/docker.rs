//! The Docker integration's wiring: the `weave-docker` crate runs over the daemon's IPAM,
//! weaveDNS and attach service through the ports implemented here, with the flags read here;
//! Docker's containers become attach targets through [`DockerContainers`].

use crate::attach::target::{self, BoxFuture, ContainerResolver};
use crate::attach::{AttachError, AttachService, AttachSpec, TargetEvent, TargetMeta};
use crate::config::Config;
use crate::dns::Dns;
use crate::ipam::{to_cidr, to_net, Ipam, IpamFailure};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use weave_docker::ports::{self, Interface, PortError};
use weave_docker::proxy::ProxyConfig;
use weave_ipam::{Address, OpError};
use weave_proxy::ListenAddr;

pub use weave_docker::{is_container_id, plugin_status, status, DockerConfig, Shared, BRIDGES};

/// The integration's flags.
pub fn config(c: &Config) -> DockerConfig {
    DockerConfig {
        addr: c.docker_api.clone(),
        plugin: !c.no_plugin,
        plugin_socket: c.plugin_socket.clone(),
        mesh_socket: c.plugin_mesh_socket.clone(),
        dns: !c.no_dns,
        proxy: proxy_config(c),
    }
}

/// The proxy's flags; `None` with `--no-proxy`.
fn proxy_config(c: &Config) -> Option<ProxyConfig> {
    if c.no_proxy {
        return None;
    }
    Some(ProxyConfig {
        listen: c.proxy_addrs.iter().filter_map(|a| ListenAddr::parse(a).ok()).collect(),
        rewrite_inspect: c.rewrite_inspect,
        without_dns: c.without_dns,
        no_default_ipalloc: c.no_default_ipalloc,
        hostname_from_label: c.hostname_from_label.clone(),
        hostname_match: c.hostname_match.clone(),
        hostname_replacement: c.hostname_replacement.clone(),
        multicast_route: !c.no_multicast_route,
        data_dir: c.data_dir.clone(),
    })
}

/// Starts the integration over the daemon's subsystems (see [`weave_docker::start`]).
pub fn start(
    config: DockerConfig,
    ipam: Option<Arc<Ipam>>,
    dns: Option<Arc<Dns>>,
    attach: Arc<AttachService>,
    stop: CancellationToken,
) -> anyhow::Result<Arc<Shared>> {
    let ipam = ipam.map(|i| Arc::new(DockerIpam(i)) as Arc<dyn ports::Addresses>);
    let dns = dns.map(|d| Arc::new(DockerDns(d)) as Arc<dyn ports::Names>);
    weave_docker::start(config, ipam, dns, Arc::new(DockerTargets(attach)), stop)
}

/// IPAM as the integration uses it.
struct DockerIpam(Arc<Ipam>);

fn boxed(e: IpamFailure) -> PortError {
    Box::new(e)
}

impl ports::Addresses for DockerIpam {
    fn default_subnet(&self) -> Ipv4Net {
        to_net(self.0.default_subnet())
    }

    fn allocate_or_explain<'a>(
        &'a self,
        ident: &'a str,
        subnet: Ipv4Net,
        is_container: bool,
    ) -> ports::BoxFuture<'a, Result<Ipv4Net, PortError>> {
        Box::pin(async move {
            self.0.allocate_or_explain(ident, to_cidr(subnet), is_container).await.map(to_net).map_err(boxed)
        })
    }

    fn claim<'a>(
        &'a self,
        ident: &'a str,
        addr: Ipv4Net,
        is_container: bool,
        no_error_on_unknown: bool,
    ) -> ports::BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            self.0.claim(ident, to_cidr(addr), is_container, no_error_on_unknown).await.map_err(boxed)
        })
    }

    fn free<'a>(&'a self, ident: &'a str, addr: Ipv4Addr) -> ports::BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move { self.0.free(ident, Address(u32::from(addr))).await.map_err(boxed) })
    }

    fn release_all<'a>(&'a self, ident: &'a str) -> ports::BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            match self.0.delete(ident).await {
                Ok(_) | Err(IpamFailure::Op(OpError::NoAddresses(_))) => Ok(()),
                Err(e) => Err(boxed(e)),
            }
        })
    }

    fn transfer<'a>(&'a self, addr: Ipv4Addr, to: &'a str) -> ports::BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move { self.0.transfer(Address(u32::from(addr)), to).await.map(drop).map_err(boxed) })
    }

    fn owner_of(&self, addr: Ipv4Addr) -> Option<String> {
        self.0.owner_of(Address(u32::from(addr)))
    }

    fn owners(&self) -> Vec<String> {
        self.0.owned().into_iter().map(|(ident, _)| ident).collect()
    }

    fn container_started<'a>(&'a self, ident: &'a str) -> ports::BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move { self.0.container_started(ident).await.map_err(boxed) })
    }

    fn container_died<'a>(&'a self, ident: &'a str) -> ports::BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move { self.0.container_died(ident).await.map_err(boxed) })
    }

    fn container_destroyed<'a>(&'a self, ident: &'a str) -> ports::BoxFuture<'a, Result<(), PortError>> {
        Box::pin(async move { self.0.container_destroyed(ident).await.map_err(boxed) })
    }
}

/// weaveDNS as the integration uses it.
struct DockerDns(Arc<Dns>);

impl ports::Names for DockerDns {
    fn domain(&self) -> String {
        self.0.responder().domain().to_string()
    }

    fn name_in_domain(&self, name: &str) -> Result<String, String> {
        self.0.name_in_domain(name)
    }

    fn listen(&self) -> SocketAddr {
        self.0.config.listen
    }

    fn add<'a>(&'a self, fqdn: &'a str, id: &'a str, addr: Ipv4Addr) -> ports::BoxFuture<'a, ()> {
        Box::pin(async move {
            self.0.add(fqdn, id, addr).await;
        })
    }

    fn delete<'a>(&'a self, id: &'a str, addr: Ipv4Addr) -> ports::BoxFuture<'a, ()> {
        Box::pin(async move {
            self.0.delete(None, Some(id), Some(addr)).await;
        })
    }

    fn forget_target<'a>(&'a self, id: &'a str) -> ports::BoxFuture<'a, ()> {
        Box::pin(self.0.forget_target(id))
    }

    fn our_container_ids(&self) -> HashSet<String> {
        self.0.our_container_ids()
    }
}

/// The attach service as the integration uses it.
struct DockerTargets(Arc<AttachService>);

impl ports::Targets for DockerTargets {
    fn create_endpoint(&self, endpoint: String) -> ports::BoxFuture<'_, Result<[u8; 6], PortError>> {
        Box::pin(async move { Ok(self.0.create_endpoint(endpoint).await?) })
    }

    fn delete_endpoint(&self, endpoint: String) -> ports::BoxFuture<'_, Result<bool, PortError>> {
        Box::pin(async move { Ok(self.0.delete_endpoint(endpoint).await?) })
    }

    fn unjoined_endpoints(&self) -> ports::BoxFuture<'_, Result<Vec<String>, PortError>> {
        Box::pin(async move { Ok(self.0.unjoined_endpoints().await?) })
    }

    fn remove_unjoined<'a>(&'a self, hosts: &'a [String]) -> ports::BoxFuture<'a, Vec<String>> {
        Box::pin(self.0.remove_unjoined(hosts))
    }

    fn attach<'a>(
        &'a self,
        id: &'a str,
        cidrs: Vec<String>,
        multicast_route: bool,
    ) -> ports::BoxFuture<'a, Result<Vec<Ipv4Net>, PortError>> {
        Box::pin(async move {
            let mut spec = AttachSpec::new(id, cidrs);
            spec.multicast_route = multicast_route;
            Ok(self.0.attach(spec).await?.addrs)
        })
    }

    fn interface<'a>(&'a self, id: &'a str) -> ports::BoxFuture<'a, Option<Interface>> {
        Box::pin(async move {
            let all = self.0.list().await.ok()?;
            let a = all.into_iter().find(|a| a.id == id)?;
            Some(Interface { mac: a.mac, addrs: a.addrs })
        })
    }

    fn announce_attached(&self, id: &str, addrs: Vec<Ipv4Net>, labels: &BTreeMap<String, String>) {
        self.0.announce(TargetEvent::Attached {
            id: id.to_string(),
            addrs,
            meta: TargetMeta::default().with_container_labels(labels),
        });
    }

    fn announce_detached(&self, id: &str, removed: Vec<Ipv4Net>) {
        self.0.announce(TargetEvent::Detached { id: id.to_string(), removed });
    }

    fn serve_containers(&self, docker: Arc<Shared>) {
        self.0.set_container_resolver(Arc::new(DockerContainers(docker)));
    }
}

/// Docker containers as attach targets.
pub struct DockerContainers(pub Arc<Shared>);

impl ContainerResolver for DockerContainers {
    fn resolve<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<target::Container, AttachError>> {
        Box::pin(async move {
            use weave_docker::Lookup;
            match self.0.resolve(name).await {
                Ok(c) => {
                    Ok(target::Container { id: c.id, pid: c.pid, hostname: c.hostname, labels: c.labels })
                }
                Err(Lookup::Unavailable(why)) => Err(AttachError::ContainersUnavailable(why)),
                Err(Lookup::Unknown { target, why }) => Err(AttachError::UnknownTarget { target, why }),
                Err(Lookup::NotRunning { id, name }) => Err(AttachError::ContainerNotRunning { id, name }),
            }
        })
    }
}
