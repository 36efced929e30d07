//! `/api/v1/cni` types: CNI attachments, the daemon side of the `weave-net` and `weave-ipam`
//! plugins.
//!
//! An attachment is what the CNI spec calls one: `(container id, interface name)` on one CNI
//! network. ADD creates it (`POST /api/v1/cni/attachments`), CHECK compares it with what the
//! runtime expects (`POST /api/v1/cni/attachments/{container_id}/{ifname}/check`), DEL removes
//! it (`DELETE /api/v1/cni/attachments/{container_id}/{ifname}`), GC removes every attachment
//! of a network the runtime no longer lists (`POST /api/v1/cni/gc`), STATUS asks whether ADD
//! can be served (`GET /api/v1/cni/status`). `weave-ipam` creates address-only attachments
//! (`POST /api/v1/cni/ipam`) that DEL, CHECK and GC treat the same way.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

fn yes() -> bool {
    true
}

/// An address of an attachment: a CIDR with the gateway of its subnet.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniIp {
    /// The address with its prefix length, e.g. `10.32.0.5/12`.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// A route inside the container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniRoute {
    /// Destination CIDR, e.g. `0.0.0.0/0`.
    pub dst: String,
    /// Next hop; the attachment's gateway when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// DNS settings for the container, as the CNI result carries them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniDns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// `POST /api/v1/cni/attachments`: CNI ADD of `weave-net`. Creates the interface `ifname` in
/// the namespace `netns`, on the weave bridge, with addresses from weave's IPAM (keyed by the
/// container id) unless `ips` names them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniAddRequest {
    /// The CNI network's name (`name` of the configuration); GC works per network.
    pub network: String,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`: the interface to create inside the container.
    pub ifname: String,
    /// `CNI_NETNS`: the path of the container's network namespace.
    pub netns: String,
    /// The name to register in weaveDNS (the pod or container name), if any.
    #[serde(default)]
    pub name: Option<String>,
    /// The pod's namespace (`K8S_POD_NAMESPACE`), shown with the attachment; network policy's
    /// namespace of the target.
    #[serde(default)]
    pub pod_namespace: Option<String>,
    /// Labels network policy selects the target by (the CNI convention `args.cni.labels`).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Addresses a delegated IPAM plugin chose; weave's IPAM allocates when empty.
    #[serde(default)]
    pub ips: Vec<CniIp>,
    /// The subnet weave's IPAM allocates in (`ipam.subnet`); the default subnet when absent.
    #[serde(default)]
    pub subnet: Option<String>,
    /// The gateway (`ipam.gateway`); when neither it nor routes are given, the bridge's
    /// address in the subnet (given to `weave:expose` when the bridge has none).
    #[serde(default)]
    pub gateway: Option<String>,
    /// Routes to add (`ipam.routes`); a default route via the gateway when empty.
    #[serde(default)]
    pub routes: Vec<CniRoute>,
    /// MTU of the interface pair; the overlay's when absent.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Hairpin mode on the bridge port (`hairpinMode`), as Weave: on by default.
    #[serde(default = "yes")]
    pub hairpin: bool,
}

/// One interface of an attachment, as the CNI result lists them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniInterface {
    pub name: String,
    pub mac: String,
    /// The namespace path for the container's interface; absent for the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// An attachment as the daemon keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniAttachment {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    /// The namespace path; absent for an address-only (`weave-ipam`) attachment.
    #[serde(default)]
    pub netns: Option<String>,
    /// Its weaveDNS name, if any.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub pod_namespace: Option<String>,
    /// The bridge, the host side veth and the container's interface, in that order; empty
    /// for an address-only attachment.
    #[serde(default)]
    pub interfaces: Vec<CniInterface>,
    pub ips: Vec<CniIp>,
    #[serde(default)]
    pub routes: Vec<CniRoute>,
    /// weaveDNS as the container's resolver, when weaveDNS runs.
    #[serde(default)]
    pub dns: Option<CniDns>,
    /// MTU of the interface pair.
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// `POST /api/v1/cni/ipam`: CNI ADD of `weave-ipam`: an address from weave's IPAM for the
/// container, recorded as an address-only attachment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniIpamRequest {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    /// The subnet to allocate in; the default subnet when absent.
    #[serde(default)]
    pub subnet: Option<String>,
}

/// `POST /api/v1/cni/attachments/{container_id}/{ifname}/check`: what the runtime expects
/// (the `prevResult` of ADD).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniCheckRequest {
    /// `CNI_NETNS` as given to CHECK (must be the one of ADD).
    #[serde(default)]
    pub netns: Option<String>,
    /// Addresses expected on the interface (CIDRs).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Routes expected inside the container.
    #[serde(default)]
    pub routes: Vec<CniRoute>,
    /// Check the IPAM reservation only (`weave-ipam`), not the interface.
    #[serde(default)]
    pub ipam_only: bool,
}

/// What CHECK found wrong, one problem each.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum CniProblemKind {
    /// The daemon has no such attachment (never added, or deleted).
    UnknownAttachment,
    /// The container's namespace is gone or is not the one of ADD.
    MissingNamespace,
    /// The interface is not in the container.
    MissingInterface,
    /// The interface lacks an expected address, or IPAM no longer reserves it.
    WrongAddress,
    /// An expected route is missing.
    MissingRoute,
    /// The interface is not plugged into the weave bridge.
    Unplugged,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniProblem {
    pub kind: CniProblemKind,
    /// What exactly is wrong, naming the interface, address or route.
    pub detail: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniCheckResult {
    /// Nothing is wrong.
    pub ok: bool,
    pub problems: Vec<CniProblem>,
}

/// `DELETE /api/v1/cni/attachments/{container_id}/{ifname}`: what was removed. Deleting an
/// attachment that does not exist succeeds and removes nothing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniDeleted {
    pub container_id: String,
    pub ifname: String,
    /// Addresses released in IPAM.
    pub released: Vec<String>,
    /// The container's interface was removed (false when it was already gone).
    pub interface_removed: bool,
}

/// One attachment the runtime still considers valid (`cni.dev/valid-attachments`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniAttachmentKey {
    pub container_id: String,
    pub ifname: String,
}

/// `POST /api/v1/cni/gc`: remove every attachment of `network` not in `valid`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniGcRequest {
    pub network: String,
    #[serde(default)]
    pub valid: Vec<CniAttachmentKey>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniGcResult {
    /// The attachments removed.
    pub removed: Vec<CniDeleted>,
    /// What could not be removed, and why; GC carries on past each.
    pub errors: Vec<String>,
}

/// `GET /api/v1/cni/status`: whether ADD can be served now.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CniStatus {
    pub ready: bool,
    /// Why not, when not ready.
    #[serde(default)]
    pub reason: Option<String>,
    /// What to do about it.
    #[serde(default)]
    pub hint: Option<String>,
    /// weave's IPAM runs (`--ipalloc-range` is not empty).
    pub ipam: bool,
    /// CNI attachments on this host.
    pub attachments: u32,
}
