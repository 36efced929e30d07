//! Weave Net's `WeaveStatus` report (`GET /report`, `GET /api/v1/report`), field for field.
//!
//! Field names, nesting and `null`-for-empty lists follow Weave Net 2.8 so that templates such as
//! `{{.Router.Name}}` and scripts written against Weave keep working.

use crate::go_json::nil_slice;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The whole report. `IPAM` and `DNS` are absent when the subsystem is disabled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub ready: bool,
    pub version: String,
    pub version_check: VersionCheck,
    pub router: RouterStatus,
    #[serde(rename = "IPAM", default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamStatus>,
    #[serde(rename = "DNS", default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsStatus>,
    /// weave's own: the services of this host (`/api/v1/services`); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<crate::services::Service>,
    /// Weave's proxy block: absent when the Docker API proxy does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyStatus>,
    /// Weave's plugin block: absent when the plugin does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginStatus>,
    /// weave's own: the connection to Docker (absent in reports of Weave Net itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerStatus>,
    /// weave's own: network policy on this host; absent while no policy exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::PolicyStatus>,
}

/// Weave's `Proxy` status: where the Docker API proxy listens.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct ProxyStatus {
    /// `unix:///var/run/weave/weave.sock`, `tcp://0.0.0.0:12375`, ...
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// Weave's `Plugin` status: the plugin's configuration and driver names.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct PluginStatus {
    pub config: PluginConfig,
    pub driver_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mesh_driver_name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct PluginConfig {
    pub socket: String,
    pub mesh_socket: String,
    pub enable: bool,
    #[serde(rename = "EnableV2")]
    pub enable_v2: bool,
    #[serde(rename = "EnableV2Multicast")]
    pub enable_v2_multicast: bool,
    #[serde(rename = "DNS")]
    pub dns: bool,
    pub default_subnet: String,
    pub proc_path: String,
}

/// The daemon's connection to Docker (`--docker-api`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct DockerStatus {
    /// `--docker-api`; empty when the integration is disabled.
    pub address: String,
    /// `disabled`, `connecting`, `connected` or `unreachable` (retried with backoff).
    pub state: String,
    /// Docker's version while connected.
    #[serde(default)]
    pub version: String,
    /// Why Docker is unreachable.
    #[serde(default)]
    pub error: String,
    /// Where containers on Docker's bridge reach weaveDNS (Docker's bridge address, as
    /// `weave dns-args` prints it); empty without weaveDNS or Docker's bridge.
    #[serde(default)]
    pub dns_server: String,
}

/// weave never phones home; the block is kept for compatibility and always says "disabled".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct VersionCheck {
    pub enabled: bool,
    pub success: bool,
    pub new_version: String,
    pub next_check_at: String,
}

impl Default for VersionCheck {
    fn default() -> Self {
        VersionCheck {
            enabled: false,
            success: false,
            new_version: String::new(),
            next_check_at: "0001-01-01T00:00:00Z".into(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct RouterStatus {
    pub protocol: String,
    pub protocol_min_version: u8,
    pub protocol_max_version: u8,
    pub encryption: bool,
    pub peer_discovery: bool,
    pub name: String,
    pub nick_name: String,
    pub port: u16,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub peers: Vec<PeerStatus>,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub unicast_routes: Vec<UnicastRoute>,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub broadcast_routes: Vec<BroadcastRoute>,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub connections: Vec<LocalConnectionStatus>,
    pub termination_count: u64,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub targets: Vec<String>,
    /// Per-overlay diagnostics, keyed by overlay name (`sleeve`, `fastdp`).
    #[serde(default)]
    pub overlay_diagnostics: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub trusted_subnets: Vec<String>,
    pub interface: String,
    #[serde(default)]
    pub capture_stats: BTreeMap<String, u64>,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(rename = "MACs", with = "nil_slice", default)]
    pub macs: Vec<MacStatus>,
}

/// One peer of the topology with the connections it announces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct PeerStatus {
    pub name: String,
    pub nick_name: String,
    #[serde(rename = "UID")]
    pub uid: u64,
    #[serde(rename = "ShortID")]
    pub short_id: u16,
    pub version: u64,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub connections: Vec<PeerConnectionStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct PeerConnectionStatus {
    pub name: String,
    pub nick_name: String,
    pub address: String,
    pub outbound: bool,
    pub established: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct UnicastRoute {
    pub dest: String,
    pub via: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct BroadcastRoute {
    pub source: String,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub via: Vec<String>,
}

/// A connection of this peer, or a target it is trying to reach.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct LocalConnectionStatus {
    pub address: String,
    pub outbound: bool,
    /// `established`, `pending`, `connecting`, `retrying`, `failed` or `waiting`.
    pub state: String,
    pub info: String,
    /// Overlay attributes: `name` (`sleeve`/`fastdp`), `mtu`, `encrypted`. `null` for targets.
    #[serde(default)]
    pub attrs: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct MacStatus {
    pub mac: String,
    pub name: String,
    pub nick_name: String,
    pub last_seen: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct IpamStatus {
    /// Present while awaiting consensus.
    #[serde(default)]
    pub paxos: Option<PaxosStatus>,
    pub range: String,
    #[serde(rename = "RangeNumIPs")]
    pub range_num_ips: u64,
    #[serde(rename = "ActiveIPs")]
    pub active_ips: u64,
    pub default_subnet: String,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub entries: Vec<IpamEntry>,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub pending_claims: Vec<PendingClaim>,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub pending_allocates: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct PaxosStatus {
    pub elector: bool,
    pub known_nodes: u32,
    pub quorum: u32,
}

/// One range of the IPAM ring: `[Token, Token+Size)` owned by `Peer`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct IpamEntry {
    pub token: String,
    pub size: u32,
    pub peer: String,
    pub nickname: String,
    pub is_known_peer: bool,
    pub version: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct PendingClaim {
    pub ident: String,
    #[serde(rename = "CIDR")]
    pub cidr: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct DnsStatus {
    pub domain: String,
    #[serde(default)]
    pub upstream: Vec<String>,
    pub address: String,
    #[serde(rename = "TTL")]
    pub ttl: u32,
    #[cfg_attr(feature = "openapi", schema(nullable))]
    #[serde(with = "nil_slice", default)]
    pub entries: Vec<DnsEntryStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct DnsEntryStatus {
    pub hostname: String,
    pub origin: String,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub address: String,
    pub version: i64,
    pub tombstone: i64,
}
