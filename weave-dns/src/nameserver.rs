//! [`Nameserver`]: the replicated entry set of one peer and everything that changes it — local
//! registrations and deletions, mesh gossip callbacks (channel `nameserver`), peer departure and
//! tombstone expiry. Pure: the caller supplies the time and the set of known peers, and sends the
//! [`GossipData`] this returns.

use std::net::Ipv4Addr;

use weave_wire::{gob, PeerName};

use crate::entries::Entries;
use crate::entry::Entry;
use crate::gossip::GossipData;
use crate::names::{fqdn, is_subdomain};

/// The gossip channel name.
pub const CHANNEL: &str = "nameserver";
/// Tombstones are dropped once older than this (seconds), checked every [`PURGE_INTERVAL_SECS`].
pub const TOMBSTONE_TIMEOUT_SECS: i64 = 30 * 60;
/// How often Weave purges tombstones.
pub const PURGE_INTERVAL_SECS: i64 = TOMBSTONE_TIMEOUT_SECS;
/// Received gossip whose timestamp is further than this from our clock is rejected.
pub const GOSSIP_WINDOW_SECS: i64 = TOMBSTONE_TIMEOUT_SECS / 2;

/// Why received gossip was rejected. Weave returns these to mesh, which closes the connection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GossipError {
    #[error("{0}")]
    Decode(#[from] gob::Error),
    /// Weave's exact text.
    #[error("host clock skew of {delta}s exceeds {limit}s limit")]
    ClockSkew { delta: i64, limit: i64 },
}

/// What a gossip callback hands back to the mesh layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GossipReply {
    /// `on_gossip`: the delta to relay to neighbours (`None`: nothing new).
    /// `on_gossip_broadcast`: the data to relay along the originator's broadcast tree.
    pub relay: Option<GossipData>,
    /// Our corrections to entries that claimed to be ours: broadcast these as our own.
    pub broadcast: Option<GossipData>,
}

/// One peer's weaveDNS state.
#[derive(Debug, Clone)]
pub struct Nameserver {
    our_name: PeerName,
    domain: String,
    entries: Entries,
}

fn broadcast(now: i64, entries: Vec<Entry>) -> Option<GossipData> {
    (!entries.is_empty()).then(|| GossipData::new(now, entries))
}

impl Nameserver {
    /// `domain` is qualified (`weave.local` → `weave.local.`).
    pub fn new(our_name: PeerName, domain: &str) -> Nameserver {
        Nameserver { our_name, domain: fqdn(domain), entries: Entries::new() }
    }

    pub fn our_name(&self) -> PeerName {
        self.our_name
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// All entries, tombstones included, in stored order.
    pub fn entries(&self) -> &Entries {
        &self.entries
    }

    /// Registers `hostname → addr` for our container (or resurrects it); the entry is always
    /// broadcast, changed or not, as Weave does.
    pub fn add_entry(&mut self, hostname: &str, container_id: &str, addr: Ipv4Addr, now: i64) -> GossipData {
        let e = self.entries.add(hostname, container_id, self.our_name, addr);
        GossipData::new(now, vec![e])
    }

    /// `PUT /name/{container}/{ip}?fqdn=`: qualifies the name and ignores it (`None`) unless it
    /// is inside our domain.
    pub fn add_entry_fqdn(
        &mut self,
        fqdn_name: &str,
        container_id: &str,
        addr: Ipv4Addr,
        now: i64,
    ) -> Option<GossipData> {
        let hostname = fqdn(fqdn_name);
        if !is_subdomain(&self.domain, &hostname) {
            return None;
        }
        Some(self.add_entry(&hostname, container_id, addr, now))
    }

    /// Tombstones our live entries matching every given part (`None` = wildcard). Hostnames
    /// compare case-sensitively and exactly: the HTTP layer passes `fqdn(name)`.
    pub fn delete(
        &mut self,
        hostname: Option<&str>,
        container_id: Option<&str>,
        addr: Option<Ipv4Addr>,
        now: i64,
    ) -> Option<GossipData> {
        let changed = self.entries.tombstone(self.our_name, now, |e| {
            hostname.is_none_or(|h| e.hostname == h)
                && container_id.is_none_or(|c| e.container_id == c)
                && addr.is_none_or(|a| e.addr == a)
        });
        broadcast(now, changed)
    }

    /// A local container died: tombstone all our entries for it.
    pub fn container_died(&mut self, container_id: &str, now: i64) -> Option<GossipData> {
        self.delete(None, Some(container_id), None, now)
    }

    /// A peer left the topology: forget its entries (no tombstones, nothing to send).
    pub fn peer_gone(&mut self, peer: PeerName) {
        self.entries.retain(|e| e.origin != peer);
    }

    /// Drops tombstones older than [`TOMBSTONE_TIMEOUT_SECS`]; run every [`PURGE_INTERVAL_SECS`].
    pub fn purge_tombstones(&mut self, now: i64) {
        self.entries.retain(|e| e.tombstone == 0 || now.wrapping_sub(e.tombstone) <= TOMBSTONE_TIMEOUT_SECS);
    }

    /// Live addresses for `hostname` (case-insensitive), in stored order.
    pub fn lookup(&self, hostname: &str) -> Vec<Ipv4Addr> {
        self.entries.lookup_live(hostname)
    }

    /// Hostname of the first live entry with `addr`.
    pub fn reverse_lookup(&self, addr: Ipv4Addr) -> Option<&str> {
        self.entries.reverse_lookup(addr).map(|e| e.hostname.as_str())
    }

    /// Mesh `Gossip()`: the full state, for periodic gossip and new connections.
    pub fn gossip(&self, now: i64) -> GossipData {
        GossipData { timestamp: now, entries: self.entries.clone() }
    }

    /// Mesh `OnGossip`: merge and return what was new (to relay onwards).
    pub fn on_gossip(
        &mut self,
        payload: &[u8],
        now: i64,
        is_known_peer: impl Fn(PeerName) -> bool,
    ) -> Result<GossipReply, GossipError> {
        self.on_gossip_data(GossipData::decode(payload)?, now, is_known_peer)
    }

    /// [`Nameserver::on_gossip`] with the payload decoded already (by the caller's connection
    /// task, away from whoever holds the entries).
    pub fn on_gossip_data(
        &mut self,
        gossip: GossipData,
        now: i64,
        is_known_peer: impl Fn(PeerName) -> bool,
    ) -> Result<GossipReply, GossipError> {
        let (new, _, broadcast) = self.receive(gossip, now, is_known_peer)?;
        Ok(GossipReply { relay: new, broadcast })
    }

    /// Mesh `OnGossipBroadcast`: merge and return the received data (filtered and corrected) to
    /// relay, even when nothing was new.
    pub fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        payload: &[u8],
        now: i64,
        is_known_peer: impl Fn(PeerName) -> bool,
    ) -> Result<GossipReply, GossipError> {
        self.on_gossip_broadcast_data(src, GossipData::decode(payload)?, now, is_known_peer)
    }

    /// [`Nameserver::on_gossip_broadcast`] with the payload decoded already.
    pub fn on_gossip_broadcast_data(
        &mut self,
        _src: PeerName,
        gossip: GossipData,
        now: i64,
        is_known_peer: impl Fn(PeerName) -> bool,
    ) -> Result<GossipReply, GossipError> {
        let (_, received, broadcast) = self.receive(gossip, now, is_known_peer)?;
        Ok(GossipReply { relay: Some(received), broadcast })
    }

    /// Mesh `OnGossipUnicast`: weaveDNS sends none and ignores any.
    pub fn on_gossip_unicast(&mut self, _src: PeerName, _payload: &[u8]) -> Result<(), GossipError> {
        Ok(())
    }

    /// Weave's `receiveGossip`: (new entries, received data, corrections to broadcast).
    fn receive(
        &mut self,
        mut gossip: GossipData,
        now: i64,
        is_known_peer: impl Fn(PeerName) -> bool,
    ) -> Result<(Option<GossipData>, GossipData, Option<GossipData>), GossipError> {
        let delta = gossip.timestamp.wrapping_sub(now);
        if !(-GOSSIP_WINDOW_SECS..=GOSSIP_WINDOW_SECS).contains(&delta) {
            return Err(GossipError::ClockSkew { delta, limit: GOSSIP_WINDOW_SECS });
        }
        gossip.entries.retain(|e| is_known_peer(e.origin));

        // Only we change our entries: anything claiming to be ours that differs from our data is
        // replaced by our data at a higher version; claims we have no entry for are tombstoned.
        let mut overridden = Vec::new();
        let ours = &self.entries;
        gossip.entries.update_versions(|e| {
            if e.origin != self.our_name {
                return None;
            }
            let fixed = match ours.find_equal(e) {
                Some(mine)
                    if mine.version < e.version
                        || (mine.version == e.version && mine.tombstone != e.tombstone) =>
                {
                    Entry { version: e.version.wrapping_add(1), ..mine.clone() }
                }
                Some(_) => return None,
                None => {
                    let mut t = e.clone();
                    if !t.tombstone_at(now) {
                        return None;
                    }
                    t
                }
            };
            let update = (fixed.version, fixed.tombstone);
            overridden.push(fixed);
            Some(update)
        });

        let new = self.entries.merge(&gossip.entries);
        Ok((broadcast(now, new), gossip, broadcast(now, overridden)))
    }

    /// `GET /name` body (with `Accept: application/json`).
    pub fn name_json(&self) -> String {
        crate::json::entries_json(&self.entries)
    }
}
