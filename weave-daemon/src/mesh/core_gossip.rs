//! Turning picked gossip into message bodies.

use super::core::TOPOLOGY;
use super::gossip::{Pending, Picked};
use super::peers::Peers;
use weave_wire::protocol::{GossipMsg, Message};
use weave_wire::PeerName;

/// Encodes a picked item: tag 4 with ourselves as src, or tag 6 with the originator.
pub fn encode_picked(peers: &Peers, us: PeerName, picked: Picked) -> Vec<Vec<u8>> {
    let (channel, src, data, broadcast) = match picked {
        Picked::Gossip { channel, data } => (channel, us, data, false),
        Picked::Broadcast { channel, src, data } => (channel, src, data, true),
    };
    let payloads = match data {
        Pending::Topology(names) => {
            debug_assert_eq!(channel, TOPOLOGY);
            vec![peers.encode(&names.0)]
        }
        Pending::Data(d) => d.encode(),
    };
    payloads
        .into_iter()
        .map(|payload| {
            let g = GossipMsg { channel: channel.clone(), src, payload };
            if broadcast {
                Message::GossipBroadcast(g).encode()
            } else {
                Message::Gossip(g).encode()
            }
        })
        .collect()
}
