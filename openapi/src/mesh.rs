//! `/api/v1` types of the mesh: peers, connections, routes, targets, and the event stream.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A peer of the topology and the connections it announces.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Peer {
    pub name: String,
    pub nickname: String,
    /// Incarnation id; changes when the peer restarts.
    pub uid: u64,
    /// 12-bit id used by fastdp.
    pub short_id: u16,
    /// Bumped on every change of its connections.
    pub version: u64,
    pub connections: Vec<PeerConnection>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PeerConnection {
    pub name: String,
    pub nickname: String,
    pub address: String,
    pub outbound: bool,
    pub established: bool,
}

/// A connection of this peer, or a target it is trying to reach.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Connection {
    pub address: String,
    pub outbound: bool,
    /// `established`, `pending`, `connecting`, `retrying`, `failed` or `waiting`.
    pub state: String,
    /// The remote peer, once the handshake has told us who it is.
    pub peer: Option<String>,
    pub nickname: Option<String>,
    /// `sleeve`, `fastdp`, or absent.
    pub overlay: Option<String>,
    pub encrypted: bool,
    /// The cipher of the encrypted sleeve: `aes-256-gcm` or `chacha20-poly1305` between weave
    /// peers, `nacl` (Weave Net's secretbox) with Weave Net peers or `--sleeve-cipher nacl`;
    /// absent when the connection is not encrypted.
    #[serde(default)]
    pub cipher: Option<String>,
    pub mtu: Option<u32>,
    /// Weave's info column: the overlay and peer, or the last error and next retry.
    pub info: String,
    /// Overlay traffic to and from this peer (sleeve), since the connection started.
    #[serde(default)]
    pub traffic: Traffic,
    /// The overlays tried for this connection, in preference order, with their state.
    #[serde(default)]
    pub forwarders: Vec<Forwarder>,
    /// Every change of the overlay in use, oldest first (the last 16).
    #[serde(default)]
    pub switches: Vec<OverlaySwitch>,
    /// The peer's kernel VXLAN device, when fastdp made one; its counters are the kernel's.
    #[serde(default)]
    pub fastdp: Option<FastdpDevice>,
    /// The kernel's smoothed round-trip time of the connection's TCP socket (`TCP_INFO`), in
    /// microseconds, read by the daemon once a second; absent for targets and until measured.
    #[serde(default)]
    pub rtt_us: Option<u64>,
    /// For a target (not established): the peer expected at its address, i.e. the one its last
    /// connection reached or the one other peers announce there; absent when unknown. Tells
    /// which peer a failing target is.
    #[serde(default)]
    pub expected_peer: Option<String>,
}

/// One overlay forwarder of a connection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Forwarder {
    /// `fastdp` or `sleeve`.
    pub name: String,
    /// `pending`, `established`, `unhealthy` or `failed`.
    pub state: String,
    /// Why it is unhealthy or failed.
    pub reason: Option<String>,
}

/// A change of the overlay a connection uses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OverlaySwitch {
    /// RFC 3339 time of the change.
    pub at: String,
    /// The overlay before (absent at the start).
    pub from: Option<String>,
    /// The overlay after (absent when none is usable).
    pub to: Option<String>,
    pub reason: String,
}

/// A fastdp VXLAN device (`vethwe-vx…`) and its kernel counters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FastdpDevice {
    pub device: String,
    /// Whether it is a port of the bridge (it is while fastdp is the overlay in use).
    pub on_bridge: bool,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

/// Packet and byte counters of a connection's overlay.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Traffic {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Packets dropped: undecryptable, replayed, or refused by the kernel.
    pub drops: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Routes {
    /// Next hop per destination over established, symmetric connections.
    pub unicast: Vec<UnicastHop>,
    /// Neighbours a broadcast from each source is passed on to.
    pub broadcast: Vec<BroadcastHops>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UnicastHop {
    pub dest: String,
    /// `00:00:00:00:00:00` for this peer itself.
    pub via: String,
    /// The peers a frame to `dest` passes after this one, `via` first and `dest` last, each
    /// hop choosing its next by the same rule on this peer's view of the topology; empty for
    /// this peer itself.
    #[serde(default)]
    pub path: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BroadcastHops {
    pub source: String,
    pub via: Vec<String>,
}

/// The connection targets (direct peers).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Targets {
    pub targets: Vec<String>,
}

/// `POST /api/v1/targets`: add (or, with `replace`, set) connection targets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConnectRequest {
    /// `HOST` or `HOST:PORT`.
    pub peers: Vec<String>,
    #[serde(default)]
    pub replace: bool,
}

/// `POST /api/v1/targets/forget`: remove connection targets (their connections stay up).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ForgetRequest {
    pub peers: Vec<String>,
}

/// One change, as sent on `GET /api/v1/events` (the SSE event name is `type`). IPAM's:
/// `allocation_added`/`allocation_removed` (an address handed out or released, durable),
/// `ring_changed` (ownership in the ring changed; `owned` = addresses in this peer's ranges,
/// `owners` = peers owning space), `ipam_error` (IPAM gossip refused; the connection it came on
/// is closed and retried). weaveDNS's: `dns_entry_added`/`dns_entry_removed` (a live entry
/// appeared on, or left, this peer: registered here or learnt by gossip). Services':
/// `service_added`, `service_removed`, `service_changed` (a service became broken or active
/// again, or its target moved to another address). Policy's: `policy_drop` (a packet this
/// host's policy rules dropped, rate-limited: `suppressed` counts those held back since the
/// last one sent).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    PeerAdded {
        name: String,
        nickname: String,
    },
    PeerRemoved {
        name: String,
        nickname: String,
    },
    ConnectionAdded {
        peer: String,
        address: String,
        outbound: bool,
    },
    ConnectionEstablished {
        peer: String,
        address: String,
    },
    ConnectionClosed {
        peer: Option<String>,
        address: String,
        reason: String,
    },
    RoutesChanged,
    TargetsChanged {
        targets: Vec<String>,
    },
    AllocationAdded {
        ident: String,
        cidr: String,
    },
    AllocationRemoved {
        ident: String,
        cidr: String,
    },
    RingChanged {
        owned: u64,
        owners: u32,
    },
    IpamError {
        peer: Option<String>,
        error: String,
    },
    DnsEntryAdded {
        hostname: String,
        address: String,
        container_id: String,
        origin: String,
    },
    DnsEntryRemoved {
        hostname: String,
        address: String,
        container_id: String,
        origin: String,
    },
    ServiceAdded {
        service: Box<crate::services::Service>,
    },
    ServiceRemoved {
        id: String,
    },
    ServiceChanged {
        service: Box<crate::services::Service>,
    },
    PolicyDrop {
        #[serde(rename = "drop")]
        dropped: crate::policy::PolicyDrop,
        #[serde(default)]
        suppressed: u64,
    },
}

impl Event {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PeerAdded { .. } => "peer_added",
            Event::PeerRemoved { .. } => "peer_removed",
            Event::ConnectionAdded { .. } => "connection_added",
            Event::ConnectionEstablished { .. } => "connection_established",
            Event::ConnectionClosed { .. } => "connection_closed",
            Event::RoutesChanged => "routes_changed",
            Event::TargetsChanged { .. } => "targets_changed",
            Event::AllocationAdded { .. } => "allocation_added",
            Event::AllocationRemoved { .. } => "allocation_removed",
            Event::RingChanged { .. } => "ring_changed",
            Event::IpamError { .. } => "ipam_error",
            Event::DnsEntryAdded { .. } => "dns_entry_added",
            Event::DnsEntryRemoved { .. } => "dns_entry_removed",
            Event::ServiceAdded { .. } => "service_added",
            Event::ServiceRemoved { .. } => "service_removed",
            Event::ServiceChanged { .. } => "service_changed",
            Event::PolicyDrop { .. } => "policy_drop",
        }
    }
}
