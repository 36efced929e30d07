//! Received message bodies decoded away from the mesh: the [`Decoder`] (shared by every
//! connection task) turns a body into an [`Inbound`], with the envelope and the topology or
//! channel payload decoded, and [`Mesh::inbound`](crate::Mesh::inbound) merges it. Decoding
//! is where a message's cost grows with its size, so a peer sending costly messages holds up
//! its own connection only.

use crate::core::TOPOLOGY;
use crate::gossip::{DecodeFns, Decoded};
use crate::peers::TopologyUpdate;
use std::collections::BTreeMap;
use weave_wire::protocol::{GossipMsg, Message, UnicastMsg};
use weave_wire::PeerName;

/// Decodes message bodies for one mesh; `Send + Sync`, so any task may use it.
#[derive(Clone)]
pub struct Decoder {
    us: PeerName,
    channels: BTreeMap<String, DecodeFns>,
}

/// A decoded message body, for [`Mesh::inbound`](crate::Mesh::inbound).
pub struct Inbound(pub(crate) Kind);

pub(crate) enum Kind {
    /// An empty body, which Weave ignores.
    Empty,
    Heartbeat,
    /// Overlay control (tags 1-3 and 7).
    Overlay {
        tag: u8,
        payload: Vec<u8>,
    },
    Unknown {
        tag: u8,
    },
    /// Tags 4 (gossip) and 6 (broadcast).
    Gossip {
        broadcast: bool,
        channel: String,
        src: PeerName,
        data: Payload,
    },
    /// Tag 5 for another peer: relayed as it came.
    Relay {
        channel: String,
        dst: PeerName,
        body: Vec<u8>,
    },
    /// Tag 5 for us.
    Unicast {
        channel: String,
        src: PeerName,
        data: Payload,
    },
    /// The envelope could not be read: the connection is closed with this reason.
    Bad(String),
}

pub(crate) enum Payload {
    Topology(Result<TopologyUpdate, String>),
    /// By the channel's decoder.
    Decoded(Decoded),
    /// A channel this decoder did not know.
    Raw(Vec<u8>),
}

impl Inbound {
    /// A message that could not be decoded: the mesh closes its connection with `reason`.
    pub fn failed(reason: String) -> Inbound {
        Inbound(Kind::Bad(reason))
    }
}

impl Decoder {
    pub(crate) fn new(us: PeerName, channels: BTreeMap<String, DecodeFns>) -> Decoder {
        Decoder { us, channels }
    }

    pub fn decode(&self, body: &[u8]) -> Inbound {
        let m = match Message::decode(body) {
            Ok(Some(m)) => m,
            Ok(None) => return Inbound(Kind::Empty),
            Err(e) => return Inbound(Kind::Bad(e.to_string())),
        };
        Inbound(match m {
            Message::Heartbeat => Kind::Heartbeat,
            Message::LegacyOverlayControl { tag, payload } => Kind::Overlay { tag, payload },
            Message::OverlayControl(payload) => Kind::Overlay { tag: 7, payload },
            Message::Unknown { tag, .. } => Kind::Unknown { tag },
            Message::Gossip(g) => self.gossip(false, g),
            Message::GossipBroadcast(g) => self.gossip(true, g),
            Message::GossipUnicast(UnicastMsg { channel, dst, .. }) if dst != self.us => {
                Kind::Relay { channel, dst, body: body.to_vec() }
            }
            Message::GossipUnicast(UnicastMsg { channel, .. }) if channel == TOPOLOGY => {
                Kind::Bad("unexpected topology gossip unicast".into())
            }
            Message::GossipUnicast(UnicastMsg { channel, src, payload, .. }) => {
                let data = self.payload(&channel, payload, true);
                Kind::Unicast { channel, src, data }
            }
        })
    }

    fn gossip(&self, broadcast: bool, g: GossipMsg) -> Kind {
        let data = self.payload(&g.channel, g.payload, false);
        Kind::Gossip { broadcast, channel: g.channel, src: g.src, data }
    }

    fn payload(&self, channel: &str, payload: Vec<u8>, unicast: bool) -> Payload {
        if channel == TOPOLOGY {
            return Payload::Topology(TopologyUpdate::decode(&payload).map_err(|e| e.to_string()));
        }
        match self.channels.get(channel) {
            Some(d) if unicast => Payload::Decoded((d.unicast)(&payload)),
            Some(d) => Payload::Decoded((d.update)(&payload)),
            None => Payload::Raw(payload),
        }
    }
}
