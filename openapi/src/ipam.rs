//! `/api/v1` types of IPAM: address allocation from the cluster-wide range, the ring's health,
//! taking over dead peers' space, and leaving the cluster (`reset`).

use crate::report::IpamStatus;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `GET /api/v1/ipam`: IPAM as this peer sees it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IpamInfo {
    /// Weave's status word: `idle`, `awaiting consensus (...)`, `priming`, `ready`,
    /// `waiting for IP(s) to become available`, or `all IP ranges owned by unreachable peers ...`.
    pub state: String,
    /// The ring, our allocations and pending requests, in Weave's report shape.
    pub status: IpamStatus,
    /// Recent IPAM gossip this peer refused (newest last), e.g. a ring seeded by other peers.
    pub errors: Vec<IpamGossipError>,
}

/// IPAM gossip that was refused; the connection it came on was closed (as Weave does).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IpamGossipError {
    /// The sending peer, when the message says who it is.
    pub peer: Option<String>,
    pub error: String,
    /// Unix time in seconds.
    pub at: u64,
    /// How many times this error was seen in a row.
    pub count: u32,
}

/// Addresses handed out by this peer to one owner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Allocation {
    /// The owner: a target id (`netns:c1`, a container id), `weave:expose`, or any string.
    pub ident: String,
    /// CIDRs: the address with the prefix length of its subnet.
    pub addrs: Vec<String>,
    /// Owned by a container (freed when the container goes away).
    pub is_container: bool,
}

/// `POST /api/v1/ipam/allocate`: an address for `ident` (the one it has already, if any).
/// Waits until the ring exists and space is available.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AllocateRequest {
    pub ident: String,
    /// The subnet to allocate in (at least 4 addresses); the default subnet when absent.
    #[serde(default)]
    pub subnet: Option<String>,
    /// Owned by a container.
    #[serde(default)]
    pub is_container: bool,
}

/// `POST /api/v1/ipam/claim`: record a specific address for `ident`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ClaimRequest {
    pub ident: String,
    /// The address with its prefix length, e.g. `10.32.0.5/12`.
    pub cidr: String,
    #[serde(default)]
    pub is_container: bool,
    /// Answer at once while the ring or the address's owner is not known yet, and go on
    /// claiming in the background (Weave's `noErrorOnUnknown`).
    #[serde(default)]
    pub no_error_on_unknown: bool,
}

/// An address that was allocated or claimed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Allocated {
    pub ident: String,
    pub cidr: String,
}

/// `POST /api/v1/ipam/free`: release addresses of `ident` (all when none are given).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FreeRequest {
    pub ident: String,
    /// Addresses (`10.32.0.5` or `10.32.0.5/12`); all of the ident's when empty.
    #[serde(default)]
    pub addrs: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Freed {
    pub ident: String,
    /// The CIDRs released.
    pub freed: Vec<String>,
}

/// `POST /api/v1/ipam/prime`: answered once the ring exists (consensus reached).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Primed {
    pub state: String,
}

/// `POST /api/v1/ipam/rmpeer`: take over all IPAM space of a dead peer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RmpeerRequest {
    /// Peer name or nickname.
    pub peer: String,
    /// Take over even though the peer is reachable (it will refuse the change and its
    /// connections will flap until it is stopped).
    #[serde(default)]
    pub force: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RmpeerResult {
    /// As given in the request.
    pub peer: String,
    /// Free addresses this peer gained.
    pub taken_over: u64,
}

/// `GET /api/v1/ipam/check`: what is wrong with IPAM from this peer's view, and how to fix it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IpamCheck {
    /// Nothing to fix.
    pub ok: bool,
    /// Space owned by peers that are not reachable.
    pub unreachable: Vec<UnreachableSpace>,
    /// Addresses held by targets that no longer exist (or no longer carry them).
    pub orphans: Vec<OrphanAllocation>,
    /// Recent IPAM gossip that was refused.
    pub errors: Vec<IpamGossipError>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UnreachableSpace {
    pub peer: String,
    pub nickname: String,
    /// Addresses in its ranges.
    pub ips: u64,
    /// The command that takes the space over (once the peer is known to be dead).
    pub fix: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OrphanAllocation {
    pub ident: String,
    pub addrs: Vec<String>,
    /// Why the addresses are considered orphaned.
    pub reason: String,
    /// The command that releases them.
    pub fix: String,
}

/// `POST /api/v1/reset`: the daemon hands its IPAM space to a live peer, removes its devices,
/// firewall rules and persisted data, and stops.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ResetResult {
    /// The peer that is leaving.
    pub name: String,
    /// Addresses of this peer's ranges handed over to another peer.
    pub handed_over: u64,
    /// What was removed (devices, firewall rules, files).
    pub removed: Vec<String>,
    /// What could not be removed, and why.
    pub failures: Vec<String>,
    /// What the user should know but does not make the reset fail (as Weave's warning when
    /// the Docker network `weave` still has containers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
