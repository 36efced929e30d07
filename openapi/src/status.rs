//! The daemon's own JSON API types (`/api/v1/...`), snake_case and documented.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The error body of every failing `/api/v1` call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// A stable word for the kind of failure, for programs that act on it (the CNI plugins
    /// map it to CNI error codes): `exhausted`, `unreachable_peers`, `not_ready`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `GET /api/v1/status`: a summary of this peer and the health of each subsystem.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Status {
    /// True once the router is up and `/status` answers 200.
    pub ready: bool,
    /// The daemon's version.
    pub version: String,
    /// Peer name, a MAC address.
    pub name: String,
    pub nickname: String,
    /// This incarnation's unique id; changes on every start.
    pub uid: u64,
    /// The bridge that containers attach to.
    pub bridge: String,
    /// Directory of the embedded database and the log of a launched daemon.
    pub data_dir: String,
    pub router: RouterSummary,
    /// Absent when IPAM is disabled (`--ipalloc-range ''`).
    pub ipam: Option<IpamSummary>,
    /// Absent when DNS is disabled (`--no-dns`).
    pub dns: Option<DnsSummary>,
    /// Services of this host (`/api/v1/services`).
    #[serde(default)]
    pub services: crate::services::ServicesSummary,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RouterSummary {
    pub protocol: String,
    pub protocol_min_version: u8,
    pub protocol_max_version: u8,
    /// TCP (control, sleeve) port; fastdp uses port + 1.
    pub port: u16,
    pub encryption: bool,
    pub peer_discovery: bool,
    pub trusted_subnets: Vec<String>,
    /// Connection targets (from the command line, `weave connect`, or persisted).
    pub targets: Vec<String>,
    /// Number of peers in the topology, this one included.
    pub peers: u32,
    pub connections: ConnectionCounts,
    /// Datagrams at the sleeve port dropped because they named no connected peer or were too
    /// short (per-connection drops are in each connection's traffic).
    #[serde(default)]
    pub sleeve_rejected: u64,
}

/// Connections of this peer by state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConnectionCounts {
    pub established: u32,
    pub pending: u32,
    pub retrying: u32,
    pub failed: u32,
    pub connecting: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IpamSummary {
    /// `idle`, `awaiting consensus`, `priming`, `ready`, `waiting`, `unreachable`.
    pub status: String,
    pub range: String,
    pub default_subnet: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DnsSummary {
    pub domain: String,
    pub listen_address: String,
    pub upstream: Vec<String>,
    pub ttl: u32,
    /// Live (non-tombstoned) entries.
    pub entries: u32,
}

/// `GET /api/v1/version`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VersionInfo {
    pub version: String,
    /// The Weave Net wire protocol this daemon speaks.
    pub protocol: String,
    pub protocol_min_version: u8,
    pub protocol_max_version: u8,
}

/// `POST /api/v1/shutdown`: the daemon stops after answering.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ShutdownAccepted {
    /// The peer that is shutting down.
    pub name: String,
    /// What stopping could not do, for the user (as Weave's `weave stop` warns when the Docker
    /// network `weave` cannot be removed because containers are still on it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
