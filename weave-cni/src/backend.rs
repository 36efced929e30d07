//! What CNI needs of the rest of the daemon, as traits the daemon implements: the attach
//! service (interfaces in the runtime's namespace, the bridge), IPAM (addresses for
//! `weave-ipam`) and the rules of weaveDNS and policy. Failures of the daemon's side stay the
//! daemon's type ([`Backend::Error`]), so the API answers them as it answers them elsewhere.

use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// An interface to make in the runtime's namespace (CNI ADD of `weave-net`): a new one (one
/// that exists is refused), without the multicast route.
#[derive(Debug, Clone, PartialEq)]
pub struct Plumb {
    /// The container id: the target's id in IPAM, weaveDNS and `weave ps`.
    pub container_id: String,
    /// The runtime's namespace path.
    pub netns: PathBuf,
    pub ifname: String,
    /// Address arguments, as `weave attach` takes them (`ip:CIDR`, `net:CIDR`).
    pub addrs: Vec<String>,
    /// The name registered in weaveDNS, when there is one.
    pub name: Option<String>,
    /// What network policy selects the target by.
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The veth pair's MTU; the overlay's when `None`.
    pub mtu: Option<u32>,
    pub hairpin: bool,
    /// Routes inside the namespace: destination and next hop.
    pub routes: Vec<(Ipv4Net, Option<Ipv4Addr>)>,
}

/// An interface on the weave network (a target's, or the bridge).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interface {
    pub mac: [u8; 6],
    pub addrs: Vec<Ipv4Net>,
}

/// A target with an interface on the weave network, as `weave ps` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attached {
    pub id: String,
    pub mac: [u8; 6],
    pub addrs: Vec<Ipv4Net>,
}

/// An interface as found in a namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub mac: [u8; 6],
    pub addrs: Vec<Ipv4Net>,
    /// Routes out of it: destination and next hop.
    pub routes: Vec<(Ipv4Net, Option<Ipv4Addr>)>,
    /// A veth to the weave bridge.
    pub ours: bool,
}

/// The daemon, as CNI uses it.
pub trait Backend: Send + Sync + 'static {
    /// Why the daemon's side failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// IPAM, when it runs.
    type Ipam: Addresses<Error = Self::Error>;

    /// IPAM; `None` with `--ipalloc-range ""`.
    fn ipam(&self) -> Option<&Self::Ipam>;
    /// weaveDNS's domain (with its trailing dot); `None` with `--no-dns`.
    fn dns_domain(&self) -> Option<String>;
    /// Whether `id` names a container to the attach service (CNI's targets are containers).
    fn is_container_id(&self, id: &str) -> bool;
    /// The host end of the veth pair the attach service gives target `id`.
    fn host_veth(&self, id: &str) -> String;
    /// Checks labels as policy selects on them; the error names the label.
    fn check_labels(&self, labels: &BTreeMap<String, String>) -> Result<(), String>;

    /// Makes the interface: allocate, plumb, name, all or nothing.
    fn attach(&self, p: Plumb) -> impl Future<Output = Result<Interface, Self::Error>> + Send;
    /// Removes interface `ifname` of `id` (when its namespace is still there) and releases
    /// every address of `id`; returns those released.
    fn detach(
        &self,
        id: &str,
        netns: Option<PathBuf>,
        ifname: &str,
    ) -> impl Future<Output = Result<Vec<Ipv4Net>, Self::Error>> + Send;
    /// Interface `ifname` of `id` in the namespace at `netns`, as it is now.
    fn observe(
        &self,
        netns: PathBuf,
        id: &str,
        ifname: &str,
    ) -> impl Future<Output = Result<Option<Observed>, Self::Error>> + Send;
    /// The weave bridge, with the host's addresses on it.
    fn bridge(&self) -> impl Future<Output = Result<Interface, Self::Error>> + Send;
    /// Gives the bridge an address in `subnet` (`weave expose net:SUBNET`); returns its
    /// addresses.
    fn expose(&self, subnet: Ipv4Net) -> impl Future<Output = Result<Vec<Ipv4Net>, Self::Error>> + Send;
}

/// weave's IPAM, as CNI uses it.
pub trait Addresses: Send + Sync {
    type Error;
    /// Where addresses come from (`--ipalloc-range`).
    fn universe(&self) -> Ipv4Net;
    /// The subnet `net:default` allocates in.
    fn default_subnet(&self) -> Ipv4Net;
    /// A subnet of the configuration, with Weave's checks and texts.
    fn parse_subnet(&self, s: &str) -> Result<Ipv4Net, String>;
    /// An address for container `id` in `subnet` (the one it has there already, if any),
    /// failing rather than waiting when no reachable peer has a free one.
    fn allocate(
        &self,
        id: &str,
        subnet: Ipv4Net,
    ) -> impl Future<Output = Result<Ipv4Net, Self::Error>> + Send;
    /// What IPAM reserves for `id`.
    fn owned_by(&self, id: &str) -> Vec<Ipv4Net>;
    /// IPAM's state as `weave status ipam` says it in one line.
    fn state(&self) -> String;
}
