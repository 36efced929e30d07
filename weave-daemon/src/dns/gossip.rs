//! Channel `nameserver`: the mesh calls these from its own task; each takes the entry lock
//! briefly and leaves sending to the mesh (relays as return values, corrections in the
//! [`Outbox`]).

use super::{now, Dns};
use crate::mesh::{GossipData, GossipError, Gossiper, Outbox};
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use weave_dns::GossipReply;
use weave_wire::PeerName;

/// Entries to send; queued copies merge (newest version of each entry wins).
#[derive(Clone)]
pub struct DnsGossip(pub weave_dns::GossipData);

impl GossipData for DnsGossip {
    fn encode(&self) -> Vec<Vec<u8>> {
        vec![self.0.encode()]
    }
    fn merge(&mut self, other: &dyn GossipData) {
        if let Some(o) = other.as_any().downcast_ref::<DnsGossip>() {
            self.0.merge(&o.0);
        }
    }
    fn clone_box(&self) -> Box<dyn GossipData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub struct DnsGossiper {
    dns: Arc<Dns>,
    /// Peers in the topology: entries of others are dropped on receipt, so a departed peer's
    /// entries are not brought back by a neighbour that has not yet noticed it left.
    known: HashSet<PeerName>,
}

impl DnsGossiper {
    pub fn new(dns: Arc<Dns>) -> DnsGossiper {
        let us = dns.read().our_name();
        DnsGossiper { dns, known: HashSet::from([us]) }
    }

    fn boxed(d: Option<weave_dns::GossipData>) -> Option<Box<dyn GossipData>> {
        d.map(|d| Box::new(DnsGossip(d)) as Box<dyn GossipData>)
    }

    fn finish(
        r: Result<GossipReply, weave_dns::GossipError>,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        let reply = r.map_err(|e| {
            tracing::warn!("refusing DNS gossip: {e}");
            GossipError(e.to_string())
        })?;
        out.broadcasts.extend(Self::boxed(reply.broadcast));
        Ok(Self::boxed(reply.relay))
    }
}

impl Gossiper for DnsGossiper {
    fn on_gossip_unicast(
        &mut self,
        _src: PeerName,
        _msg: &[u8],
        _out: &mut Outbox,
    ) -> Result<(), GossipError> {
        Ok(())
    }

    fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        update: &[u8],
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        let known = &self.known;
        let r = self.dns.change(|ns| ns.on_gossip_broadcast(src, update, now(), |p| known.contains(&p)));
        Self::finish(r, out)
    }

    fn gossip(&mut self) -> Option<Box<dyn GossipData>> {
        Some(Box::new(DnsGossip(self.dns.read().gossip(now()))))
    }

    fn on_gossip(
        &mut self,
        update: &[u8],
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        let known = &self.known;
        let r = self.dns.change(|ns| ns.on_gossip(update, now(), |p| known.contains(&p)));
        Self::finish(r, out)
    }

    fn on_peers_removed(&mut self, peers: &[PeerName]) {
        for p in peers {
            self.known.remove(p);
        }
        self.dns.change(|ns| peers.iter().for_each(|p| ns.peer_gone(*p)));
    }

    fn on_peers_added(&mut self, peers: &[PeerName]) {
        self.known.extend(peers);
    }
}
