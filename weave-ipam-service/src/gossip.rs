//! The `IPallocation` gossip channel: the mesh calls these from its own task, so they take the
//! IPAM lock briefly, persist what must be persisted before anything is sent, and leave the
//! sending to the mesh through the [`Outbox`].

use super::{now, Ipam};
use std::any::Any;
use std::sync::Arc;
use weave_ipam::allocator::GossipError as GossipErrorKind;
use weave_ipam::messages::{GossipState, MessageError, Unicast};
use weave_ipam::PeerName;
use weave_mesh::{GossipData, GossipError, Gossiper, Outbox};

/// Our full IPAM state, encoded when it is sent (as Weave's gossip data), so queued copies
/// merge into one message carrying the latest state.
#[derive(Clone)]
pub struct Latest(pub Arc<Ipam>);

impl GossipData for Latest {
    fn encode(&self) -> Vec<Vec<u8>> {
        vec![self.0.lock().alloc.gossip(now())]
    }
    fn merge(&mut self, _other: &dyn GossipData) {}
    fn clone_box(&self) -> Box<dyn GossipData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub struct IpamGossiper(pub Arc<Ipam>);

impl IpamGossiper {
    /// Runs a callback on the allocator, executes its outputs into `out`, and turns an error
    /// into one that closes the connection (remembered for status).
    fn handle<T>(
        &self,
        peer: Option<PeerName>,
        out: &mut Outbox,
        f: impl FnOnce(&mut weave_ipam::Allocator) -> Result<T, GossipErrorKind>,
    ) -> Result<T, GossipError> {
        let ipam = &self.0;
        let mut core = ipam.lock();
        let result = f(&mut core.alloc);
        // Durable before the lock is released and before anything is handed to the mesh.
        let batch = core.stage(&ipam.persister);
        let sends = match ipam.finish(batch) {
            Ok(s) => s,
            Err(e) => return Err(GossipError(e.to_string())),
        };
        if sends.broadcast {
            out.broadcasts.push(Box::new(Latest(ipam.clone())));
        }
        out.unicasts.extend(sends.unicasts);
        result.map_err(|e| {
            let text = e.to_string();
            if core.record_error(peer, text.clone(), now()) {
                tracing::warn!(peer = ?peer.map(|p| p.to_string()), "refusing IPAM gossip: {text}");
                let _ = ipam.events.send(weave_api::Event::IpamError {
                    peer: peer.map(|p| p.to_string()),
                    error: text.clone(),
                });
            }
            GossipError(text)
        })
    }
}

impl Gossiper for IpamGossiper {
    type Update = Result<GossipState, MessageError>;
    type Unicast = Result<Unicast, MessageError>;

    fn decode_update(payload: &[u8]) -> Self::Update {
        GossipState::decode(payload)
    }

    fn decode_unicast(payload: &[u8]) -> Self::Unicast {
        Unicast::decode(payload)
    }

    fn on_gossip_unicast(
        &mut self,
        src: PeerName,
        msg: Self::Unicast,
        out: &mut Outbox,
    ) -> Result<(), GossipError> {
        self.handle(Some(src), out, |a| a.on_unicast_message(now(), src, msg))
    }

    fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        update: Self::Update,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        self.handle(Some(src), out, |a| a.on_broadcast_state(now(), src, update))?;
        Ok(Some(Box::new(Latest(self.0.clone()))))
    }

    fn gossip(&mut self) -> Option<Box<dyn GossipData>> {
        Some(Box::new(Latest(self.0.clone())))
    }

    fn on_gossip(
        &mut self,
        update: Self::Update,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        self.handle(None, out, |a| a.on_gossip_state(now(), update))?;
        Ok(None)
    }

    fn on_peers_removed(&mut self, peers: &[PeerName]) {
        let mut core = self.0.lock();
        let mut known = core.known.clone();
        for p in peers {
            known.remove(p);
            core.alloc.peer_gone(*p);
        }
        core.set_known(known);
    }
}
