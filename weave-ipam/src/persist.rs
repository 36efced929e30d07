//! What must survive a restart: the ring (with the peer name it belongs to) and the addresses
//! handed out per ident. The caller stores the bytes; [`crate::allocator::Allocator::new`] takes
//! the decoded struct back. The encodings are gob, in the shapes of Weave's own db values, so
//! `ring_to_gob`/`owned_to_gob` can also read and write a Weave BoltDB's `ring` and
//! `ownedAddresses` values.

use std::collections::BTreeMap;

use weave_wire::gob::{Decoder, Encoder, Gob};
use weave_wire::PeerName;

use crate::address::{Address, Cidr};
use crate::messages::MessageError;
use crate::ring::Ring;
use crate::wire::{CidrW, OwnedDataW, PersistedW, RingW};

/// Addresses handed out to one ident (Weave's `ownedData`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedData {
    /// The ident is a container ID (its addresses are freed when the container dies).
    pub is_container: bool,
    pub cidrs: Vec<Cidr>,
}

/// Everything persisted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistedState {
    /// Whose state this is: a different peer name on load means "start afresh".
    pub peer_name: PeerName,
    /// `None` (or an empty ring) until the ring exists.
    pub ring: Option<Ring>,
    pub owned: BTreeMap<String, OwnedData>,
}

/// What changed since the previous [`crate::allocator::Output::Persist`]: applied in order to
/// what is stored, the deltas give [`crate::allocator::Allocator::persisted_state`]. Only the
/// owners that changed are carried, so persisting an allocation costs the same with ten or ten
/// thousand owners.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistDelta {
    /// Drop whatever was stored first (a fresh start; `owned` then lists every owner).
    pub reset: bool,
    pub peer_name: PeerName,
    /// The whole ring (it is small).
    pub ring: Option<Ring>,
    /// Owners whose addresses changed: their addresses now, `None` when they hold none.
    pub owned: BTreeMap<String, Option<OwnedData>>,
}

impl PersistDelta {
    /// Applies this delta to `stored` (`None`: nothing stored yet).
    pub fn apply_to(&self, stored: &mut Option<PersistedState>) {
        let s = match stored {
            Some(s) if !self.reset => s,
            _ => stored.insert(PersistedState::default()),
        };
        s.peer_name = self.peer_name;
        s.ring = self.ring.clone();
        for (ident, data) in &self.owned {
            match data {
                Some(d) => s.owned.insert(ident.clone(), d.clone()),
                None => s.owned.remove(ident),
            };
        }
    }

    /// Folds a later delta into this one, so both are written at once.
    pub fn merge(&mut self, later: PersistDelta) {
        if later.reset {
            *self = later;
            return;
        }
        self.peer_name = later.peer_name;
        self.ring = later.ring;
        self.owned.extend(later.owned);
    }
}

fn encode_one<T: Gob>(value: &T) -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.encode_typed(value).expect("IPAM gob types always encode");
    enc.finish()
}

fn decode_one<T: Gob>(bytes: &[u8]) -> Result<T, MessageError> {
    Ok(Decoder::new(bytes).read::<T>()?)
}

fn owned_to_wire(owned: &BTreeMap<String, OwnedData>) -> BTreeMap<String, OwnedDataW> {
    owned
        .iter()
        .map(|(k, d)| {
            let cidrs = d
                .cidrs
                .iter()
                .map(|c| CidrW { addr: c.addr.0, prefix_len: i64::from(c.prefix_len) })
                .collect();
            (k.clone(), OwnedDataW { is_container: d.is_container, cidrs })
        })
        .collect()
}

fn owned_from_wire(w: &BTreeMap<String, OwnedDataW>) -> BTreeMap<String, OwnedData> {
    w.iter()
        .map(|(k, d)| {
            let cidrs =
                d.cidrs.iter().map(|c| Cidr::new(Address(c.addr), c.prefix_len.clamp(0, 32) as u8)).collect();
            (k.clone(), OwnedData { is_container: d.is_container, cidrs })
        })
        .collect()
}

impl PersistedState {
    pub fn encode(&self) -> Vec<u8> {
        encode_one(&PersistedW {
            peer_name: self.peer_name.0,
            ring: self.ring.as_ref().map(Ring::to_wire),
            owned: Some(owned_to_wire(&self.owned)),
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<PersistedState, MessageError> {
        let w: PersistedW = decode_one(bytes)?;
        Ok(PersistedState {
            peer_name: PeerName(w.peer_name),
            ring: w.ring.as_ref().map(Ring::from_wire),
            owned: w.owned.as_ref().map(owned_from_wire).unwrap_or_default(),
        })
    }
}

/// Weave's `ring` db value (gob `*Ring`).
pub fn ring_to_gob(ring: &Ring) -> Vec<u8> {
    encode_one(&ring.to_wire())
}

pub fn ring_from_gob(bytes: &[u8]) -> Result<Ring, MessageError> {
    Ok(Ring::from_wire(&decode_one::<RingW>(bytes)?))
}

/// Weave's `ownedAddresses` db value (gob `map[string]ownedData`).
pub fn owned_to_gob(owned: &BTreeMap<String, OwnedData>) -> Vec<u8> {
    encode_one(&owned_to_wire(owned))
}

pub fn owned_from_gob(bytes: &[u8]) -> Result<BTreeMap<String, OwnedData>, MessageError> {
    Ok(owned_from_wire(&decode_one::<BTreeMap<String, OwnedDataW>>(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let a = PeerName(0x02_00_00_00_00_0a);
        let mut ring = Ring::new(Address(0x0a20_0000), Address(0x0a30_0000), a).unwrap();
        ring.claim_for_peers(&[a, PeerName(0x0b)]).unwrap();
        let owned: BTreeMap<String, OwnedData> = [
            (
                "c1".to_string(),
                OwnedData { is_container: true, cidrs: vec!["10.32.0.1/12".parse().unwrap()] },
            ),
            ("weave:expose".to_string(), OwnedData { is_container: false, cidrs: vec![] }),
        ]
        .into();
        let state = PersistedState { peer_name: a, ring: Some(ring.clone()), owned: owned.clone() };
        assert_eq!(PersistedState::decode(&state.encode()).unwrap(), state);
        let fresh = PersistedState { peer_name: a, ..Default::default() };
        assert_eq!(PersistedState::decode(&fresh.encode()).unwrap(), fresh);
        assert_eq!(ring_from_gob(&ring_to_gob(&ring)).unwrap(), ring);
        assert_eq!(owned_from_gob(&owned_to_gob(&owned)).unwrap(), owned);
        assert!(PersistedState::decode(&[1, 2, 3]).is_err());
    }
}
