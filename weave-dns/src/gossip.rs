//! [`GossipData`], the payload on gossip channel `nameserver`, and its gob form.
//!
//! Go declares `GossipData{Timestamp int64; Entries}` with `Entries` an *embedded* `[]Entry`,
//! so on the wire the field is simply named `Entries` (captured type definitions:
//! `struct "GossipData"{Timestamp:int Entries:[]Entry}`,
//! `struct "Entry"{ContainerID:string Origin:uint Addr:uint Hostname:string Version:int
//! Tombstone:int}`). Weave sorts entries case-sensitively before encoding and case-insensitively
//! after decoding; an empty entry list is left off the wire.

use std::net::Ipv4Addr;

use weave_wire::gob::{self, Decoder, Encoder};
use weave_wire::{gob_struct, PeerName};

use crate::entries::Entries;
use crate::entry::Entry;

gob_struct! {
    /// Wire form of `nameserver.Entry` (field order as Go declares it).
    #[derive(Debug, Clone, Default, PartialEq)]
    struct WireEntry = "Entry" {
        container_id: String = "ContainerID",
        origin: u64 = "Origin",
        addr: u32 = "Addr",
        hostname: String = "Hostname",
        version: i64 = "Version",
        tombstone: i64 = "Tombstone",
    }
}

gob_struct! {
    /// Wire form of `nameserver.GossipData`.
    #[derive(Debug, Clone, Default, PartialEq)]
    struct WireGossipData = "GossipData" {
        timestamp: i64 = "Timestamp",
        entries: Vec<WireEntry> = "Entries",
    }
}

impl From<&Entry> for WireEntry {
    fn from(e: &Entry) -> WireEntry {
        WireEntry {
            container_id: e.container_id.clone(),
            origin: e.origin.0,
            addr: u32::from(e.addr),
            hostname: e.hostname.clone(),
            version: e.version,
            tombstone: e.tombstone,
        }
    }
}

impl From<WireEntry> for Entry {
    fn from(w: WireEntry) -> Entry {
        Entry {
            container_id: w.container_id,
            origin: PeerName(w.origin),
            addr: Ipv4Addr::from(w.addr),
            hostname: w.hostname,
            version: w.version,
            tombstone: w.tombstone,
        }
    }
}

/// One `nameserver` gossip message: a set of entries and the sender's clock (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GossipData {
    pub timestamp: i64,
    pub entries: Entries,
}

impl GossipData {
    pub fn new(timestamp: i64, entries: Vec<Entry>) -> GossipData {
        GossipData { timestamp, entries: Entries::from_entries(entries) }
    }

    /// The gob stream Weave sends: one `GossipData` value, entries in case-sensitive order.
    pub fn encode(&self) -> Vec<u8> {
        let wire = WireGossipData {
            timestamp: self.timestamp,
            entries: self.entries.sorted_case_sensitive().into_iter().map(WireEntry::from).collect(),
        };
        let mut enc = Encoder::new();
        // Only basic types and one struct nesting: encoding cannot fail.
        if enc.encode_typed(&wire).is_err() {
            return Vec::new();
        }
        enc.finish()
    }

    /// Decodes the first value of a gob stream (like Go's `Decode`, trailing data is ignored).
    /// Entries are sorted for storage; duplicate identities are merged (Weave would panic).
    pub fn decode(payload: &[u8]) -> Result<GossipData, gob::Error> {
        let wire: WireGossipData = Decoder::new(payload).read()?;
        Ok(GossipData {
            timestamp: wire.timestamp,
            entries: Entries::from_entries(wire.entries.into_iter().map(Entry::from).collect()),
        })
    }

    /// Coalesces two pending messages (mesh's `GossipData.Merge`): entries merged, newest
    /// timestamp kept.
    pub fn merge(&mut self, other: &GossipData) {
        self.entries.merge(&other.entries);
        self.timestamp = self.timestamp.max(other.timestamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_encoding_order() {
        let origin = PeerName(0x02_00_00_00_00_0a);
        let ip = Ipv4Addr::new(10, 32, 0, 1);
        let g = GossipData::new(
            1795804714,
            vec![
                Entry::new("b.weave.local.", "c2", origin, ip),
                Entry { version: 3, tombstone: 17, ..Entry::new("B.weave.local.", "c1", origin, ip) },
                Entry::new("a.weave.local.", "c3", origin, ip),
            ],
        );
        let bytes = g.encode();
        let back = GossipData::decode(&bytes).unwrap();
        assert_eq!(back, g);
        // Stored order is case-insensitive ...
        let stored: Vec<_> = g.entries.iter().map(|e| e.hostname.as_str()).collect();
        assert_eq!(stored, ["a.weave.local.", "B.weave.local.", "b.weave.local."]);
        // ... but the wire order is case-sensitive ("B" < "a").
        let wire: WireGossipData = Decoder::new(&bytes).read().unwrap();
        let sent: Vec<_> = wire.entries.iter().map(|e| e.hostname.as_str()).collect();
        assert_eq!(sent, ["B.weave.local.", "a.weave.local.", "b.weave.local."]);
    }

    #[test]
    fn empty_entries_are_left_off() {
        let bytes = GossipData::new(5, vec![]).encode();
        let (_, value) = gob::decode_all(&bytes).unwrap().remove(0);
        assert_eq!(value, gob::Value::Struct(vec![("Timestamp".into(), gob::Value::Int(5))]));
    }

    #[test]
    fn merge_keeps_newest_timestamp() {
        let e = |h: &str| Entry::new(h, "", PeerName::UNKNOWN, Ipv4Addr::UNSPECIFIED);
        let mut a = GossipData::new(10, vec![e("A"), e("c")]);
        a.merge(&GossipData::new(20, vec![e("B"), e("c")]));
        assert_eq!(a, GossipData::new(20, vec![e("A"), e("B"), e("c")]));
    }
}
