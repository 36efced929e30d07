//! What the Docker integration needs of the rest of the daemon, as traits weave-daemon
//! implements: weave's IPAM ([`Addresses`]), weaveDNS ([`Names`]) and the attach service
//! ([`Targets`]). Their failures only ever reach Docker or the log as messages, so they come
//! boxed ([`PortError`]), whole.

use crate::Shared;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, for the dyn-compatible traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A failure of the daemon's side.
pub type PortError = Box<dyn std::error::Error + Send + Sync>;

/// weave's IPAM. Owners are idents: a container's full id, or IPAM's anonymous owner.
pub trait Addresses: Send + Sync {
    /// The subnet `net:default` allocates in.
    fn default_subnet(&self) -> Ipv4Net;
    /// An address for `ident` in `subnet`, failing rather than waiting when no reachable peer
    /// has a free one.
    fn allocate_or_explain<'a>(
        &'a self,
        ident: &'a str,
        subnet: Ipv4Net,
        is_container: bool,
    ) -> BoxFuture<'a, Result<Ipv4Net, PortError>>;
    /// Records `addr` (with its prefix) for `ident`.
    fn claim<'a>(
        &'a self,
        ident: &'a str,
        addr: Ipv4Net,
        is_container: bool,
        no_error_on_unknown: bool,
    ) -> BoxFuture<'a, Result<(), PortError>>;
    /// Releases one address of `ident`.
    fn free<'a>(&'a self, ident: &'a str, addr: Ipv4Addr) -> BoxFuture<'a, Result<(), PortError>>;
    /// Releases every address of `ident`; one with none left is no error.
    fn release_all<'a>(&'a self, ident: &'a str) -> BoxFuture<'a, Result<(), PortError>>;
    /// Hands `addr` to the container `to`.
    fn transfer<'a>(&'a self, addr: Ipv4Addr, to: &'a str) -> BoxFuture<'a, Result<(), PortError>>;
    /// The ident owning `addr` on this peer.
    fn owner_of(&self, addr: Ipv4Addr) -> Option<String>;
    /// Every ident owning addresses on this peer.
    fn owners(&self) -> Vec<String>;
    /// A container (re)started: it keeps its addresses.
    fn container_started<'a>(&'a self, ident: &'a str) -> BoxFuture<'a, Result<(), PortError>>;
    /// A container stopped: its addresses go after Weave's grace period unless it starts again.
    fn container_died<'a>(&'a self, ident: &'a str) -> BoxFuture<'a, Result<(), PortError>>;
    /// A container was removed: its addresses go now.
    fn container_destroyed<'a>(&'a self, ident: &'a str) -> BoxFuture<'a, Result<(), PortError>>;
}

/// weaveDNS.
pub trait Names: Send + Sync {
    /// The domain, with its trailing dot.
    fn domain(&self) -> String;
    /// `name` qualified and checked against the domain, or why it cannot be used.
    fn name_in_domain(&self, name: &str) -> Result<String, String>;
    /// Where weaveDNS listens.
    fn listen(&self) -> SocketAddr;
    /// Registers `fqdn` for `addr` of container `id` (a name outside the domain is not).
    fn add<'a>(&'a self, fqdn: &'a str, id: &'a str, addr: Ipv4Addr) -> BoxFuture<'a, ()>;
    /// Removes the names of `addr` of container `id`.
    fn delete<'a>(&'a self, id: &'a str, addr: Ipv4Addr) -> BoxFuture<'a, ()>;
    /// Removes every name of `id` (its target is gone).
    fn forget_target<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
    /// The ids that have names from this peer.
    fn our_container_ids(&self) -> HashSet<String>;
}

/// A target's interface on the weave network.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub mac: [u8; 6],
    pub addrs: Vec<Ipv4Net>,
}

/// The attach service: the plugin's endpoints, the proxy's containers, and the followers of
/// targets (policy, services).
pub trait Targets: Send + Sync {
    /// Makes an endpoint's veth pair (reusing a whole one); returns the MAC of the container end.
    fn create_endpoint(&self, endpoint: String) -> BoxFuture<'_, Result<[u8; 6], PortError>>;
    /// Removes an endpoint's veth pair; `false` when there was none.
    fn delete_endpoint(&self, endpoint: String) -> BoxFuture<'_, Result<bool, PortError>>;
    /// Host ends of endpoints whose container end never left the host.
    fn unjoined_endpoints(&self) -> BoxFuture<'_, Result<Vec<String>, PortError>>;
    /// Removes those of `hosts` still unjoined; returns them.
    fn remove_unjoined<'a>(&'a self, hosts: &'a [String]) -> BoxFuture<'a, Vec<String>>;
    /// `weave attach CIDR... ID` (idempotent); returns the container's addresses.
    fn attach<'a>(
        &'a self,
        id: &'a str,
        cidrs: Vec<String>,
        multicast_route: bool,
    ) -> BoxFuture<'a, Result<Vec<Ipv4Net>, PortError>>;
    /// The weave interface of attached target `id`.
    fn interface<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Interface>>;
    /// Tells the followers a container the plugin put on weave is there, with its labels.
    fn announce_attached(&self, id: &str, addrs: Vec<Ipv4Net>, labels: &BTreeMap<String, String>);
    /// Tells the followers a container is gone.
    fn announce_detached(&self, id: &str, removed: Vec<Ipv4Net>);
    /// Lets Docker's containers be targets, found through `docker` ([`Shared::resolve`]).
    fn serve_containers(&self, docker: Arc<Shared>);
}
