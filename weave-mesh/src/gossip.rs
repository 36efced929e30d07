//! Gossip channels: the interface subsystems (IPAM, DNS) implement to share state over the
//! mesh, the per-connection senders that coalesce pending gossip as mesh's `gossip.go`, and the
//! surrogate that relays channels this peer does not know.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};
use weave_wire::PeerName;

/// Data queued for gossip; queued items for the same connection and channel are merged.
pub trait GossipData: Send + Any {
    /// The messages to send (usually one).
    fn encode(&self) -> Vec<Vec<u8>>;
    /// Folds `other` (of the same concrete type) into `self`.
    fn merge(&mut self, other: &dyn GossipData);
    fn clone_box(&self) -> Box<dyn GossipData>;
    fn as_any(&self) -> &dyn Any;
}

/// An error from a gossiper: the connection that delivered the message is closed (as Weave).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GossipError(pub String);

/// What a gossiper wants sent on its channel in answer to a message (a reply to a space
/// request, a correction broadcast): carried out by the mesh after the callback returns.
#[derive(Default)]
pub struct Outbox {
    /// Broadcast from us along our broadcast tree.
    pub broadcasts: Vec<Box<dyn GossipData>>,
    /// Unicast payloads to one peer each.
    pub unicasts: Vec<(PeerName, Vec<u8>)>,
    /// Gossip to a random subset of neighbours.
    pub neighbours: Vec<Box<dyn GossipData>>,
}

/// The receiving side of a channel, as mesh's `Gossiper`. A payload is decoded by
/// [`Gossiper::decode_update`] or [`Gossiper::decode_unicast`] on the task of the connection
/// it came on (see [`Decoder`](crate::Decoder)), so a peer sending costly messages slows its
/// own connection and not the mesh; the callbacks then get the decoded value on the mesh's
/// task. A decoder that fails returns the error inside its value, for the callback to report.
pub trait Gossiper: Send + 'static {
    /// A decoded gossip or broadcast payload.
    type Update: Send + 'static;
    /// A decoded unicast payload.
    type Unicast: Send + 'static;
    fn decode_update(payload: &[u8]) -> Self::Update;
    fn decode_unicast(payload: &[u8]) -> Self::Unicast;
    fn on_gossip_unicast(
        &mut self,
        src: PeerName,
        msg: Self::Unicast,
        out: &mut Outbox,
    ) -> Result<(), GossipError>;
    /// A broadcast from `src`; returns what to relay along `src`'s broadcast tree.
    fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        update: Self::Update,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError>;
    /// Our complete state, sent periodically and to new connections.
    fn gossip(&mut self) -> Option<Box<dyn GossipData>>;
    /// Gossip from a neighbour; returns the part that was new to us, to relay.
    fn on_gossip(
        &mut self,
        update: Self::Update,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError>;
    /// Peers that left the topology.
    fn on_peers_removed(&mut self, _peers: &[PeerName]) {}
    /// Peers that joined the topology (called before any gossip they originated is delivered).
    fn on_peers_added(&mut self, _peers: &[PeerName]) {}
}

/// A payload decoded by its channel's decoder, its type known to that channel only.
pub(crate) type Decoded = Box<dyn Any + Send>;

/// A channel's decoders with the type erased, callable from any task.
#[derive(Clone, Copy)]
pub(crate) struct DecodeFns {
    pub update: fn(&[u8]) -> Decoded,
    pub unicast: fn(&[u8]) -> Decoded,
}

fn decode_update<G: Gossiper>(payload: &[u8]) -> Decoded {
    Box::new(G::decode_update(payload))
}

fn decode_unicast<G: Gossiper>(payload: &[u8]) -> Decoded {
    Box::new(G::decode_unicast(payload))
}

/// A gossiper with its payload types erased, as the mesh holds it.
pub(crate) trait ErasedGossiper: Send {
    fn on_gossip_unicast(&mut self, src: PeerName, msg: Decoded, out: &mut Outbox)
        -> Result<(), GossipError>;
    fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        update: Decoded,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError>;
    fn gossip(&mut self) -> Option<Box<dyn GossipData>>;
    fn on_gossip(
        &mut self,
        update: Decoded,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError>;
    fn on_peers_removed(&mut self, peers: &[PeerName]);
    fn on_peers_added(&mut self, peers: &[PeerName]);
}

/// The value the channel's own decoder made (the mesh pairs them by channel name).
fn typed<T: 'static>(d: Decoded) -> Result<T, GossipError> {
    d.downcast::<T>()
        .map(|b| *b)
        .map_err(|_| GossipError("payload decoded by another channel's decoder".into()))
}

impl<G: Gossiper> ErasedGossiper for G {
    fn on_gossip_unicast(
        &mut self,
        src: PeerName,
        msg: Decoded,
        out: &mut Outbox,
    ) -> Result<(), GossipError> {
        Gossiper::on_gossip_unicast(self, src, typed(msg)?, out)
    }
    fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        update: Decoded,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        Gossiper::on_gossip_broadcast(self, src, typed(update)?, out)
    }
    fn gossip(&mut self) -> Option<Box<dyn GossipData>> {
        Gossiper::gossip(self)
    }
    fn on_gossip(
        &mut self,
        update: Decoded,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        Gossiper::on_gossip(self, typed(update)?, out)
    }
    fn on_peers_removed(&mut self, peers: &[PeerName]) {
        Gossiper::on_peers_removed(self, peers)
    }
    fn on_peers_added(&mut self, peers: &[PeerName]) {
        Gossiper::on_peers_added(self, peers)
    }
}

/// A subsystem's gossip channel, ready to register with the mesh.
pub struct Channel {
    pub(crate) name: String,
    pub(crate) gossiper: Box<dyn ErasedGossiper>,
    pub(crate) decode: DecodeFns,
}

impl Channel {
    pub fn new<G: Gossiper>(name: &str, gossiper: G) -> Channel {
        Channel {
            name: name.to_string(),
            gossiper: Box::new(gossiper),
            decode: DecodeFns { update: decode_update::<G>, unicast: decode_unicast::<G> },
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Opaque messages, relayed as they are (surrogate channels and tests).
#[derive(Clone, Default)]
pub struct Messages(pub Vec<Vec<u8>>);

impl GossipData for Messages {
    fn encode(&self) -> Vec<Vec<u8>> {
        self.0.clone()
    }
    fn merge(&mut self, other: &dyn GossipData) {
        if let Some(o) = other.as_any().downcast_ref::<Messages>() {
            self.0.extend(o.0.iter().cloned());
        }
    }
    fn clone_box(&self) -> Box<dyn GossipData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The topology channel's data: the names whose current summaries to send. Encoded only when
/// sent, so a queued update always carries the latest information.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct TopologyNames(pub BTreeSet<PeerName>);

/// What waits to be sent on one channel of one connection.
pub enum Pending {
    Topology(TopologyNames),
    Data(Box<dyn GossipData>),
}

impl Pending {
    fn merge(&mut self, other: Pending) {
        match (self, other) {
            (Pending::Topology(a), Pending::Topology(b)) => a.0.extend(b.0),
            (Pending::Data(a), Pending::Data(b)) => a.merge(b.as_ref()),
            (slot, other) => *slot = other,
        }
    }

    pub fn clone_pending(&self) -> Pending {
        match self {
            Pending::Topology(t) => Pending::Topology(t.clone()),
            Pending::Data(d) => Pending::Data(d.clone_box()),
        }
    }
}

/// One item picked for sending.
pub enum Picked {
    /// Tag 4, src = ourselves.
    Gossip { channel: String, data: Pending },
    /// Tag 6, src = the originator.
    Broadcast { channel: String, src: PeerName, data: Pending },
}

/// Pending gossip of one connection: per channel, the merged plain gossip and the merged
/// broadcasts per originator. Plain gossip goes first, as in Weave; channels take turns.
#[derive(Default)]
pub struct Senders {
    channels: BTreeMap<String, ChannelQueue>,
    turn: VecDeque<String>,
}

#[derive(Default)]
struct ChannelQueue {
    gossip: Option<Pending>,
    broadcasts: BTreeMap<PeerName, Pending>,
}

impl Senders {
    pub fn send(&mut self, channel: &str, data: Pending) {
        let q = self.queue(channel);
        match &mut q.gossip {
            Some(p) => p.merge(data),
            slot => *slot = Some(data),
        }
    }

    pub fn broadcast(&mut self, channel: &str, src: PeerName, data: Pending) {
        let q = self.queue(channel);
        match q.broadcasts.get_mut(&src) {
            Some(p) => p.merge(data),
            None => {
                q.broadcasts.insert(src, data);
            }
        }
    }

    fn queue(&mut self, channel: &str) -> &mut ChannelQueue {
        if !self.channels.contains_key(channel) {
            self.channels.insert(channel.to_string(), ChannelQueue::default());
            self.turn.push_back(channel.to_string());
        }
        self.channels.get_mut(channel).expect("inserted above")
    }

    pub fn is_empty(&self) -> bool {
        self.channels.values().all(|q| q.gossip.is_none() && q.broadcasts.is_empty())
    }

    /// The next item to send, taking channels in turn.
    pub fn pick(&mut self) -> Option<Picked> {
        // Runs for every connection after every input: the channel's name is copied only
        // when there is something to send.
        for _ in 0..self.turn.len() {
            let channel = self.turn.pop_front()?;
            let picked = self.channels.get_mut(&channel).and_then(|q| {
                if let Some(data) = q.gossip.take() {
                    return Some(Picked::Gossip { channel: channel.clone(), data });
                }
                let (src, data) = q.broadcasts.pop_first()?;
                Some(Picked::Broadcast { channel: channel.clone(), src, data })
            });
            self.turn.push_back(channel);
            if picked.is_some() {
                return picked;
            }
        }
        None
    }
}

/// Relays channels we have no gossiper for, de-duplicating plain gossip for one gossip
/// interval (by content) as mesh's surrogate gossiper; unicasts to us are dropped.
#[derive(Default)]
pub struct Surrogate {
    seen: VecDeque<(Instant, Vec<u8>)>,
}

impl Surrogate {
    /// Returns what to relay for a plain gossip message, or `None` for a recent duplicate.
    pub fn on_gossip(&mut self, now: Instant, update: &[u8], interval: Duration) -> Option<Messages> {
        while self.seen.front().is_some_and(|(t, _)| now.duration_since(*t) >= interval) {
            self.seen.pop_front();
        }
        if self.seen.iter().any(|(_, m)| m == update) {
            return None;
        }
        self.seen.push_back((now, update.to_vec()));
        Some(Messages(vec![update.to_vec()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[u64]) -> Pending {
        Pending::Topology(TopologyNames(v.iter().map(|&n| PeerName(n)).collect()))
    }

    #[test]
    fn pending_gossip_is_merged_and_goes_before_broadcasts() {
        let mut s = Senders::default();
        s.broadcast("topology", PeerName(9), names(&[9]));
        s.send("topology", names(&[1]));
        s.send("topology", names(&[2]));
        match s.pick() {
            Some(Picked::Gossip { data: Pending::Topology(t), .. }) => {
                assert_eq!(t.0, [PeerName(1), PeerName(2)].into_iter().collect())
            }
            _ => panic!("expected merged gossip first"),
        }
        assert!(matches!(s.pick(), Some(Picked::Broadcast { src: PeerName(9), .. })));
        assert!(s.pick().is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn channels_take_turns() {
        let mut s = Senders::default();
        s.send("a", Pending::Data(Box::new(Messages(vec![b"a1".to_vec()]))));
        s.broadcast("a", PeerName(1), Pending::Data(Box::new(Messages(vec![b"a2".to_vec()]))));
        s.send("b", Pending::Data(Box::new(Messages(vec![b"b1".to_vec()]))));
        let order: Vec<String> = std::iter::from_fn(|| s.pick())
            .map(|p| match p {
                Picked::Gossip { channel, .. } | Picked::Broadcast { channel, .. } => channel,
            })
            .collect();
        assert_eq!(order, ["a", "b", "a"]);
    }

    #[test]
    fn surrogate_drops_repeats_within_an_interval() {
        let mut s = Surrogate::default();
        let t0 = Instant::now();
        let i = Duration::from_secs(30);
        assert!(s.on_gossip(t0, b"x", i).is_some());
        assert!(s.on_gossip(t0 + Duration::from_secs(1), b"x", i).is_none());
        assert!(s.on_gossip(t0 + Duration::from_secs(1), b"y", i).is_some());
        assert!(s.on_gossip(t0 + Duration::from_secs(31), b"x", i).is_some());
    }
}
