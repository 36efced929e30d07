//! `/api/v1` types of attaching targets to the weave network.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /api/v1/attach`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AttachRequest {
    /// `netns:NAME`, `pid:PID`, or the path of a network namespace.
    pub target: String,
    /// `CIDR` or `ip:CIDR` (explicit), `net:default` or `net:CIDR` (from IPAM).
    /// Empty means `net:default`.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Do not register the target's name in weaveDNS.
    #[serde(default)]
    pub without_dns: bool,
    /// Do not add the route of 224.0.0.0/4 via `ethwe`.
    #[serde(default)]
    pub no_multicast_route: bool,
    /// The target's namespace for network policy (`default` when absent).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels network policy selects the target by.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Named ports, for policies that name ports.
    #[serde(default)]
    pub ports: Vec<crate::policy::NamedPort>,
}

/// A target on the weave network, as `weave ps` lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AttachedTarget {
    /// The target's id (`weave:expose` for the host's own addresses).
    pub id: String,
    /// MAC of its `ethwe` (of the bridge, for `weave:expose`).
    pub mac: String,
    /// Its addresses on the weave network, as CIDRs.
    pub addrs: Vec<String>,
}

/// `POST /api/v1/detach`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DetachRequest {
    pub target: String,
    /// Addresses to remove; all when empty.
    #[serde(default)]
    pub addrs: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DetachResult {
    pub id: String,
    /// The addresses removed.
    pub removed: Vec<String>,
}

/// `POST /api/v1/expose`: give the host addresses on the weave network.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExposeRequest {
    /// As for attach: `CIDR`, `ip:CIDR`, `net:default` or `net:CIDR`. Empty means `net:default`.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// A name to register in weaveDNS for the host's exposed addresses.
    #[serde(default)]
    pub fqdn: Option<String>,
    /// Do not masquerade traffic between the exposed subnets and the rest of the world.
    #[serde(default)]
    pub without_masquerade: bool,
}

/// `POST /api/v1/hide`: take exposed addresses away from the host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HideRequest {
    /// Addresses to hide (`net:` forms name what IPAM gave `weave:expose` there); all when empty.
    #[serde(default)]
    pub addrs: Vec<String>,
}

/// `POST /api/v1/resolve`: a TARGET as the daemon understands it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ResolveRequest {
    /// A Docker container (id, short id or name), `netns:NAME`, `pid:PID` or a namespace path.
    pub target: String,
}

/// A resolved TARGET.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ResolvedTarget {
    /// The id `weave ps` shows and DNS entries carry (a Docker container's full id).
    pub id: String,
    /// The DNS name the target gets by default (NAME of `netns:NAME`, a container's hostname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}
