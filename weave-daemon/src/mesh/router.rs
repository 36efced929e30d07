//! The router loop: the task that owns the [`Mesh`] core, feeds it what connections, timers,
//! the overlay and the rest of the daemon report, and carries out its outputs (writes, closes,
//! dials, overlay set-up, events), publishing a [`MeshSnapshot`] for the API. Connection I/O is
//! in [`conn`](super::conn); subsystems talk to the loop through a [`MeshHandle`].

use super::conn::{self, ConnConfig, ConnHandle, Conns, FromConn, Write};
use super::status::{ConnView, MeshSnapshot};
use crate::overlay::fastdp::Fastdp;
use crate::overlay::sleeve::Sleeve;
use crate::overlay::switch::OverlayStatus;
use crate::overlay::{OverlayEvent, OverlayParams, OverlaySwitch};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use weave_mesh::{Channel, ConnId, GossipData, Mesh, MeshConfig, MeshEvent, Output};
use weave_wire::crypto::{Password, Suite};
use weave_wire::PeerName;

/// What the router needs beyond the mesh's own configuration.
#[derive(Clone)]
pub struct RouterConfig {
    pub mesh: MeshConfig,
    pub host: Option<IpAddr>,
    pub password: Option<Password>,
    pub trusted_subnets: Vec<Ipv4Net>,
    /// The sleeve AEAD suites we offer, best first; `None`: NaCl only (`--sleeve-cipher nacl`).
    pub sleeve_offer: Option<Vec<Suite>>,
    /// The sleeve overlay; without one, connections are established at once (tests).
    pub sleeve: Option<Arc<Sleeve>>,
    /// The fast datapath, unless `--no-fastdp` (needs the sleeve).
    pub fastdp: Option<Arc<Fastdp>>,
}

impl RouterConfig {
    fn conn_config(&self) -> ConnConfig {
        // Our `Overlays` feature: none without an overlay.
        let overlays = self.sleeve.as_ref().map(|_| {
            let fastdp = self.fastdp.as_ref().map(|_| "fastdp".to_string());
            fastdp.into_iter().chain(["sleeve".to_string()]).collect()
        });
        ConnConfig {
            host: self.host,
            password: self.password.clone(),
            trusted_subnets: self.trusted_subnets.clone(),
            // An offer only matters on encrypted connections; without a password the features
            // stay exactly Weave's.
            sleeve_offer: self.sleeve_offer.clone().filter(|_| self.password.is_some()),
            overlays,
            fastdp_heartbeat_ms: self
                .fastdp
                .as_ref()
                .map(|_| crate::overlay::fastdp::heartbeat::OUR_INTERVAL.as_millis() as u32),
        }
    }
}

/// What the rest of the daemon asks of the loop.
enum Cmd {
    Connect { peers: Vec<(String, SocketAddr)>, replace: bool, done: oneshot::Sender<()> },
    Forget { peers: Vec<String>, done: oneshot::Sender<()> },
    Broadcast { channel: String, data: Box<dyn GossipData> },
    Neighbours { channel: String, data: Box<dyn GossipData> },
    Unicast { channel: String, dst: PeerName, payload: Vec<u8>, done: oneshot::Sender<Result<(), String>> },
    Flush { done: oneshot::Sender<()> },
}

/// What the loop keeps per connection beside the mesh's own state.
struct ConnState {
    io: ConnHandle,
    /// The overlay's attributes (`name`, `mtu`, ...) for status.
    attrs: Arc<BTreeMap<String, serde_json::Value>>,
    /// The overlay switch's view: forwarders and the history of switches.
    overlay: Option<Arc<OverlayStatus>>,
}

impl ConnState {
    fn view(&self) -> ConnView {
        ConnView {
            attrs: self.attrs.clone(),
            overlay: self.overlay.clone(),
            rtt: Some(self.io.rtt.clone()),
            cipher: self.io.session_key.as_ref().map(|_| self.io.sleeve_cipher.name()),
        }
    }
}

/// How the rest of the daemon talks to the mesh.
#[derive(Clone)]
pub struct MeshHandle {
    cmds: mpsc::Sender<Cmd>,
    snapshot: watch::Receiver<Arc<MeshSnapshot>>,
    events: broadcast::Sender<MeshEvent>,
    port: u16,
    /// Where the listener is bound (its port is the kernel's choice with `--port 0`).
    listen_addr: SocketAddr,
    fastdp: Option<Arc<Fastdp>>,
}

impl MeshHandle {
    /// The fast datapath, when it runs.
    pub fn fastdp(&self) -> Option<&Arc<Fastdp>> {
        self.fastdp.as_ref()
    }

    pub fn snapshot(&self) -> Arc<MeshSnapshot> {
        self.snapshot.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<Arc<MeshSnapshot>> {
        self.snapshot.clone()
    }

    pub fn events(&self) -> broadcast::Receiver<MeshEvent> {
        self.events.subscribe()
    }

    /// Resolves `peers` (`host[:port]`) and adds them as targets. Returns one error per peer
    /// that cannot be resolved; the others are added.
    pub async fn connect(&self, peers: &[String], replace: bool) -> Vec<String> {
        let (resolved, errors) = resolve_peers(peers).await;
        let (done, wait) = oneshot::channel();
        if self.cmds.send(Cmd::Connect { peers: resolved, replace, done }).await.is_ok() {
            let _ = wait.await;
        }
        errors
    }

    pub async fn forget(&self, peers: &[String]) {
        let (done, wait) = oneshot::channel();
        if self.cmds.send(Cmd::Forget { peers: peers.to_vec(), done }).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub async fn gossip_broadcast(&self, channel: &str, data: Box<dyn GossipData>) {
        let _ = self.cmds.send(Cmd::Broadcast { channel: channel.into(), data }).await;
    }

    pub async fn gossip_neighbours(&self, channel: &str, data: Box<dyn GossipData>) {
        let _ = self.cmds.send(Cmd::Neighbours { channel: channel.into(), data }).await;
    }

    pub async fn gossip_unicast(&self, channel: &str, dst: PeerName, payload: Vec<u8>) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.cmds
            .send(Cmd::Unicast { channel: channel.into(), dst, payload, done })
            .await
            .map_err(|_| "the mesh has stopped".to_string())?;
        wait.await.map_err(|_| "the mesh has stopped".to_string())?
    }

    /// Waits until all gossip queued so far has been written to every connection and
    /// acknowledged by the TCP stack at the other end: the first hop has it. (Weave's IPAM
    /// shutdown sleeps 100 ms instead.)
    pub async fn flush_gossip(&self) {
        let (done, wait) = oneshot::channel();
        if self.cmds.send(Cmd::Flush { done }).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }
}

/// Resolves `host[:port]` peers; a missing port is kept as 0 (meaning "the mesh port").
pub async fn resolve_peers(peers: &[String]) -> (Vec<(String, SocketAddr)>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for peer in peers {
        let (host, port) = match peer.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(p) => (h.to_string(), p),
                Err(_) => {
                    errors.push(format!("address {p}: invalid port"));
                    continue;
                }
            },
            None => (peer.clone(), 0),
        };
        if host.is_empty() {
            errors.push(format!("invalid peer name {peer:?}, should be host[:port]"));
            continue;
        }
        let found = match tokio::net::lookup_host(format!("{host}:{port}")).await {
            Ok(addrs) => addrs
                .into_iter()
                .find(|a| a.is_ipv4())
                .ok_or_else(|| format!("lookup {host}: no IPv4 address")),
            Err(e) => Err(format!("lookup {host}: {e}")),
        };
        match found {
            Ok(a) => ok.push((peer.clone(), a)),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// Starts the mesh: binds the listener, starts dialling `peers`, and runs until `stop`.
/// `persist` is called with the direct peers whenever they change.
pub async fn start(
    cfg: RouterConfig,
    channels: Vec<Channel>,
    peers: Vec<String>,
    persist: impl Fn(Vec<String>) + Send + 'static,
    stop: CancellationToken,
) -> std::io::Result<MeshHandle> {
    let bind = SocketAddr::new(cfg.host.unwrap_or(IpAddr::from([0, 0, 0, 0])), cfg.mesh.port);
    let listener = listen(bind)?;
    let now = Instant::now();
    let mut mesh = Mesh::new(cfg.mesh.clone(), now, rand::random());
    for c in channels {
        mesh.register_channel(c);
    }
    let password = cfg.password.is_some();
    let first = MeshSnapshot::new(mesh.status(), password, |_| None, now, SystemTime::now());
    let (cmds, rx) = mpsc::channel(1024);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(first));
    let (events, _) = broadcast::channel(1024);
    let (ov_tx, ov_rx) = mpsc::channel(1024);
    let (conn_tx, conn_rx) = mpsc::channel(1024);
    let switch = cfg.sleeve.clone().map(|s| OverlaySwitch::new(s, cfg.fastdp.clone(), ov_tx.clone()));
    let conns = Conns::new(cfg.conn_config(), conn_tx, snap_rx.clone(), mesh.decoder());
    let handle = MeshHandle {
        cmds,
        snapshot: snap_rx,
        events: events.clone(),
        port: cfg.mesh.port,
        listen_addr: listener.local_addr()?,
        fastdp: cfg.fastdp.clone(),
    };

    tokio::spawn(conn::accept_loop(listener, conns.clone(), stop.clone()));
    let io = LoopIo {
        rx,
        conn_rx,
        ov_rx,
        _ov_tx: ov_tx,
        switch,
        snap_tx,
        events,
        persist: Box::new(persist),
        password,
    };
    tokio::spawn(mesh_loop(mesh, io, conns, stop));
    let errors = handle.connect(&peers, false).await;
    for e in errors {
        tracing::warn!("initial peer: {e}");
    }
    Ok(handle)
}

/// Peers dialling at once (a whole mesh starting) wait in the kernel's queue for the accept
/// loop; tokio's default of 128 drops the rest's SYNs, delaying them by a second or more.
const LISTEN_BACKLOG: u32 = 1024;

fn listen(bind: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match bind {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(bind)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The mesh task's channels and collaborators.
struct LoopIo {
    rx: mpsc::Receiver<Cmd>,
    conn_rx: mpsc::Receiver<FromConn>,
    ov_rx: mpsc::Receiver<(ConnId, OverlayEvent)>,
    /// Keeps the overlay channel open even without an overlay.
    _ov_tx: mpsc::Sender<(ConnId, OverlayEvent)>,
    switch: Option<OverlaySwitch>,
    snap_tx: watch::Sender<Arc<MeshSnapshot>>,
    events: broadcast::Sender<MeshEvent>,
    persist: Box<dyn Fn(Vec<String>) + Send>,
    /// `--password` is set: status says which connections are encrypted.
    password: bool,
}

/// While the mesh changes continuously (a mesh of many peers forming) the status snapshot is
/// remade at most this often: each costs work in proportion to the connections and targets.
const SNAPSHOT_SPACING: Duration = Duration::from_millis(100);

async fn mesh_loop(mut mesh: Mesh, mut io: LoopIo, shared: Arc<Conns>, stop: CancellationToken) {
    let mut conns: HashMap<ConnId, ConnState> = HashMap::new();
    let mut last_snapshot = Instant::now();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut answers: Vec<oneshot::Sender<()>> = Vec::new();
    // Changes not in a snapshot yet.
    let mut stale = false;
    loop {
        let deadline = tokio::time::Instant::from_std(mesh.next_deadline());
        let snapshot_due = tokio::time::Instant::from_std(last_snapshot + SNAPSHOT_SPACING);
        let mut changed = false;
        let now = Instant::now();
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => mesh.tick(Instant::now()),
            _ = tokio::time::sleep_until(snapshot_due), if stale => {}
            ev = io.ov_rx.recv() => {
                let Some((conn, ev)) = ev else { break };
                match ev {
                    OverlayEvent::Established => mesh.overlay_established(now, conn),
                    OverlayEvent::Failed(reason) => {
                        if let Some(c) = conns.remove(&conn) {
                            c.io.close.cancel();
                        }
                        mesh.connection_closed(now, conn, &reason);
                    }
                    OverlayEvent::Send(body) => {
                        if let Some(c) = conns.get(&conn) {
                            let _ = c.io.writer.try_send(Write::Body(body, false));
                        }
                    }
                    OverlayEvent::Attrs(a) => {
                        if let Some(c) = conns.get_mut(&conn) {
                            c.attrs = Arc::new(a);
                        }
                        changed = true;
                    }
                    OverlayEvent::Status(s) => {
                        if let Some(c) = conns.get_mut(&conn) {
                            c.overlay = Some(Arc::new(s));
                        }
                        changed = true;
                    }
                    OverlayEvent::Switched(a, s) => {
                        if let Some(c) = conns.get_mut(&conn) {
                            c.attrs = Arc::new(a);
                            c.overlay = Some(Arc::new(s));
                        }
                        changed = true;
                    }
                }
            }
            ev = io.conn_rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    FromConn::Ready { id, hs, conn } => {
                        conns.insert(id, ConnState { io: conn, attrs: Default::default(), overlay: None });
                        mesh.connection_ready(now, id, *hs);
                    }
                    FromConn::Message { id, msg } => mesh.inbound(now, id, msg),
                    FromConn::Sent { id } => mesh.sent(now, id),
                    FromConn::Closed { id, reason } => {
                        conns.remove(&id);
                        mesh.connection_closed(now, id, &reason);
                    }
                    FromConn::DialFailed { address, error } => mesh.dial_failed(now, &address, &error),
                }
            }
            cmd = io.rx.recv() => {
                let Some(cmd) = cmd else { break };
                match cmd {
                    Cmd::Connect { peers, replace, done } => {
                        mesh.connect(now, peers, replace);
                        answers.push(done);
                    }
                    Cmd::Forget { peers, done } => {
                        mesh.forget(now, &peers);
                        answers.push(done);
                    }
                    Cmd::Broadcast { channel, data } => mesh.gossip_broadcast(now, &channel, data),
                    Cmd::Neighbours { channel, data } => mesh.gossip_neighbours(now, &channel, data),
                    Cmd::Unicast { channel, dst, payload, done } => {
                        let _ = done.send(mesh.gossip_unicast(now, &channel, dst, payload));
                    }
                    Cmd::Flush { done } => flushes.push(done),
                }
            }
        }
        let mut routes_changed = false;
        let outputs = mesh.take_outputs();
        // A new connection's fastdp needs both ends' short ids for its VNIs.
        if outputs.iter().any(|o| matches!(o, Output::OverlayPrepare { .. } | Output::OverlayConfirm { .. }))
        {
            if let Some(fd) = io.switch.as_ref().and_then(|sw| sw.fastdp()) {
                fd.set_short_ids(mesh.short_ids().into_iter().collect());
            }
        }
        for out in outputs {
            match out {
                Output::Send { conn, body, gossip } => {
                    if let Some(c) = conns.get(&conn) {
                        match c.io.writer.try_send(Write::Body(body, gossip)) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::warn!(
                                    conn,
                                    "connection is not keeping up with what we send; closing it"
                                );
                                c.io.close.cancel();
                            }
                            // The connection's task has ended; its Closed report is on the way.
                            Err(mpsc::error::TrySendError::Closed(_)) => {}
                        }
                    }
                }
                Output::Close { conn, reason } => {
                    if let Some(c) = conns.get(&conn) {
                        tracing::debug!(conn, "closing: {reason}");
                        c.io.close.cancel();
                    }
                    // The connection task reports Closed with its own view; keep the reason.
                    let _ = shared.events.try_send(FromConn::Closed { id: conn, reason });
                }
                Output::Dial { address, accept_new_peer } => {
                    tokio::spawn(conn::dial(address, accept_new_peer, shared.clone()));
                }
                Output::OverlayPrepare { conn } => {
                    let (Some(sw), Some(c), Some((remote, outbound, conn_uid, untrusted))) =
                        (io.switch.as_mut(), conns.get(&conn), mesh.connection_info(conn))
                    else {
                        continue;
                    };
                    let params = OverlayParams {
                        remote,
                        conn_uid,
                        outbound,
                        remote_tcp: c.io.remote_tcp,
                        local_tcp: c.io.local_tcp,
                        session_key: if untrusted { c.io.session_key.clone() } else { None },
                        sleeve_cipher: c.io.sleeve_cipher,
                        binding: c.io.binding.clone(),
                        peer_overlays: c.io.peer_overlays.clone(),
                        peer_fastdp_heartbeat_ms: c.io.peer_fastdp_heartbeat_ms,
                    };
                    if let Err(reason) = sw.prepare(conn, params) {
                        c.io.close.cancel();
                        let _ = shared.events.try_send(FromConn::Closed { id: conn, reason });
                    }
                }
                Output::OverlayConfirm { conn } => {
                    if let Some(sw) = io.switch.as_mut() {
                        sw.confirm(conn);
                    }
                }
                Output::OverlayStop { conn } => {
                    if let Some(sw) = io.switch.as_mut() {
                        sw.stop(conn);
                    }
                }
                Output::OverlayControl { conn, tag, payload } => {
                    if let Some(sw) = io.switch.as_mut() {
                        sw.control(conn, tag, &payload);
                    }
                }
                Output::PersistTargets(targets) => (io.persist)(targets),
                Output::Event(e) => {
                    changed = true;
                    match &e {
                        MeshEvent::RoutesChanged
                        | MeshEvent::PeerAdded { .. }
                        | MeshEvent::ShortIdsInvalidated => routes_changed = true,
                        MeshEvent::PeerRemoved { name, .. } => {
                            routes_changed = true;
                            if let Some(sw) = io.switch.as_ref() {
                                sw.sleeve().peers_removed(&[*name]);
                            }
                        }
                        _ => {}
                    }
                    let _ = io.events.send(e);
                }
            }
        }
        // A flush waits until the mesh holds no gossip back; then every writer drains its
        // queue and waits for its peer's acknowledgements.
        if !flushes.is_empty() && mesh.gossip_settled() {
            let acks: Vec<oneshot::Receiver<()>> = conns
                .values()
                .filter_map(|c| {
                    let (tx, rx) = oneshot::channel();
                    c.io.writer.try_send(Write::Flush(tx)).ok().map(|()| rx)
                })
                .collect();
            let waiters = std::mem::take(&mut flushes);
            tokio::spawn(async move {
                for ack in acks {
                    let _ = ack.await;
                }
                for w in waiters {
                    let _ = w.send(());
                }
            });
        }
        if routes_changed {
            if let Some(fd) = io.switch.as_ref().and_then(|sw| sw.fastdp()) {
                fd.set_short_ids(mesh.short_ids().into_iter().collect());
            }
            if let Some(sw) = io.switch.as_ref() {
                sw.sleeve().set_routes(mesh.routes());
            }
        }
        // Status readers see changes within SNAPSHOT_SPACING (commands waiting on theirs at
        // once), and counters at most a few times a second.
        stale |= changed;
        let since = last_snapshot.elapsed();
        if !answers.is_empty() || (stale && since >= SNAPSHOT_SPACING) || since > Duration::from_millis(500) {
            last_snapshot = Instant::now();
            stale = false;
            let view = |id| conns.get(&id).map(ConnState::view);
            let snap = MeshSnapshot::new(mesh.status(), io.password, view, last_snapshot, SystemTime::now());
            io.snap_tx.send_replace(Arc::new(snap));
        }
        // Answered once the snapshot shows the change, so a status read after `weave connect`
        // or `forget` returns sees it.
        for done in answers.drain(..) {
            let _ = done.send(());
        }
    }
    for c in conns.values() {
        c.io.close.cancel();
    }
}
