//! The core's gossip handling: what arrives on a connection goes to its channel (topology to
//! the peers, the others to their [`Gossiper`] or a surrogate) and what they answer is relayed
//! on; our own and relayed gossip waits in each connection's senders until it has room.

use super::{ConnId, Mesh, MeshEvent, Output, GC_DELAY, TOPOLOGY, WINDOW};
use crate::gossip::{
    DecodeFns, Decoded, GossipData, Messages, Outbox, Pending, Picked, Senders, TopologyNames,
};
use crate::inbound::Payload;
use crate::peers::{Peers, TopologyUpdate};
use rand::RngExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use weave_wire::protocol::{GossipMsg, Message, UnicastMsg};
use weave_wire::PeerName;

impl Mesh {
    /// Broadcast `data` on `channel` to every peer (along our broadcast tree).
    pub fn gossip_broadcast(&mut self, now: Instant, channel: &str, data: Box<dyn GossipData>) {
        let us = self.cfg.name;
        self.relay_broadcast(us, channel, Pending::Data(data));
        self.after_input(now);
    }

    /// Gossip `data` on `channel` to a random subset of neighbours.
    pub fn gossip_neighbours(&mut self, now: Instant, channel: &str, data: Box<dyn GossipData>) {
        let us = self.cfg.name;
        self.relay(us, channel, Pending::Data(data));
        self.after_input(now);
    }

    /// Send `payload` on `channel` to one peer, relayed hop by hop.
    pub fn gossip_unicast(
        &mut self,
        now: Instant,
        channel: &str,
        dst: PeerName,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        let msg =
            Message::GossipUnicast(UnicastMsg { channel: channel.into(), src: self.cfg.name, dst, payload });
        let r = self.relay_unicast(dst, msg.encode());
        self.after_input(now);
        r
    }

    /// No gossip waits to be written to any established connection: none queued, none in
    /// flight.
    pub fn gossip_settled(&self) -> bool {
        self.conns.values().filter(|c| c.registered).all(|c| c.inflight == 0 && c.senders.is_empty())
    }

    // ---- relaying -------------------------------------------------------------------------

    fn conn_senders(&mut self, id: ConnId) -> Option<&mut Senders> {
        self.conns.get_mut(&id).filter(|c| c.registered).map(|c| &mut c.senders)
    }

    pub(super) fn send_all_gossip_down(&mut self, id: ConnId) {
        let all = Pending::Topology(TopologyNames(self.peers.names()));
        let mut items = vec![(TOPOLOGY.to_string(), all)];
        for (name, g) in self.channels.iter_mut() {
            if let Some(d) = g.gossip() {
                items.push((name.clone(), Pending::Data(d)));
            }
        }
        if let Some(s) = self.conn_senders(id) {
            for (channel, data) in items {
                s.send(&channel, data);
            }
        }
    }

    pub(super) fn send_all_gossip(&mut self) {
        let us = self.cfg.name;
        let all = Pending::Topology(TopologyNames(self.peers.names()));
        self.relay(us, TOPOLOGY, all);
        let mut items = vec![];
        for (name, g) in self.channels.iter_mut() {
            if let Some(d) = g.gossip() {
                items.push((name.clone(), d));
            }
        }
        for (channel, d) in items {
            self.relay(us, &channel, Pending::Data(d));
        }
    }

    /// Carries out what a gossiper asked for during a callback.
    fn send_outbox(&mut self, channel: &str, out: Outbox) {
        let us = self.cfg.name;
        for b in out.broadcasts {
            self.relay_broadcast(us, channel, Pending::Data(b));
        }
        for n in out.neighbours {
            self.relay(us, channel, Pending::Data(n));
        }
        for (dst, payload) in out.unicasts {
            let msg = Message::GossipUnicast(UnicastMsg { channel: channel.into(), src: us, dst, payload });
            if let Err(e) = self.relay_unicast(dst, msg.encode()) {
                tracing::info!(%channel, "[gossip]: {e}");
            }
        }
    }

    /// Plain gossip to a random subset of neighbours (excluding the one it came from).
    /// Relays use the routes as last calculated (at most `ROUTES_DELAY` old, as Weave's, which
    /// recalculates them in the background): recalculating for every relayed message made a
    /// forming mesh's cost grow with the cube of its size.
    pub(super) fn relay(&mut self, except: PeerName, channel: &str, data: Pending) {
        let mut hops = self.routes.random_neighbours(except, &mut self.rng);
        self.top_up_with_neighbours(except, &mut hops);
        if hops.is_empty() {
            // Our only neighbour told us: the news goes out with our next topology update,
            // which a new connection brings within a second (instead of the periodic gossip).
            if let Pending::Topology(TopologyNames(names)) = &data {
                self.topology_pending.extend(names.iter().copied());
            }
            return;
        }
        for hop in hops {
            if let Some(&id) = self.by_remote.get(&hop) {
                if let Some(s) = self.conn_senders(id) {
                    s.send(channel, data.clone_pending());
                }
            }
        }
    }

    /// Routes come from both ends' announcements, so while a mesh forms they lag behind the
    /// connections: a peer that just learnt the others through one neighbour routes everything
    /// through it, and the news it relays would have no hop but the one it came from (and wait
    /// for the periodic gossip, 30 s). Up to 2·log₂(peers) hops, the rest are drawn from our
    /// own connections; gossip may go to any neighbour.
    fn top_up_with_neighbours(&mut self, except: PeerName, hops: &mut Vec<PeerName>) {
        let want = (2.0 * (self.peers.len() as f64).log2()).ceil() as usize;
        if hops.len() >= want {
            return;
        }
        let mut rest: Vec<PeerName> =
            self.by_remote.keys().copied().filter(|p| *p != except && !hops.contains(p)).collect();
        while hops.len() < want && !rest.is_empty() {
            let i = self.rng.random_range(0..rest.len());
            hops.push(rest.swap_remove(i));
        }
    }

    /// A broadcast from `src` along its broadcast tree (over all connections).
    pub(super) fn relay_broadcast(&mut self, src: PeerName, channel: &str, data: Pending) {
        let routes = self.routes.clone();
        for &hop in routes.broadcast_all_hops(&src) {
            if let Some(&id) = self.by_remote.get(&hop) {
                if let Some(s) = self.conn_senders(id) {
                    s.broadcast(channel, src, data.clone_pending());
                }
            }
        }
    }

    pub(super) fn relay_unicast(&mut self, dst: PeerName, body: Vec<u8>) -> Result<(), String> {
        self.ensure_routes();
        let Some(&hop) = self.routes.unicast_all.get(&dst) else {
            return Err(format!("unknown relay destination: {dst}"));
        };
        let Some(&id) = self.by_remote.get(&hop) else {
            return Err(format!("unable to find connection to relay peer {hop}"));
        };
        self.out.push(Output::Send { conn: id, body, gossip: false });
        Ok(())
    }

    /// Moves pending gossip into `Send` outputs while connections have room.
    pub(super) fn flush(&mut self) {
        let ready = |c: &&super::LocalConn| c.registered && c.inflight < WINDOW && !c.senders.is_empty();
        if !self.conns.values().any(|c| ready(&c)) {
            return;
        }
        let ids: Vec<ConnId> = self.conns.iter().filter(|(_, c)| ready(c)).map(|(id, _)| *id).collect();
        for id in ids {
            while let Some(c) = self.conns.get_mut(&id).filter(|c| c.inflight < WINDOW) {
                let Some(picked) = c.senders.pick() else { break };
                let bodies = encode_picked(&mut self.peers, self.cfg.name, picked);
                let c = self.conns.get_mut(&id).expect("still present");
                c.inflight += bodies.len();
                for body in bodies {
                    self.out.push(Output::Send { conn: id, body, gossip: true });
                }
            }
        }
    }

    pub(super) fn on_gossip(
        &mut self,
        now: Instant,
        channel: String,
        src: PeerName,
        data: Payload,
    ) -> Result<(), String> {
        let data = match data {
            Payload::Topology(update) => {
                let applied = self.apply_topology(now, update?);
                if !applied.is_empty() {
                    self.relay(src, TOPOLOGY, Pending::Topology(TopologyNames(applied)));
                }
                return Ok(());
            }
            other => other,
        };
        let delta = match self.channels.get_mut(&channel) {
            Some(gossiper) => {
                let decoded = decoded(&self.decoders, &channel, data, false);
                let mut out = Outbox::default();
                let r = gossiper.on_gossip(decoded, &mut out).map_err(|e| e.to_string());
                self.send_outbox(&channel, out);
                r?
            }
            None => {
                let Payload::Raw(payload) = data else { return Ok(()) };
                let interval = self.cfg.gossip_interval;
                let s = self.surrogates.entry(channel.clone()).or_default();
                s.on_gossip(now, &payload, interval).map(|m| Box::new(m) as Box<dyn GossipData>)
            }
        };
        if let Some(d) = delta {
            self.relay(src, &channel, Pending::Data(d));
        }
        Ok(())
    }

    pub(super) fn on_broadcast(
        &mut self,
        now: Instant,
        channel: String,
        src: PeerName,
        data: Payload,
    ) -> Result<(), String> {
        let data = match data {
            Payload::Topology(update) => {
                let received = self.apply_topology_received(now, update?);
                if !received.is_empty() {
                    self.relay_broadcast(src, TOPOLOGY, Pending::Topology(TopologyNames(received)));
                }
                return Ok(());
            }
            other => other,
        };
        let relay = match self.channels.get_mut(&channel) {
            Some(gossiper) => {
                let decoded = decoded(&self.decoders, &channel, data, false);
                let mut out = Outbox::default();
                let r = gossiper.on_gossip_broadcast(src, decoded, &mut out).map_err(|e| e.to_string());
                self.send_outbox(&channel, out);
                r?
            }
            None => match data {
                Payload::Raw(payload) => Some(Box::new(Messages(vec![payload])) as Box<dyn GossipData>),
                _ => None,
            },
        };
        if let Some(d) = relay {
            self.relay_broadcast(src, &channel, Pending::Data(d));
        }
        Ok(())
    }

    pub(super) fn on_unicast(&mut self, channel: String, src: PeerName, data: Payload) -> Result<(), String> {
        if !self.channels.contains_key(&channel) {
            return Ok(());
        }
        let decoded = decoded(&self.decoders, &channel, data, true);
        let gossiper = self.channels.get_mut(&channel).expect("checked above");
        let mut out = Outbox::default();
        let r = gossiper.on_gossip_unicast(src, decoded, &mut out).map_err(|e| e.to_string());
        self.send_outbox(&channel, out);
        r
    }

    /// Applies a topology update; returns the names whose information was new.
    fn apply_topology(&mut self, now: Instant, update: TopologyUpdate) -> BTreeSet<PeerName> {
        self.apply_topology_full(now, update).1
    }

    /// Applies a topology broadcast; returns every name it carried, all relayed as Weave.
    fn apply_topology_received(&mut self, now: Instant, update: TopologyUpdate) -> BTreeSet<PeerName> {
        self.apply_topology_full(now, update).0
    }

    fn apply_topology_full(
        &mut self,
        now: Instant,
        update: TopologyUpdate,
    ) -> (BTreeSet<PeerName>, BTreeSet<PeerName>) {
        let known_before = self.peers.names();
        let applied = self.peers.apply_decoded(update);
        let added: Vec<PeerName> = self.peers.names().difference(&known_before).copied().collect();
        for name in &added {
            if let Some(p) = self.peers.get(name) {
                self.out
                    .push(Output::Event(MeshEvent::PeerAdded { name: *name, nickname: p.nickname.clone() }));
            }
        }
        if !added.is_empty() {
            for g in self.channels.values_mut() {
                g.on_peers_added(&added);
            }
        }
        let mut new = applied.new;
        for p in &applied.changes.removed {
            new.remove(&p.name);
        }
        self.handle_changes(now, applied.changes);
        if !new.is_empty() {
            self.maker_dirty = true;
            self.mark_routes_dirty(now);
        }
        self.gc_at.get_or_insert(now + GC_DELAY);
        (applied.received, new)
    }
}

/// The channel's decoded payload; one that arrived raw (decoded before the channel was
/// registered) is decoded here.
fn decoded(decoders: &BTreeMap<String, DecodeFns>, channel: &str, data: Payload, unicast: bool) -> Decoded {
    match data {
        Payload::Decoded(d) => d,
        Payload::Raw(bytes) => match decoders.get(channel) {
            Some(d) if unicast => (d.unicast)(&bytes),
            Some(d) => (d.update)(&bytes),
            None => Box::new(()),
        },
        Payload::Topology(_) => Box::new(()),
    }
}

/// Encodes a picked item: tag 4 with ourselves as src, or tag 6 with the originator.
fn encode_picked(peers: &mut Peers, us: PeerName, picked: Picked) -> Vec<Vec<u8>> {
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
