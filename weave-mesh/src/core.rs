//! The mesh state machine: local connections, topology, routes and the connection maker,
//! driven by `(now, input)` calls that queue [`Output`]s. How gossip is relayed and dispatched
//! to channels is in [`gossip`].

mod gossip;

use crate::gossip::{Channel, DecodeFns, ErasedGossiper, Pending, Senders, Surrogate, TopologyNames};
use crate::inbound::{Decoder, Inbound, Kind};
use crate::maker::{Attempt, ConnectionMaker, Ending, OurConn};
use crate::peers::{Changes, ConnSummary, Peer, Peers};
use crate::routes::Routes;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weave_wire::protocol::Features;
use weave_wire::PeerName;

pub type ConnId = u64;

/// The topology channel's name on the wire.
pub const TOPOLOGY: &str = "topology";
/// Topology changes are announced at most this often (coalesced), as Weave.
const TOPOLOGY_UPDATE_DELAY: Duration = Duration::from_secs(1);
/// Unreachable peers are collected this long after an update.
const GC_DELAY: Duration = Duration::from_secs(1);
/// The connection maker runs at most this often.
const MAKER_SPACING: Duration = Duration::from_millis(100);
/// Route changes are published at most this often.
const ROUTES_DELAY: Duration = Duration::from_millis(100);
/// Gossip messages in flight per connection; more wait (and merge) in the senders. One, as
/// Weave's gossip senders: while a mesh forms, a connection that is not keeping up sends one
/// message with the latest state of every peer that changed rather than each change.
const WINDOW: usize = 1;

#[derive(Debug, Clone)]
pub struct MeshConfig {
    pub name: PeerName,
    pub nickname: String,
    pub uid: u64,
    pub short_id: u16,
    pub port: u16,
    /// 0 = unlimited.
    pub conn_limit: u32,
    pub discovery: bool,
    pub gossip_interval: Duration,
    /// Whether an overlay (sleeve/fastdp) decides when connections are established; without
    /// one they are established as soon as they are added.
    pub external_overlay: bool,
}

/// What the shell learnt from a completed handshake.
#[derive(Debug, Clone)]
pub struct Handshaked {
    pub features: Features,
    pub outbound: bool,
    /// The dialled target (outbound) or the remote socket address (inbound).
    pub remote_addr: String,
    pub accept_new_peer: bool,
    /// Our ConnID XOR theirs: the same at both ends.
    pub conn_uid: u64,
    /// Whether we trust the remote's address (`--trusted-subnets`).
    pub trust_remote: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MeshEvent {
    PeerAdded { name: PeerName, nickname: String },
    PeerRemoved { name: PeerName, nickname: String },
    ConnectionAdded { peer: PeerName, address: String, outbound: bool },
    ConnectionEstablished { peer: PeerName, address: String },
    ConnectionClosed { peer: Option<PeerName>, address: String, reason: String },
    RoutesChanged,
    TargetsChanged { targets: Vec<String> },
    ShortIdsInvalidated,
}

#[derive(Debug)]
pub enum Output {
    /// A message body (tag + payload) for a connection. `gossip` ones must be acknowledged
    /// with [`Mesh::sent`] once written.
    Send {
        conn: ConnId,
        body: Vec<u8>,
        gossip: bool,
    },
    Close {
        conn: ConnId,
        reason: String,
    },
    Dial {
        address: String,
        accept_new_peer: bool,
    },
    /// Set up the overlay of a newly registered connection (with an external overlay).
    OverlayPrepare {
        conn: ConnId,
    },
    /// Start the overlay's data path checks (after the connection was added).
    OverlayConfirm {
        conn: ConnId,
    },
    /// The connection is gone: stop its overlay.
    OverlayStop {
        conn: ConnId,
    },
    /// Overlay control message received for a connection (tags 1-3, 7).
    OverlayControl {
        conn: ConnId,
        tag: u8,
        payload: Vec<u8>,
    },
    /// The direct peers changed: persist them.
    PersistTargets(Vec<String>),
    Event(MeshEvent),
}

pub(crate) struct LocalConn {
    pub remote: Option<PeerName>,
    pub addr: String,
    pub outbound: bool,
    pub established: bool,
    pub uid: u64,
    pub untrusted: bool,
    /// Registered in our peer's connection list (not a tie-break loser or a failed one).
    pub registered: bool,
    /// Holds a reference on the remote peer.
    pub pinned: bool,
    /// Has an overlay to stop when it closes.
    pub prepared: bool,
    /// Why the connection is going away, once we know.
    pub ending: Option<Ending>,
    pub senders: Senders,
    pub inflight: usize,
}

pub struct Mesh {
    pub(crate) cfg: MeshConfig,
    pub(crate) peers: Peers,
    /// The routes, recomputed when dirty and next needed; shared with the datapath.
    routes: Arc<Routes>,
    routes_dirty: bool,
    routes_publish_at: Option<Instant>,
    pub(crate) conns: BTreeMap<ConnId, LocalConn>,
    pub(crate) by_remote: BTreeMap<PeerName, ConnId>,
    pub(crate) maker: ConnectionMaker,
    maker_due: Option<Instant>,
    maker_dirty: bool,
    /// When the connection maker last ran.
    maker_ran: Option<Instant>,
    channels: BTreeMap<String, Box<dyn ErasedGossiper>>,
    decoders: BTreeMap<String, DecodeFns>,
    /// Shared with the connection tasks; rebuilt when a channel is registered.
    decoder: Arc<Decoder>,
    surrogates: BTreeMap<String, Surrogate>,
    topology_pending: BTreeSet<PeerName>,
    topology_at: Option<Instant>,
    gc_at: Option<Instant>,
    next_gossip: Instant,
    rng: SmallRng,
    out: Vec<Output>,
}

impl Mesh {
    pub fn new(cfg: MeshConfig, now: Instant, seed: u64) -> Mesh {
        let us = Peer::new(cfg.name, cfg.nickname.clone(), cfg.uid, 0, Some(cfg.short_id));
        let peers = Peers::new(us);
        let routes = Arc::new(Routes::calculate(&peers));
        let cfg_name = cfg.name;
        Mesh {
            maker: ConnectionMaker::new(cfg.port, cfg.discovery),
            next_gossip: now + cfg.gossip_interval,
            cfg,
            peers,
            routes,
            routes_dirty: false,
            routes_publish_at: None,
            conns: BTreeMap::new(),
            by_remote: BTreeMap::new(),
            maker_due: None,
            maker_dirty: true,
            maker_ran: None,
            channels: BTreeMap::new(),
            decoders: BTreeMap::new(),
            decoder: Arc::new(Decoder::new(cfg_name, BTreeMap::new())),
            surrogates: BTreeMap::new(),
            topology_pending: BTreeSet::new(),
            topology_at: None,
            gc_at: None,
            rng: SmallRng::seed_from_u64(seed),
            out: Vec::new(),
        }
    }

    pub fn config(&self) -> &MeshConfig {
        &self.cfg
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Our current announcement (name, nickname, uid, short id) for new handshakes.
    pub fn ourself(&self) -> &Peer {
        self.peers.ourself()
    }

    /// Registers a subsystem's gossip channel (before taking the [`Mesh::decoder`]).
    pub fn register_channel(&mut self, channel: Channel) {
        self.decoders.insert(channel.name.clone(), channel.decode);
        self.channels.insert(channel.name, channel.gossiper);
        self.decoder = Arc::new(Decoder::new(self.cfg.name, self.decoders.clone()));
    }

    /// Decodes message bodies for [`Mesh::inbound`], on any task.
    pub fn decoder(&self) -> Arc<Decoder> {
        self.decoder.clone()
    }

    /// The queued outputs, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// When `tick` next has work to do.
    pub fn next_deadline(&self) -> Instant {
        [self.topology_at, self.gc_at, self.routes_publish_at, self.maker_due, Some(self.next_gossip)]
            .into_iter()
            .flatten()
            .min()
            .expect("next_gossip is always set")
    }

    // ---- inputs -------------------------------------------------------------------------

    /// A handshake completed. On refusal a `Close` is queued; the shell then reports
    /// [`Mesh::connection_closed`] as for any other connection.
    pub fn connection_ready(&mut self, now: Instant, id: ConnId, hs: Handshaked) {
        let f = &hs.features;
        let untrusted = !hs.trust_remote || !f.trusted;
        self.conns.insert(
            id,
            LocalConn {
                remote: None,
                addr: hs.remote_addr.clone(),
                outbound: hs.outbound,
                established: false,
                uid: hs.conn_uid,
                untrusted,
                registered: false,
                pinned: false,
                prepared: false,
                ending: None,
                senders: Senders::default(),
                inflight: 0,
            },
        );
        if let Err((ending, reason)) = self.register(now, id, &hs) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.ending = Some(ending);
            }
            self.out.push(Output::Close { conn: id, reason });
        }
        self.after_input(now);
    }

    fn register(&mut self, now: Instant, id: ConnId, hs: &Handshaked) -> Result<(), (Ending, String)> {
        let f = &hs.features;
        let remote = Peer::new(f.name, f.nick_name.clone(), f.uid, 0, f.short_id);
        let mut changes = Changes::default();
        let prior_uid = if hs.accept_new_peer {
            self.peers.fetch_with_default(remote, &mut changes)
        } else {
            match self.peers.fetch_and_add_ref(&f.name) {
                Some(uid) => Some(uid),
                None => {
                    return Err((
                        Ending::Error,
                        format!("Found unknown remote name: {} at {}", f.name, hs.remote_addr),
                    ))
                }
            }
        };
        let conn = self.conns.get_mut(&id).expect("inserted by caller");
        conn.remote = Some(f.name);
        conn.pinned = true;
        if prior_uid.is_none() {
            self.out
                .push(Output::Event(MeshEvent::PeerAdded { name: f.name, nickname: f.nick_name.clone() }));
            for g in self.channels.values_mut() {
                g.on_peers_added(&[f.name]);
            }
        }
        self.handle_changes(now, changes);
        if f.name == self.cfg.name && f.uid != self.cfg.uid {
            return Err((
                Ending::NameCollision,
                format!(
                    "local \"{}({})\" and remote \"{}({})\" peer names collision",
                    self.cfg.name, self.cfg.nickname, f.name, f.nick_name
                ),
            ));
        }
        if f.name == self.cfg.name {
            return Err((Ending::ConnectToSelf, "cannot connect to ourself".into()));
        }
        let restarted = prior_uid.is_some_and(|u| u != f.uid);

        // Duplicate connections: the smaller connection UID wins at both ends.
        if let Some(&dup) = self.by_remote.get(&f.name) {
            let dup_uid = self.conns[&dup].uid;
            let reason =
                format!("Multiple connections to {}({}) added to {}", f.name, f.nick_name, self.display_us());
            if hs.conn_uid < dup_uid {
                self.out.push(Output::Close { conn: dup, reason });
                self.unregister(now, dup);
            } else {
                if hs.conn_uid == dup_uid {
                    self.out.push(Output::Close { conn: dup, reason: reason.clone() });
                    self.unregister(now, dup);
                }
                return Err((Ending::Error, reason));
            }
        }
        if self.cfg.conn_limit != 0 && self.by_remote.len() >= self.cfg.conn_limit as usize {
            return Err((Ending::Error, format!("Connection limit reached ({})", self.cfg.conn_limit)));
        }
        // Fresh routes: a peer whose last connection just closed (and was collected) is new
        // again and gets all gossip, where Weave's asynchronously recomputed routes may still
        // list it and leave it to the next periodic gossip.
        self.ensure_routes();
        let connected_before = self.routes.unicast.contains_key(&f.name);
        let conn = self.conns.get_mut(&id).expect("present");
        conn.registered = true;
        self.by_remote.insert(f.name, id);
        self.peers.ourself_mut().version += 1;
        self.sync_local_peer();
        tracing::info!(peer = %f.name, nick = %f.nick_name, addr = %hs.remote_addr, outbound = hs.outbound,
            "connection added{}", if restarted { " (restarted peer)" } else if connected_before { "" } else { " (new peer)" });
        if restarted || !connected_before {
            self.send_all_gossip_down(id);
        }
        self.mark_routes_dirty(now);
        self.schedule_topology_update(now, Some(f.name));
        self.maker.connection_created(&hs.remote_addr, hs.outbound, f.name);
        self.maker_dirty = true;
        self.out.push(Output::Event(MeshEvent::ConnectionAdded {
            peer: f.name,
            address: hs.remote_addr.clone(),
            outbound: hs.outbound,
        }));
        if self.cfg.external_overlay {
            self.conns.get_mut(&id).expect("present").prepared = true;
            self.out.push(Output::OverlayPrepare { conn: id });
            self.out.push(Output::OverlayConfirm { conn: id });
        } else {
            self.establish(now, id);
        }
        Ok(())
    }

    /// The overlay reports the connection's data path works.
    pub fn overlay_established(&mut self, now: Instant, id: ConnId) {
        self.establish(now, id);
        self.after_input(now);
    }

    fn establish(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if !c.registered || c.established {
            return;
        }
        c.established = true;
        let (peer, address) = (c.remote.expect("registered"), c.addr.clone());
        tracing::info!(%peer, %address, "connection fully established");
        self.peers.ourself_mut().version += 1;
        self.sync_local_peer();
        self.mark_routes_dirty(now);
        self.schedule_topology_update(now, None);
        self.out.push(Output::Event(MeshEvent::ConnectionEstablished { peer, address }));
    }

    /// Every known peer's short id, ourselves included (for fastdp's VNIs).
    pub fn short_ids(&self) -> Vec<(PeerName, u16)> {
        self.peers.iter().filter(|p| p.has_short_id).map(|p| (p.name, p.short_id)).collect()
    }

    /// A message body arrived on a connection: decodes it here and merges it (in the daemon
    /// the connection's task decodes, with [`Mesh::decoder`], and calls [`Mesh::inbound`]).
    pub fn message(&mut self, now: Instant, id: ConnId, body: &[u8]) {
        let m = self.decoder.decode(body);
        self.inbound(now, id, m);
    }

    /// A decoded message arrived on a connection.
    pub fn inbound(&mut self, now: Instant, id: ConnId, m: Inbound) {
        if !self.conns.get(&id).is_some_and(|c| c.registered) {
            return;
        }
        if let Err(reason) = self.handle_message(now, id, m.0) {
            self.out.push(Output::Close { conn: id, reason });
        }
        self.after_input(now);
    }

    fn handle_message(&mut self, now: Instant, id: ConnId, m: Kind) -> Result<(), String> {
        match m {
            Kind::Empty | Kind::Heartbeat => Ok(()),
            Kind::Overlay { tag, payload } => {
                self.out.push(Output::OverlayControl { conn: id, tag, payload });
                Ok(())
            }
            Kind::Gossip { broadcast: false, channel, src, data } => self.on_gossip(now, channel, src, data),
            Kind::Gossip { broadcast: true, channel, src, data } => {
                self.on_broadcast(now, channel, src, data)
            }
            Kind::Relay { channel, dst, body } => {
                if let Err(e) = self.relay_unicast(dst, body) {
                    tracing::info!(%channel, "[gossip]: {e}");
                }
                Ok(())
            }
            Kind::Unicast { channel, src, data } => self.on_unicast(channel, src, data),
            Kind::Unknown { tag } => {
                tracing::debug!(conn = id, tag, "ignoring unknown protocol tag");
                Ok(())
            }
            Kind::Bad(reason) => Err(reason),
        }
    }

    /// A gossip message queued by [`Output::Send`] with `gossip` set has been written.
    pub fn sent(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.inflight = c.inflight.saturating_sub(1);
        }
        self.after_input(now);
    }

    /// The connection is gone (closed by either side, or failed).
    pub fn connection_closed(&mut self, now: Instant, id: ConnId, reason: &str) {
        let Some(c) = self.conns.get(&id) else { return };
        let (addr, outbound, remote, pinned, registered) =
            (c.addr.clone(), c.outbound, c.remote, c.pinned, c.registered);
        let ending = c.ending.unwrap_or(Ending::Error);
        if c.prepared {
            self.out.push(Output::OverlayStop { conn: id });
        }
        if let Some(r) = remote {
            tracing::info!(peer = %r, %addr, "connection shutting down due to error: {reason}");
        } else {
            tracing::info!(%addr, "connection shutting down due to error during handshake: {reason}");
        }
        // Release the peer before the connection leaves our peer (which collects garbage), as
        // Weave: otherwise the last connection's peer stays pinned through that collection and
        // an unreachable peer lingers until something else triggers one. A connection that
        // was never registered triggers no collection: schedule one.
        if pinned {
            if let Some(r) = remote {
                self.peers.dereference(&r);
                if !registered {
                    self.gc_at.get_or_insert(now + GC_DELAY);
                }
            }
        }
        self.unregister(now, id);
        self.conns.remove(&id);
        self.maker.connection_terminated(now, &addr, outbound, ending, reason.to_string(), &mut self.rng);
        self.maker_dirty = true;
        self.out.push(Output::Event(MeshEvent::ConnectionClosed {
            peer: remote,
            address: addr,
            reason: reason.into(),
        }));
        self.after_input(now);
    }

    /// Removes a connection from our peer's list (tie-break loser, or closing).
    fn unregister(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if !c.registered {
            return;
        }
        c.registered = false;
        let remote = c.remote.expect("registered connections know their remote");
        if self.by_remote.get(&remote) == Some(&id) {
            self.by_remote.remove(&remote);
        }
        self.peers.ourself_mut().version += 1;
        self.sync_local_peer();
        // Collect first so our next announcement never mentions unreachable peers.
        let mut changes = Changes::default();
        self.peers.garbage_collect(&mut changes);
        self.handle_changes(now, changes);
        self.mark_routes_dirty(now);
        self.schedule_topology_update(now, None);
    }

    /// A dial failed before a handshake completed.
    pub fn dial_failed(&mut self, now: Instant, address: &str, error: &str) {
        tracing::info!(%address, "error during connection attempt: {error}");
        self.maker.dial_failed(now, address, error.to_string(), &mut self.rng);
        self.maker_dirty = true;
        self.after_input(now);
    }

    /// `weave connect`: resolved direct peers.
    pub fn connect(&mut self, now: Instant, peers: Vec<(String, SocketAddr)>, replace: bool) {
        self.maker.initiate(now, peers, replace);
        self.targets_changed();
        self.after_input(now);
    }

    /// `weave forget`.
    pub fn forget(&mut self, now: Instant, peers: &[String]) {
        self.maker.forget(peers);
        self.targets_changed();
        self.after_input(now);
    }

    fn targets_changed(&mut self) {
        let targets = self.maker.direct_peers(false);
        self.out.push(Output::PersistTargets(targets.clone()));
        self.out.push(Output::Event(MeshEvent::TargetsChanged { targets }));
        self.maker_dirty = true;
    }

    /// The routes as of now: what the datapath forwards by and status shows.
    pub fn routes(&mut self) -> Arc<Routes> {
        self.ensure_routes();
        self.routes.clone()
    }

    /// The remote peer and direction of a registered connection.
    pub fn connection_info(&self, id: ConnId) -> Option<(PeerName, bool, u64, bool)> {
        let c = self.conns.get(&id)?;
        Some((c.remote?, c.outbound, c.uid, c.untrusted))
    }

    pub fn direct_peers(&self, active_only: bool) -> Vec<String> {
        self.maker.direct_peers(active_only)
    }

    /// Timers: topology announcements, garbage collection, route publication, periodic
    /// gossip, connection attempts.
    pub fn tick(&mut self, now: Instant) {
        if self.topology_at.is_some_and(|t| t <= now) {
            self.topology_at = None;
            let mut names = std::mem::take(&mut self.topology_pending);
            names.insert(self.cfg.name);
            let us = self.cfg.name;
            self.relay(us, TOPOLOGY, Pending::Topology(TopologyNames(names)));
        }
        if self.gc_at.is_some_and(|t| t <= now) {
            self.gc_at = None;
            let mut changes = Changes::default();
            self.peers.garbage_collect(&mut changes);
            if !changes.removed.is_empty() {
                self.mark_routes_dirty(now);
            }
            self.handle_changes(now, changes);
        }
        if self.routes_publish_at.is_some_and(|t| t <= now) {
            self.routes_publish_at = None;
            self.ensure_routes();
            self.out.push(Output::Event(MeshEvent::RoutesChanged));
        }
        if self.next_gossip <= now {
            self.next_gossip = now + self.cfg.gossip_interval;
            self.send_all_gossip();
        }
        if self.maker_due.is_some_and(|t| t <= now) {
            self.maker_dirty = true;
        }
        self.after_input(now);
    }

    // ---- internals ------------------------------------------------------------------------

    fn display_us(&self) -> String {
        format!("{}({})", self.cfg.name, self.cfg.nickname)
    }

    /// Rebuilds our peer's announced connections from the registered local connections.
    fn sync_local_peer(&mut self) {
        let conns: BTreeMap<PeerName, ConnSummary> = self
            .by_remote
            .iter()
            .map(|(name, id)| {
                let c = &self.conns[id];
                (
                    *name,
                    ConnSummary {
                        remote_tcp_addr: c.addr.as_str().into(),
                        outbound: c.outbound,
                        established: c.established,
                    },
                )
            })
            .collect();
        self.peers.ourself_mut().conns = conns;
    }

    pub(crate) fn ensure_routes(&mut self) {
        if self.routes_dirty {
            self.routes = Arc::new(Routes::calculate(&self.peers));
            self.routes_dirty = false;
        }
    }

    fn mark_routes_dirty(&mut self, now: Instant) {
        self.routes_dirty = true;
        self.routes_publish_at.get_or_insert(now + ROUTES_DELAY);
    }

    fn schedule_topology_update(&mut self, now: Instant, peer: Option<PeerName>) {
        self.topology_pending.extend(peer);
        self.topology_at.get_or_insert(now + TOPOLOGY_UPDATE_DELAY);
    }

    pub(crate) fn handle_changes(&mut self, now: Instant, changes: Changes) {
        if !changes.removed.is_empty() {
            let names: Vec<PeerName> = changes.removed.iter().map(|p| p.name).collect();
            for p in &changes.removed {
                tracing::info!(peer = %p.display(), "Removed unreachable peer");
                self.out.push(Output::Event(MeshEvent::PeerRemoved {
                    name: p.name,
                    nickname: p.nickname.clone(),
                }));
            }
            for g in self.channels.values_mut() {
                g.on_peers_removed(&names);
            }
            self.routes_dirty = true;
        }
        if changes.short_ids_invalidated {
            self.out.push(Output::Event(MeshEvent::ShortIdsInvalidated));
        }
        if changes.local_modified {
            // Announced with the next coalesced topology update.
            self.topology_pending.insert(self.cfg.name);
            self.topology_at.get_or_insert(now + TOPOLOGY_UPDATE_DELAY);
        }
    }

    /// Runs the connection maker when something changed, and flushes pending gossip.
    fn after_input(&mut self, now: Instant) {
        if self.maker_dirty {
            // Its work grows with the topology, and a forming mesh changes it with nearly every
            // message: run it at most every MAKER_SPACING, with all the changes since.
            match self.maker_ran.map(|t| t + MAKER_SPACING).filter(|due| now < *due) {
                None => {
                    self.maker_dirty = false;
                    self.maker_ran = Some(now);
                    self.run_maker(now);
                }
                Some(due) => self.maker_due = Some(due),
            }
        }
        self.flush();
    }

    fn run_maker(&mut self, now: Instant) {
        let ours: Vec<OurConn<'_>> = self
            .by_remote
            .iter()
            .map(|(peer, id)| {
                let c = &self.conns[id];
                OurConn { peer: *peer, addr: c.addr.as_str(), outbound: c.outbound }
            })
            .collect();
        let (attempts, next) = self.maker.run(now, &ours, &self.peers);
        self.maker_due = next;
        for Attempt { address, accept_new_peer } in attempts {
            if self.cfg.conn_limit != 0 && self.by_remote.len() >= self.cfg.conn_limit as usize {
                let e = format!("Connection limit reached ({})", self.cfg.conn_limit);
                self.maker.dial_failed(now, &address, e, &mut self.rng);
                self.maker_dirty = true;
                continue;
            }
            tracing::debug!(%address, "attempting connection");
            self.out.push(Output::Dial { address, accept_new_peer });
        }
    }
}
