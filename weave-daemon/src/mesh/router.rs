//! The async shell around [`Mesh`]: the TCP listener (rate-limited), dialling, one task per
//! connection (handshake, reader, writer, heartbeats) and the mesh task that owns the state
//! machine and carries out its outputs. Subsystems talk to it through a [`MeshHandle`].

use super::core::{ConnId, Handshaked, Mesh, MeshConfig, MeshEvent, Output};
use super::gossip::{GossipData, Gossiper};
use super::handshake::{self, Established, HANDSHAKE_TIMEOUT, READ_TIMEOUT};
use super::status::MeshSnapshot;
use crate::overlay::fastdp::Fastdp;
use crate::overlay::sleeve::datapath::DpRoutes;
use crate::overlay::sleeve::Sleeve;
use crate::overlay::{OverlayEvent, OverlayParams, OverlaySwitch};
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncWriteExt, BufReader};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use weave_wire::crypto::{Password, SessionKey};
use weave_wire::protocol::Features;
use weave_wire::PeerName;

/// Weave sends a heartbeat on every connection this often.
const TCP_HEARTBEAT: Duration = Duration::from_secs(30);
/// Accepts are rate limited by a token bucket of this many tokens, one regained per interval.
const ACCEPT_TOKENS: u32 = 20;
const ACCEPT_TOKEN_INTERVAL: Duration = Duration::from_millis(50);
/// Messages queued for one connection's writer before it counts as stuck.
const WRITER_QUEUE: usize = 256;
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the router needs beyond the mesh's own configuration.
#[derive(Clone)]
pub struct RouterConfig {
    pub mesh: MeshConfig,
    pub host: Option<IpAddr>,
    pub password: Option<Password>,
    pub trusted_subnets: Vec<Ipv4Net>,
    /// The sleeve overlay; without one, connections are established at once (tests).
    pub sleeve: Option<Arc<Sleeve>>,
    /// The fast datapath, unless `--no-fastdp` (needs the sleeve).
    pub fastdp: Option<Arc<Fastdp>>,
}

impl RouterConfig {
    /// Our `Overlays` feature.
    fn overlays(&self) -> Option<Vec<String>> {
        self.sleeve.as_ref()?;
        let fastdp = self.fastdp.as_ref().map(|_| "fastdp".to_string());
        Some(fastdp.into_iter().chain(["sleeve".to_string()]).collect())
    }
}

/// What a connection's writer is given.
enum Write {
    /// A message body, flagged if it is gossip whose writing the mesh waits for.
    Body(Vec<u8>, bool),
    /// Answer once everything written before has been acknowledged by the peer's kernel.
    Flush(oneshot::Sender<()>),
}
type Writer = mpsc::Sender<Write>;

enum Cmd {
    // Boxed: a handshake is large and the other commands are frequent.
    Ready { id: ConnId, hs: Box<Handshaked>, extra: ConnExtra },
    Message { id: ConnId, body: Vec<u8> },
    Sent { id: ConnId },
    Closed { id: ConnId, reason: String },
    DialFailed { address: String, error: String },
    Connect { peers: Vec<(String, SocketAddr)>, replace: bool, done: oneshot::Sender<()> },
    Forget { peers: Vec<String>, done: oneshot::Sender<()> },
    Broadcast { channel: String, data: Box<dyn GossipData> },
    Neighbours { channel: String, data: Box<dyn GossipData> },
    Unicast { channel: String, dst: PeerName, payload: Vec<u8>, done: oneshot::Sender<Result<(), String>> },
    Flush { done: oneshot::Sender<()> },
}

/// What the shell keeps per connection beside the mesh's own state.
struct ConnExtra {
    writer: Writer,
    close: CancellationToken,
    /// The TCP peer address (the overlay's first guess at the peer's UDP address).
    remote_tcp: SocketAddr,
    session_key: Option<SessionKey>,
    peer_overlays: Option<Vec<String>>,
    peer_fastdp_heartbeat_ms: Option<u32>,
    local_tcp: Option<SocketAddr>,
}

/// How the rest of the daemon talks to the mesh.
#[derive(Clone)]
pub struct MeshHandle {
    cmds: mpsc::Sender<Cmd>,
    snapshot: watch::Receiver<Arc<MeshSnapshot>>,
    events: broadcast::Sender<MeshEvent>,
    port: u16,
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

struct Shared {
    cfg: RouterConfig,
    cmds: mpsc::Sender<Cmd>,
    next_id: AtomicU64,
    snapshot: watch::Receiver<Arc<MeshSnapshot>>,
}

/// Starts the mesh: binds the listener, starts dialling `peers`, and runs until `stop`.
/// `persist` is called with the direct peers whenever they change.
pub async fn start(
    cfg: RouterConfig,
    channels: Vec<(String, Box<dyn Gossiper>)>,
    peers: Vec<String>,
    persist: impl Fn(Vec<String>) + Send + 'static,
    stop: CancellationToken,
) -> std::io::Result<MeshHandle> {
    let bind = SocketAddr::new(cfg.host.unwrap_or(IpAddr::from([0, 0, 0, 0])), cfg.mesh.port);
    let listener = TcpListener::bind(bind).await?;
    let now = Instant::now();
    let mut mesh = Mesh::new(cfg.mesh.clone(), now, rand::random());
    for (name, g) in channels {
        mesh.register_channel(&name, g);
    }
    let (cmds, rx) = mpsc::channel(1024);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(mesh.snapshot(now, SystemTime::now())));
    let (events, _) = broadcast::channel(1024);
    let (ov_tx, ov_rx) = mpsc::channel(1024);
    let switch = cfg.sleeve.clone().map(|s| OverlaySwitch::new(s, cfg.fastdp.clone(), ov_tx.clone()));
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        cmds: cmds.clone(),
        next_id: AtomicU64::new(1),
        snapshot: snap_rx.clone(),
    });
    let handle = MeshHandle {
        cmds,
        snapshot: snap_rx,
        events: events.clone(),
        port: cfg.mesh.port,
        fastdp: cfg.fastdp.clone(),
    };

    tokio::spawn(accept_loop(listener, shared.clone(), stop.clone()));
    let io = LoopIo { rx, ov_rx, _ov_tx: ov_tx, switch, snap_tx, events, persist: Box::new(persist) };
    tokio::spawn(mesh_loop(mesh, io, shared, stop));
    let errors = handle.connect(&peers, false).await;
    for e in errors {
        tracing::warn!("initial peer: {e}");
    }
    Ok(handle)
}

/// The mesh task's channels and collaborators.
struct LoopIo {
    rx: mpsc::Receiver<Cmd>,
    ov_rx: mpsc::Receiver<(ConnId, OverlayEvent)>,
    /// Keeps the overlay channel open even without an overlay.
    _ov_tx: mpsc::Sender<(ConnId, OverlayEvent)>,
    switch: Option<OverlaySwitch>,
    snap_tx: watch::Sender<Arc<MeshSnapshot>>,
    events: broadcast::Sender<MeshEvent>,
    persist: Box<dyn Fn(Vec<String>) + Send>,
}

async fn mesh_loop(mut mesh: Mesh, mut io: LoopIo, shared: Arc<Shared>, stop: CancellationToken) {
    let mut conns: HashMap<ConnId, ConnExtra> = HashMap::new();
    let mut last_snapshot = Instant::now();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut answers: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let deadline = tokio::time::Instant::from_std(mesh.next_deadline());
        let mut changed = false;
        let now = Instant::now();
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => mesh.tick(Instant::now()),
            ev = io.ov_rx.recv() => {
                let Some((conn, ev)) = ev else { break };
                match ev {
                    OverlayEvent::Established => mesh.overlay_established(now, conn),
                    OverlayEvent::Failed(reason) => {
                        if let Some(c) = conns.remove(&conn) {
                            c.close.cancel();
                        }
                        mesh.connection_closed(now, conn, &reason);
                    }
                    OverlayEvent::Send(body) => {
                        if let Some(c) = conns.get(&conn) {
                            let _ = c.writer.try_send(Write::Body(body, false));
                        }
                    }
                    OverlayEvent::Attrs(a) => {
                        mesh.set_overlay_attrs(conn, a);
                        changed = true;
                    }
                    OverlayEvent::Status(s) => {
                        mesh.set_overlay_status(conn, s);
                        changed = true;
                    }
                }
            }
            cmd = io.rx.recv() => {
                let Some(cmd) = cmd else { break };
                match cmd {
                    Cmd::Ready { id, hs, extra } => {
                        conns.insert(id, extra);
                        mesh.connection_ready(now, id, *hs);
                    }
                    Cmd::Message { id, body } => mesh.message(now, id, &body),
                    Cmd::Sent { id } => mesh.sent(now, id),
                    Cmd::Closed { id, reason } => {
                        conns.remove(&id);
                        mesh.connection_closed(now, id, &reason);
                    }
                    Cmd::DialFailed { address, error } => mesh.dial_failed(now, &address, &error),
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
                        if c.writer.try_send(Write::Body(body, gossip)).is_err() {
                            tracing::warn!(
                                conn,
                                "connection is not keeping up with what we send; closing it"
                            );
                            c.close.cancel();
                        }
                    }
                }
                Output::Close { conn, reason } => {
                    if let Some(c) = conns.get(&conn) {
                        tracing::debug!(conn, "closing: {reason}");
                        c.close.cancel();
                    }
                    // The connection task reports Closed with its own view; keep the reason.
                    let _ = shared.cmds.try_send(Cmd::Closed { id: conn, reason });
                }
                Output::Dial { address, accept_new_peer } => {
                    tokio::spawn(dial(address, accept_new_peer, shared.clone()));
                }
                Output::OverlayPrepare { conn } => {
                    let (Some(sw), Some(extra), Some((remote, outbound, conn_uid, untrusted))) =
                        (io.switch.as_mut(), conns.get(&conn), mesh.connection_info(conn))
                    else {
                        continue;
                    };
                    let params = OverlayParams {
                        remote,
                        conn_uid,
                        outbound,
                        remote_tcp: extra.remote_tcp,
                        local_tcp: extra.local_tcp,
                        session_key: if untrusted { extra.session_key.clone() } else { None },
                        peer_overlays: extra.peer_overlays.clone(),
                        peer_fastdp_heartbeat_ms: extra.peer_fastdp_heartbeat_ms,
                    };
                    if let Err(reason) = sw.prepare(conn, params) {
                        extra.close.cancel();
                        let _ = shared.cmds.try_send(Cmd::Closed { id: conn, reason });
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
                    c.writer.try_send(Write::Flush(tx)).ok().map(|()| rx)
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
                let r = mesh.datapath_routes();
                sw.sleeve().set_routes(DpRoutes {
                    known: r.known.into_iter().collect(),
                    unicast: r.unicast.into_iter().collect(),
                    broadcast: r.broadcast.into_iter().collect(),
                });
            }
        }
        // Status readers see changes at once, and counters at most a few times a second.
        if changed || !answers.is_empty() || last_snapshot.elapsed() > Duration::from_millis(500) {
            last_snapshot = Instant::now();
            io.snap_tx.send_replace(Arc::new(mesh.snapshot(last_snapshot, SystemTime::now())));
        }
        // Answered once the snapshot shows the change, so a status read after `weave connect`
        // or `forget` returns sees it.
        for done in answers.drain(..) {
            let _ = done.send(());
        }
    }
    for c in conns.values() {
        c.close.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let mut bucket = TokenBucket::new(ACCEPT_TOKENS, ACCEPT_TOKEN_INTERVAL);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, remote)) => {
                tracing::info!("->[{remote}] connection accepted");
                let shared = shared.clone();
                tokio::spawn(
                    async move { run_connection(stream, remote.to_string(), false, true, shared).await },
                );
            }
            Err(e) => tracing::warn!("accepting a peer connection: {e}"),
        }
        tokio::time::sleep(bucket.take(Instant::now())).await;
    }
}

/// Weave's accept limiter: bursts of `capacity`, then one accept per `interval`.
struct TokenBucket {
    capacity: u32,
    interval: Duration,
    /// When the bucket will be full again.
    full_at: Instant,
}

impl TokenBucket {
    fn new(capacity: u32, interval: Duration) -> TokenBucket {
        TokenBucket { capacity, interval, full_at: Instant::now() }
    }

    /// Takes a token; returns how long to wait until it was available.
    fn take(&mut self, now: Instant) -> Duration {
        self.full_at = self.full_at.max(now) + self.interval;
        (self.full_at - now).saturating_sub(self.interval * self.capacity)
    }
}

#[cfg(test)]
#[test]
fn token_bucket_allows_a_burst_then_paces() {
    let t0 = Instant::now();
    let mut b = TokenBucket { capacity: 3, interval: Duration::from_millis(50), full_at: t0 };
    let waits: Vec<Duration> = (0..5).map(|_| b.take(t0)).collect();
    let ms = |n| Duration::from_millis(n);
    assert_eq!(waits, [ms(0), ms(0), ms(0), ms(50), ms(100)]);
    // After a quiet second the burst is available again.
    assert_eq!(b.take(t0 + Duration::from_secs(1)), ms(0));
}

async fn dial(address: String, accept_new_peer: bool, shared: Arc<Shared>) {
    let result = async {
        let target: SocketAddr = address.parse().map_err(|_| format!("invalid address {address}"))?;
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        if let Some(host) = shared.cfg.host {
            socket.bind(SocketAddr::new(host, 0)).map_err(|e| e.to_string())?;
        }
        match tokio::time::timeout(DIAL_TIMEOUT, socket.connect(target)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("dial tcp {address}: connect: {}", e.to_string().to_lowercase())),
            Err(_) => Err(format!("dial tcp {address}: i/o timeout")),
        }
    }
    .await;
    match result {
        Ok(stream) => run_connection(stream, address, true, accept_new_peer, shared).await,
        Err(error) => {
            let _ = shared.cmds.send(Cmd::DialFailed { address, error }).await;
        }
    }
}

/// One connection from handshake to close.
async fn run_connection(
    stream: TcpStream,
    address: String,
    outbound: bool,
    accept_new_peer: bool,
    shared: Arc<Shared>,
) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    // Weave resets rather than lingers.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    let _ = stream.set_nodelay(true);
    let Ok(remote_tcp) = stream.peer_addr() else { return };
    let remote_ip = Some(remote_tcp.ip());
    let trust_remote = remote_ip.is_some_and(|ip| match ip {
        IpAddr::V4(v4) => shared.cfg.trusted_subnets.iter().any(|n| n.contains(&v4)),
        IpAddr::V6(_) => false,
    });
    let conn_id: u64 = rand::random();
    let snap = shared.snapshot.borrow().clone();
    let ours = Features {
        name: snap.name,
        nick_name: snap.nickname.clone(),
        short_id: Some(snap.short_id),
        uid: snap.uid,
        conn_id,
        trusted: trust_remote,
        overlays: shared.cfg.overlays(),
        fastdp_heartbeat_ms: shared
            .cfg
            .fastdp
            .as_ref()
            .map(|_| crate::overlay::fastdp::heartbeat::OUR_INTERVAL.as_millis() as u32),
    };
    let mut stream = stream;
    let hs = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake::handshake(&mut stream, &ours, shared.cfg.password.as_deref(), outbound),
    )
    .await
    .unwrap_or_else(|_| Err("handshake timed out".into()));
    let Established { features, sealer, mut opener, session_key, .. } = match hs {
        Ok(e) => e,
        Err(error) => {
            tracing::info!("->[{address}] connection shutting down due to error during handshake: {error}");
            if outbound {
                let _ = shared.cmds.send(Cmd::DialFailed { address, error }).await;
            }
            return;
        }
    };
    let conn_uid = weave_wire::protocol::connection_uid(conn_id, features.conn_id);
    let (writer_tx, writer_rx) = mpsc::channel(WRITER_QUEUE);
    let close = CancellationToken::new();
    let peer_overlays = features.overlays.clone();
    let peer_fastdp_heartbeat_ms = features.fastdp_heartbeat_ms;
    let local_tcp = stream.local_addr().ok();
    let hs = Handshaked { features, outbound, remote_addr: address, accept_new_peer, conn_uid, trust_remote };
    let extra = ConnExtra {
        writer: writer_tx,
        close: close.clone(),
        remote_tcp,
        local_tcp,
        session_key,
        peer_overlays,
        peer_fastdp_heartbeat_ms,
    };
    if shared.cmds.send(Cmd::Ready { id, hs: Box::new(hs), extra }).await.is_err() {
        return;
    }

    let (read, write) = stream.into_split();
    let cmds = shared.cmds.clone();
    let reader = async {
        let mut read = BufReader::with_capacity(64 * 1024, read);
        loop {
            let body = match tokio::time::timeout(READ_TIMEOUT, opener.read(&mut read)).await {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return e,
                Err(_) => return "read timeout: no message for 60s".to_string(),
            };
            if cmds.send(Cmd::Message { id, body }).await.is_err() {
                return "mesh stopped".into();
            }
        }
    };
    let writer = write_loop(write, sealer, writer_rx, id, shared.cmds.clone());
    let reason = tokio::select! {
        r = reader => r,
        r = writer => r,
        _ = close.cancelled() => "closed by the mesh".to_string(),
    };
    let _ = shared.cmds.send(Cmd::Closed { id, reason }).await;
}

async fn write_loop(
    mut write: tokio::net::tcp::OwnedWriteHalf,
    mut sealer: handshake::Sealer,
    mut rx: mpsc::Receiver<Write>,
    id: ConnId,
    cmds: mpsc::Sender<Cmd>,
) -> String {
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + TCP_HEARTBEAT, TCP_HEARTBEAT);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let gossip = tokio::select! {
            _ = heartbeat.tick() => {
                sealer.frame(&[0], &mut buf);
                false
            }
            msg = rx.recv() => match msg {
                None => return "mesh stopped".into(),
                Some(Write::Body(body, gossip)) => {
                    sealer.frame(&body, &mut buf);
                    gossip
                }
                Some(Write::Flush(done)) => {
                    if !wait_acknowledged(&write, FLUSH_LIMIT).await {
                        tracing::debug!(conn = id, "flush: the peer has not acknowledged everything");
                    }
                    let _ = done.send(());
                    continue;
                }
            }
        };
        if let Err(e) = write.write_all(&buf).await {
            return e.to_string();
        }
        // Acknowledged gossip lets the mesh send more.
        if gossip && cmds.send(Cmd::Sent { id }).await.is_err() {
            return "mesh stopped".into();
        }
    }
}

/// Longest a flush waits for the peer to acknowledge what was written.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// Waits (at most `limit`) until the socket holds no byte the peer has not acknowledged;
/// says whether it got there.
async fn wait_acknowledged(write: &tokio::net::tcp::OwnedWriteHalf, limit: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let fd = write.as_ref().as_raw_fd();
    let deadline = Instant::now() + limit;
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int; fd is the live socket `write` borrows.
        if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } != 0 {
            return false;
        }
        if queued == 0 {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[cfg(test)]
#[tokio::test]
async fn a_flush_waits_until_the_peer_has_acknowledged_everything() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let (_read, write) = client.into_split();
    // The server reads nothing: fill its receive buffer and our send buffer.
    let chunk = vec![7u8; 64 * 1024];
    while let Ok(n) = write.try_write(&chunk) {
        assert!(n > 0);
    }
    let limit = Duration::from_secs(60);
    tokio::select! {
        acked = wait_acknowledged(&write, limit) => panic!("returned {acked} with unread data queued"),
        _ = tokio::time::sleep(Duration::from_millis(300)) => {}
    }
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while server.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    let acked = tokio::time::timeout(Duration::from_secs(20), wait_acknowledged(&write, limit)).await;
    assert_eq!(acked, Ok(true), "everything is acknowledged once the peer reads");
    drop(write);
    drain.abort();
}
