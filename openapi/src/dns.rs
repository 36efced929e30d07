//! weaveDNS types of `/api/v1/dns`.

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `GET /api/v1/dns`: the configuration and every entry this peer knows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DnsInfo {
    /// The domain answered for, qualified (`weave.local.`).
    pub domain: String,
    /// The DNS listen address (`IP:port`).
    pub address: String,
    pub ttl: u32,
    /// Upstream servers non-weave names are forwarded to (from `--resolv-conf`).
    pub upstream: Vec<String>,
    /// Entries, tombstones included (a tombstone's `tombstone` is its unix time).
    pub entries: Vec<DnsEntry>,
}

/// One name → address registration, replicated to every peer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DnsEntry {
    /// Fully qualified (`web.weave.local.`).
    pub hostname: String,
    pub address: String,
    pub container_id: String,
    /// The peer that registered it (only that peer changes it).
    pub origin: String,
    pub version: i64,
    /// 0 while live; the unix time it was removed for a tombstone.
    pub tombstone: i64,
}

/// `POST /api/v1/dns/entries`: register a name for addresses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DnsAddRequest {
    /// A name in the DNS domain; a single label is qualified with it.
    pub hostname: String,
    pub addrs: Vec<String>,
    /// The owning container or target id (`weave:extern` when absent, as Weave).
    #[serde(default)]
    pub container_id: Option<String>,
}

/// `POST /api/v1/dns/remove`: remove this peer's entries matching every given field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DnsRemoveRequest {
    #[serde(default)]
    pub hostname: Option<String>,
    /// Any of these addresses (all when empty).
    #[serde(default)]
    pub addrs: Vec<String>,
    #[serde(default)]
    pub container_id: Option<String>,
}

/// What a change did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DnsChange {
    /// Entries added or removed.
    pub entries: Vec<DnsEntry>,
}

/// `GET /api/v1/dns/lookup?name=`: the live addresses of a name (from the entries, without DNS).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DnsLookup {
    pub name: String,
    pub addrs: Vec<String>,
}
