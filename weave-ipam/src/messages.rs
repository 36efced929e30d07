//! Payloads of the `IPallocation` gossip channel. Gossip and broadcasts carry a gob
//! `gossipState`; unicasts carry one kind byte and a gob body (`Range` or `gossipState`). Each
//! payload is its own gob stream. As in Go, a decoder reads the first value and ignores any bytes
//! after it.

use std::collections::BTreeMap;

use weave_wire::gob::{self, Decoder, Encoder, Gob};
use weave_wire::PeerName;

use crate::address::{Address, Range};
use crate::paxos;
use crate::ring::Ring;
use crate::wire::{GossipStateW, RangeW};

/// The gob channel name.
pub const CHANNEL: &str = "IPallocation";

/// Unicast kind bytes.
pub const MSG_SPACE_REQUEST: u8 = 0;
pub const MSG_RING_UPDATE: u8 = 1;
pub const MSG_SPACE_REQUEST_DENIED: u8 = 2;

/// Weave's `gossipState`. `None` fields are Go nil (left off the wire); `Some` of an empty map
/// is sent (and means something: an empty Paxos map comes from an elector, a missing one from an
/// observer or a peer that has a ring).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GossipState {
    /// Unix seconds at the sender (informational).
    pub now: i64,
    pub nicknames: Option<BTreeMap<PeerName, String>>,
    pub paxos: Option<paxos::GossipState>,
    pub ring: Option<Ring>,
}

/// A unicast payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Unicast {
    /// "Give me space in this range" (a single address for a claim).
    SpaceRequest(Range),
    /// The sender's state, always sent back to whoever asked for space or a ring.
    RingUpdate(GossipState),
    /// "I have nothing free in this range."
    SpaceRequestDenied(Range),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("empty IPAM unicast message")]
    Empty,
    #[error("unknown IPAM unicast message kind {0}")]
    UnknownKind(u8),
    #[error("decoding IPAM message: {0}")]
    Gob(#[from] gob::Error),
}

/// Reads the first gob value of a stream, as Go's `Decoder.Decode` does.
fn decode_first<T: Gob>(bytes: &[u8]) -> Result<T, MessageError> {
    Ok(Decoder::new(bytes).read::<T>()?)
}

fn encode_one<T: Gob>(value: &T) -> Vec<u8> {
    let mut enc = Encoder::new();
    // Only fails for types nested deeper than the codec allows; ours are fixed and shallow.
    enc.encode_typed(value).expect("IPAM gob types always encode");
    enc.finish()
}

impl GossipState {
    pub fn encode(&self) -> Vec<u8> {
        encode_one(&self.to_wire())
    }

    pub fn decode(bytes: &[u8]) -> Result<GossipState, MessageError> {
        Ok(GossipState::from_wire(&decode_first::<GossipStateW>(bytes)?))
    }

    fn to_wire(&self) -> GossipStateW {
        GossipStateW {
            now: self.now,
            nicknames: self.nicknames.as_ref().map(|m| m.iter().map(|(k, v)| (k.0, v.clone())).collect()),
            paxos: self.paxos.as_ref().map(paxos::state_to_wire),
            ring: self.ring.as_ref().map(Ring::to_wire),
        }
    }

    fn from_wire(w: &GossipStateW) -> GossipState {
        GossipState {
            now: w.now,
            nicknames: w
                .nicknames
                .as_ref()
                .map(|m| m.iter().map(|(k, v)| (PeerName(*k), v.clone())).collect()),
            paxos: w.paxos.as_ref().map(paxos::state_from_wire),
            ring: w.ring.as_ref().map(Ring::from_wire),
        }
    }
}

impl Unicast {
    pub fn encode(&self) -> Vec<u8> {
        let range = |kind: u8, r: &Range| {
            let mut out = vec![kind];
            out.extend(encode_one(&RangeW { start: r.start.0, end: r.end.0 }));
            out
        };
        match self {
            Unicast::SpaceRequest(r) => range(MSG_SPACE_REQUEST, r),
            Unicast::SpaceRequestDenied(r) => range(MSG_SPACE_REQUEST_DENIED, r),
            Unicast::RingUpdate(state) => {
                let mut out = vec![MSG_RING_UPDATE];
                out.extend(state.encode());
                out
            }
        }
    }

    pub fn decode(payload: &[u8]) -> Result<Unicast, MessageError> {
        let (&kind, body) = payload.split_first().ok_or(MessageError::Empty)?;
        let range = |body: &[u8]| -> Result<Range, MessageError> {
            let w: RangeW = decode_first(body)?;
            Ok(Range { start: Address(w.start), end: Address(w.end) })
        };
        match kind {
            MSG_SPACE_REQUEST => Ok(Unicast::SpaceRequest(range(body)?)),
            MSG_RING_UPDATE => Ok(Unicast::RingUpdate(GossipState::decode(body)?)),
            MSG_SPACE_REQUEST_DENIED => Ok(Unicast::SpaceRequestDenied(range(body)?)),
            other => Err(MessageError::UnknownKind(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Entry;

    #[test]
    fn round_trips() {
        let a = PeerName(0x02_00_00_00_00_0a);
        let mut ring = Ring::new(Address(0x0a20_0000), Address(0x0a30_0000), a).unwrap();
        ring.claim_for_peers(&[a]).unwrap();
        ring.entries.push(Entry { token: Address(0x0a28_0000), peer: PeerName(3), version: 7, free: 0 });
        ring.entries[0].free = 5;
        let id = paxos::NodeId { name: a, uid: 99 };
        let state = GossipState {
            now: 1795804708,
            nicknames: Some([(a, "hostA".to_string())].into()),
            paxos: Some([(id, paxos::NodeClaims::default())].into()),
            ring: Some(ring),
        };
        assert_eq!(GossipState::decode(&state.encode()).unwrap(), state);
        let empty = GossipState { paxos: Some(BTreeMap::new()), ..GossipState::default() };
        assert_eq!(GossipState::decode(&empty.encode()).unwrap(), empty, "empty map is not nil");
        assert_eq!(GossipState::decode(&GossipState::default().encode()).unwrap(), GossipState::default());

        let r = Range { start: Address(0x0a28_0005), end: Address(0x0a28_0006) };
        for u in [Unicast::SpaceRequest(r), Unicast::SpaceRequestDenied(r), Unicast::RingUpdate(state)] {
            assert_eq!(Unicast::decode(&u.encode()).unwrap(), u);
        }
        assert_eq!(Unicast::decode(&[]), Err(MessageError::Empty));
        assert_eq!(Unicast::decode(&[9, 1, 2]), Err(MessageError::UnknownKind(9)));
        assert!(Unicast::decode(&[0]).is_err());
    }

    #[test]
    fn trailing_bytes_are_ignored_like_go() {
        let mut bytes = GossipState { now: 5, ..Default::default() }.encode();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(GossipState::decode(&bytes).unwrap().now, 5);
    }
}
