//! Channel `nameserver`: the mesh calls these from its own task; each takes the entry lock
//! briefly and leaves sending to the mesh (relays as return values, corrections in the
//! [`Outbox`]).

use super::{now, Dns};
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use weave_dns::GossipReply;
use weave_mesh::{GossipData, GossipError, Gossiper, Outbox};
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
    type Update = Result<weave_dns::GossipData, weave_dns::GossipError>;
    type Unicast = ();

    fn decode_update(payload: &[u8]) -> Self::Update {
        Ok(weave_dns::GossipData::decode(payload)?)
    }

    fn decode_unicast(_payload: &[u8]) {}

    fn on_gossip_unicast(&mut self, _src: PeerName, _msg: (), _out: &mut Outbox) -> Result<(), GossipError> {
        Ok(())
    }

    fn on_gossip_broadcast(
        &mut self,
        src: PeerName,
        update: Self::Update,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        let known = &self.known;
        let r = update.and_then(|g| {
            self.dns.change(|ns| ns.on_gossip_broadcast_data(src, g, now(), |p| known.contains(&p)))
        });
        Self::finish(r, out)
    }

    fn gossip(&mut self) -> Option<Box<dyn GossipData>> {
        Some(Box::new(DnsGossip(self.dns.read().gossip(now()))))
    }

    fn on_gossip(
        &mut self,
        update: Self::Update,
        out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        let known = &self.known;
        let r =
            update.and_then(|g| self.dns.change(|ns| ns.on_gossip_data(g, now(), |p| known.contains(&p))));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DnsConfig;
    use std::net::Ipv4Addr;

    fn dns(peer: u64) -> Arc<Dns> {
        let config = DnsConfig {
            domain: "weave.local.".into(),
            ttl: 1,
            listen: "127.0.0.1:0".parse().unwrap(),
            resolv_conf: String::new(),
            state_file: None,
            allow_from: vec![],
            bridges: vec![],
        };
        Dns::new(config, PeerName(peer))
    }

    fn decode(payload: &[u8]) -> <DnsGossiper as Gossiper>::Update {
        DnsGossiper::decode_update(payload)
    }

    fn payload(g: &mut DnsGossiper) -> Vec<u8> {
        let d = g.gossip().unwrap();
        d.encode().remove(0)
    }

    #[test]
    fn entries_of_known_peers_spread_and_leave_with_their_peer() {
        let (a, b) = (dns(1), dns(2));
        let (mut ga, mut gb) = (DnsGossiper::new(a.clone()), DnsGossiper::new(b.clone()));
        a.change(|ns| ns.add_entry("web.weave.local.", "c1", Ipv4Addr::new(10, 0, 0, 1), now()));
        let mut out = Outbox::default();

        // B does not know A yet: A's entries are dropped.
        assert!(gb.on_gossip(decode(&payload(&mut ga)), &mut out).unwrap().is_none());
        assert!(b.lookup("web").is_empty());

        // Once A is in the topology, they are taken and relayed as new.
        gb.on_peers_added(&[PeerName(1)]);
        assert!(gb.on_gossip(decode(&payload(&mut ga)), &mut out).unwrap().is_some());
        assert_eq!(b.lookup("web"), vec![Ipv4Addr::new(10, 0, 0, 1)]);
        // Nothing new the second time.
        assert!(gb.on_gossip(decode(&payload(&mut ga)), &mut out).unwrap().is_none());

        // A broadcast of A's removal reaches B and is relayed on.
        let removal = a.change(|ns| ns.delete(None, Some("c1"), None, now())).unwrap();
        let relay = gb.on_gossip_broadcast(PeerName(1), decode(&removal.encode()), &mut out).unwrap();
        assert!(relay.is_some());
        assert!(b.lookup("web").is_empty());

        // A peer leaving the topology takes its entries along.
        a.change(|ns| ns.add_entry("db.weave.local.", "c2", Ipv4Addr::new(10, 0, 0, 2), now()));
        gb.on_gossip(decode(&payload(&mut ga)), &mut out).unwrap();
        assert_eq!(b.lookup("db").len(), 1);
        gb.on_peers_removed(&[PeerName(1)]);
        assert!(b.lookup("db").is_empty());
        assert!(b.read().entries().is_empty());
        assert!(out.broadcasts.is_empty(), "nobody claimed to be B");
    }

    #[test]
    fn garbage_and_skewed_clocks_are_refused() {
        let b = dns(2);
        let mut gb = DnsGossiper::new(b.clone());
        let mut out = Outbox::default();
        assert!(gb.on_gossip(decode(b"not gob"), &mut out).is_err());
        let skewed = weave_dns::GossipData::new(now() + 3600, vec![]);
        let err = gb.on_gossip(decode(&skewed.encode()), &mut out).err().unwrap();
        assert!(err.0.contains("clock skew"), "{}", err.0);
    }
}
