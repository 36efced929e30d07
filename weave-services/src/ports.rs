//! What services need from the rest of the daemon, as traits the daemon implements: the attach
//! service's targets ([`Targets`], with their namespaces, [`Namespace`]), IPAM's addresses
//! ([`Addresses`]) and weaveDNS's names ([`Names`]); [`Ports`] names the daemon's set.

use ipnet::Ipv4Net;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::SystemTime;
use tokio::sync::broadcast;
use weave_netdev::{NetdevError, Netns};

/// The daemon's implementations, as one type parameter.
pub trait Ports: Send + Sync + 'static {
    type Targets: Targets;
    type Addresses: Addresses;
    type Names: Names;
    /// `t` as the API shows times (RFC 3339).
    fn rfc3339(t: SystemTime) -> String;
}

/// How a target's network namespace is reached, now or after a restart.
pub trait Namespace: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The target's weave interface, inside its namespace.
    const IFNAME: &'static str;
    /// Opens the namespace (blocking).
    fn open(&self) -> Result<Netns, NetdevError>;
    /// Whether the namespace still exists (it may exist and still fail to open).
    fn exists(&self) -> bool;
}

/// Why a target was not found.
pub enum LocateError<E> {
    /// Nothing by that name is attached or reachable: why.
    Unknown(String),
    Failed(E),
}

/// The attach service: the targets services point at, and the addresses it must leave alone.
pub trait Targets: Send + Sync + 'static {
    type Ns: Namespace;
    type Error: std::error::Error + Send + Sync + 'static;
    /// A target coming or going (services only wake on it).
    type Event: Clone + Send + 'static;
    /// Checks how a target is named (`netns:NAME`, a container, ...), looking nothing up.
    fn check(&self, target: &str) -> Result<(), Self::Error>;
    /// Finds a target by the name the user gave: its id and namespace.
    fn locate(
        &self,
        target: &str,
    ) -> impl Future<Output = Result<(String, Self::Ns), LocateError<Self::Error>>> + Send;
    /// Every target attached on this host: its id and addresses.
    fn list(&self) -> impl Future<Output = Result<Vec<(String, Vec<Ipv4Net>)>, Self::Error>> + Send;
    /// The services' weave addresses, as last told ([`Targets::reserve_bridge`]).
    fn reserved_addrs(&self) -> Vec<Ipv4Net>;
    /// Tells the attach service which addresses are services' (`weave hide` leaves them).
    fn reserve_bridge(&self, addrs: Vec<Ipv4Net>);
    /// Targets attached and detached from now on.
    fn subscribe(&self) -> broadcast::Receiver<Self::Event>;
}

/// IPAM (absent when it is off).
pub trait Addresses: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;
    /// The range weave allocates from (`--ipalloc-range`).
    fn universe(&self) -> Ipv4Net;
    /// The subnet addresses come from when none is named.
    fn default_subnet(&self) -> Ipv4Net;
    /// Records `addr` as `owner`'s.
    fn claim(&self, owner: &str, addr: Ipv4Net) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// An address in `subnet` for `owner` (durable before it returns).
    fn allocate(
        &self,
        owner: &str,
        subnet: Ipv4Net,
    ) -> impl Future<Output = Result<Ipv4Net, Self::Error>> + Send;
    /// Releases every address of `owner`; an owner with none is fine.
    fn release_all(&self, owner: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// weaveDNS (absent with `--no-dns`).
pub trait Names: Send + Sync + 'static {
    /// `name` qualified in the DNS domain, or why it cannot be.
    fn name_in_domain(&self, name: &str) -> Result<String, String>;
    /// Registers `fqdn` for `addr` of `owner`; false when the name lies outside the domain.
    fn add(&self, fqdn: &str, owner: &str, addr: Ipv4Addr) -> impl Future<Output = bool> + Send;
    /// Removes the names of `addr` of `owner`.
    fn delete(&self, owner: &str, addr: Ipv4Addr) -> impl Future<Output = ()> + Send;
}
