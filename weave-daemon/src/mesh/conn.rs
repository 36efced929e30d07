//! The I/O of mesh connections: the TCP listener (rate-limited) and dialling, the handshake,
//! then per connection a reader and a writer (framing, encryption, heartbeats, flushes) and
//! the kernel's RTT of its socket. Connections report to the router loop as [`FromConn`]s and
//! take the bodies to write from their writer queue; the loop never touches a socket.

use super::admission::{Admission, Admitted, Limits, LogLimit, Refusal};
use super::handshake::{self, Established, HANDSHAKE_TIMEOUT, READ_TIMEOUT};
use super::status::{MeshSnapshot, Rtt};
use ipnet::Ipv4Net;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use weave_mesh::{ConnId, Decoder, Handshaked, Inbound};
use weave_wire::crypto::aead::{self, Binding};
use weave_wire::crypto::{Password, SessionKey, SleeveCipher, Suite};
use weave_wire::protocol::Features;

/// Weave sends a heartbeat on every connection this often.
const TCP_HEARTBEAT: Duration = Duration::from_secs(30);
/// An incoming connection must complete its handshake within this. Weave peers take a round
/// trip or two (milliseconds on a LAN, under a second across continents); Weave allows 10 s,
/// which lets a slow drip hold a slot twice as long.
const INBOUND_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Handshakes pending from one address: a peer dials us once at a time; several peers behind
/// one NAT address may start together.
const PENDING_PER_SOURCE: u32 = 8;
/// Handshakes pending in all: above a whole 100-peer mesh dialling one seed at once.
const PENDING_TOTAL: usize = 256;
/// At the overall cap, a handshake pending this long may be displaced: honest ones are done.
const EVICTABLE_AFTER: Duration = Duration::from_secs(1);
/// Refusals are summed up in one line this often.
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(10);
/// Lines about connections before their handshake: at most this many per interval.
const PRE_AUTH_LOG_BURST: u32 = 50;
const PRE_AUTH_LOG_WINDOW: Duration = Duration::from_secs(10);
/// Message bodies up to this size are decoded on the reader's task itself (tens of
/// microseconds at most); larger ones on the blocking pool.
const INLINE_DECODE_MAX: usize = 16 * 1024;
/// After a failed accept (out of descriptors), wait this long before the next.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Messages queued for one connection's writer before it counts as stuck.
const WRITER_QUEUE: usize = 256;
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a connection reads its RTT from the kernel.
const RTT_EVERY: Duration = Duration::from_secs(5);
/// Per-connection buffers: the reader's, and the most the writer keeps between messages.
const READ_BUFFER: usize = 8 * 1024;
const WRITE_BUFFER_KEPT: usize = 16 * 1024;
/// Longest a flush waits for the peer to acknowledge what was written.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// What connections need to know beyond the mesh's own state.
#[derive(Clone)]
pub struct ConnConfig {
    /// The address to listen on and dial from (`--host`); all addresses when absent.
    pub host: Option<IpAddr>,
    pub password: Option<Password>,
    pub trusted_subnets: Vec<Ipv4Net>,
    /// Our `SleeveCiphers` offer, best first (with a password, unless `--sleeve-cipher nacl`).
    pub sleeve_offer: Option<Vec<Suite>>,
    /// Our `Overlays` feature.
    pub overlays: Option<Vec<String>>,
    /// Our `FastDPHeartbeat` feature (with fastdp).
    pub fastdp_heartbeat_ms: Option<u32>,
}

/// What a connection tells the router loop.
pub enum FromConn {
    /// The handshake completed. Boxed: a handshake is large and the other reports are frequent.
    Ready {
        id: ConnId,
        hs: Box<Handshaked>,
        conn: ConnHandle,
    },
    /// A message, decoded on the connection's task.
    Message {
        id: ConnId,
        msg: Inbound,
    },
    /// A gossip body was written.
    Sent {
        id: ConnId,
    },
    Closed {
        id: ConnId,
        reason: String,
    },
    DialFailed {
        address: String,
        error: String,
    },
}

/// What a connection's writer is given.
pub enum Write {
    /// A message body, flagged if it is gossip whose writing the mesh waits for.
    Body(Vec<u8>, bool),
    /// Answer once everything written before has been acknowledged by the peer's kernel.
    Flush(oneshot::Sender<()>),
}

/// The router loop's hold on one connection.
pub struct ConnHandle {
    pub writer: mpsc::Sender<Write>,
    pub close: CancellationToken,
    /// The TCP peer address (the overlay's first guess at the peer's UDP address).
    pub remote_tcp: SocketAddr,
    pub local_tcp: Option<SocketAddr>,
    pub session_key: Option<SessionKey>,
    /// The sleeve cipher both ends arrived at from their offers.
    pub sleeve_cipher: SleeveCipher,
    /// Both offers as seen here, fed into the AEAD's keys.
    pub binding: Binding,
    pub peer_overlays: Option<Vec<String>>,
    pub peer_fastdp_heartbeat_ms: Option<u32>,
    /// The kernel's smoothed RTT of the socket, as the writer last read it.
    pub rtt: Rtt,
}

/// What every connection task shares.
pub struct Conns {
    pub cfg: ConnConfig,
    pub events: mpsc::Sender<FromConn>,
    next_id: AtomicU64,
    /// Incoming connections whose handshake is pending.
    admission: Mutex<Admission<CancellationToken>>,
    pre_auth_log: Mutex<LogLimit>,
    /// Our name and short id, as the mesh announces them now, for the handshake.
    snapshot: watch::Receiver<Arc<MeshSnapshot>>,
    /// Decodes what connections receive, so the mesh's task only merges it.
    decoder: Arc<Decoder>,
}

impl Conns {
    pub fn new(
        cfg: ConnConfig,
        events: mpsc::Sender<FromConn>,
        snapshot: watch::Receiver<Arc<MeshSnapshot>>,
        decoder: Arc<Decoder>,
    ) -> Arc<Conns> {
        let limits =
            Limits { total: PENDING_TOTAL, per_source: PENDING_PER_SOURCE, evictable_after: EVICTABLE_AFTER };
        Arc::new(Conns {
            cfg,
            events,
            next_id: AtomicU64::new(1),
            admission: Mutex::new(Admission::new(limits)),
            pre_auth_log: Mutex::new(LogLimit::new(PRE_AUTH_LOG_WINDOW, PRE_AUTH_LOG_BURST)),
            snapshot,
            decoder,
        })
    }
}

/// Accepts peers until `stop`, as fast as they come: before its handshake completes a
/// connection is held to the [`Admission`] limits and [`INBOUND_HANDSHAKE_TIMEOUT`], so a flood
/// cannot delay honest peers (Weave's accept rate limit of 20/s queued them behind it).
pub async fn accept_loop(listener: TcpListener, conns: Arc<Conns>, stop: CancellationToken) {
    let mut refused = Refused::default();
    let mut summary = tokio::time::interval(REFUSALS_LOGGED_EVERY);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            _ = summary.tick() => {
                refused.log();
                continue;
            }
            a = listener.accept() => a,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, most likely: give what holds them time to close.
                pre_auth_log(&conns, |more| tracing::warn!("accepting a peer connection: {e}{more}"));
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let evict = CancellationToken::new();
        let admitted =
            conns.admission.lock().expect("admission lock").admit(Instant::now(), remote.ip(), evict.clone());
        match admitted {
            Ok(Admitted { ticket, evicted }) => {
                if let Some(e) = evicted {
                    refused.evicted += 1;
                    e.cancel();
                }
                pre_auth_log(&conns, |more| tracing::info!("->[{remote}] connection accepted{more}"));
                let slot = Slot { conns: conns.clone(), ticket, evicted: evict };
                let conns = conns.clone();
                tokio::spawn(async move {
                    run_connection(stream, remote.to_string(), false, true, conns, Some(slot)).await
                });
            }
            Err(why) => {
                refused.count(why, remote);
                // A reset, not a lingering close: nothing of it stays behind.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
            }
        }
    }
}

/// Refusals: the first is logged at once, the rest summed up every interval, so a flood
/// costs a line per interval.
#[derive(Default)]
struct Refused {
    per_source: u64,
    total: u64,
    evicted: u64,
    last: Option<SocketAddr>,
    /// Until then refusals are only counted.
    quiet_until: Option<Instant>,
}

impl Refused {
    fn count(&mut self, why: Refusal, remote: SocketAddr) {
        let now = Instant::now();
        if self.quiet_until.is_none_or(|t| now >= t) {
            self.quiet_until = Some(now + REFUSALS_LOGGED_EVERY);
            let limit = match why {
                Refusal::Source => format!("{PENDING_PER_SOURCE} handshakes pending from its address"),
                Refusal::Total => format!("{PENDING_TOTAL} handshakes pending"),
            };
            tracing::warn!(
                "->[{remote}] incoming connections refused: {limit}; further refusals are summed up every {}s",
                REFUSALS_LOGGED_EVERY.as_secs()
            );
            return;
        }
        match why {
            Refusal::Source => self.per_source += 1,
            Refusal::Total => self.total += 1,
        }
        self.last = Some(remote);
    }

    fn log(&mut self) {
        let (per_source, total, evicted) = (self.per_source, self.total, self.evicted);
        let last = self.last.take().map(|a| a.to_string()).unwrap_or_else(|| "-".into());
        (self.per_source, self.total, self.evicted) = (0, 0, 0);
        if per_source + total + evicted == 0 {
            return;
        }
        tracing::warn!(
            per_source,
            total,
            evicted,
            %last,
            "incoming connections refused before their handshake in the last {}s: {per_source} from \
             addresses with {PENDING_PER_SOURCE} handshakes pending, {total} with {PENDING_TOTAL} \
             pending in all; {evicted} pending handshakes displaced for newcomers",
            REFUSALS_LOGGED_EVERY.as_secs(),
        );
    }
}

/// An admitted incoming connection's place among the pending handshakes, given back when
/// dropped (the handshake completed or failed).
struct Slot {
    conns: Arc<Conns>,
    ticket: u64,
    /// Cancelled when a newcomer takes the slot.
    evicted: CancellationToken,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut a) = self.conns.admission.lock() {
            a.done(self.ticket);
        }
    }
}

/// Logs a line about a connection that has not completed its handshake, within the shared
/// rate limit; `more` says how many such lines were held back.
fn pre_auth_log(conns: &Conns, log: impl FnOnce(&str)) {
    let allowed = conns.pre_auth_log.lock().map(|mut l| l.allow(Instant::now())).unwrap_or(None);
    match allowed {
        Some(0) => log(""),
        Some(n) => log(&format!(" ({n} similar lines held back)")),
        None => {}
    }
}

/// Dials `address` and runs the connection; a failure before the handshake completes is
/// reported as `DialFailed`.
pub async fn dial(address: String, accept_new_peer: bool, conns: Arc<Conns>) {
    let result = async {
        let target: SocketAddr = address.parse().map_err(|_| format!("invalid address {address}"))?;
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        if let Some(host) = conns.cfg.host {
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
        Ok(stream) => run_connection(stream, address, true, accept_new_peer, conns, None).await,
        Err(error) => {
            let _ = conns.events.send(FromConn::DialFailed { address, error }).await;
        }
    }
}

/// One connection from handshake to close. An incoming one holds its admission `slot` until
/// its handshake ends.
async fn run_connection(
    stream: TcpStream,
    address: String,
    outbound: bool,
    accept_new_peer: bool,
    conns: Arc<Conns>,
    slot: Option<Slot>,
) {
    let id = conns.next_id.fetch_add(1, Ordering::Relaxed);
    // Weave resets rather than lingers.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    let _ = stream.set_nodelay(true);
    let Ok(remote_tcp) = stream.peer_addr() else { return };
    let trust_remote = match remote_tcp.ip() {
        IpAddr::V4(v4) => conns.cfg.trusted_subnets.iter().any(|n| n.contains(&v4)),
        IpAddr::V6(_) => false,
    };
    let conn_id: u64 = rand::random();
    let snap = conns.snapshot.borrow().clone();
    let ours = Features {
        name: snap.name,
        nick_name: snap.nickname.clone(),
        short_id: Some(snap.short_id),
        uid: snap.uid,
        conn_id,
        trusted: trust_remote,
        overlays: conns.cfg.overlays.clone(),
        fastdp_heartbeat_ms: conns.cfg.fastdp_heartbeat_ms,
        sleeve_ciphers: conns.cfg.sleeve_offer.as_deref().map(aead::offer_value),
    };
    let mut stream = stream;
    let limit = if outbound { HANDSHAKE_TIMEOUT } else { INBOUND_HANDSHAKE_TIMEOUT };
    let hs = handshake::handshake(&mut stream, &ours, conns.cfg.password.as_deref(), outbound);
    let evicted = async {
        match &slot {
            Some(s) => s.evicted.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let hs = tokio::select! {
        r = tokio::time::timeout(limit, hs) => r.unwrap_or_else(|_| Err("handshake timed out".into())),
        _ = evicted => Err("displaced by a newer connection: too many handshakes pending".into()),
    };
    drop(slot);
    let Established { features, sealer, mut opener, session_key, .. } = match hs {
        Ok(e) => e,
        Err(error) => {
            let line = |more: &str| {
                tracing::info!(
                    "->[{address}] connection shutting down due to error during handshake: {error}{more}"
                )
            };
            if outbound {
                line("");
                let _ = conns.events.send(FromConn::DialFailed { address, error }).await;
            } else {
                pre_auth_log(&conns, line);
            }
            return;
        }
    };
    let conn_uid = weave_wire::protocol::connection_uid(conn_id, features.conn_id);
    // The features were exchanged sealed under the session key (protocol version 2, the only
    // one weave speaks), so a third party cannot strip the peer's offer.
    let theirs = features.sleeve_ciphers.as_deref().map(aead::parse_offer);
    let sleeve_cipher = aead::negotiate(conns.cfg.sleeve_offer.as_deref(), theirs.as_deref());
    let binding = Binding::new(
        (ours.name.bytes(), ours.sleeve_ciphers.as_deref().unwrap_or("")),
        (features.name.bytes(), features.sleeve_ciphers.as_deref().unwrap_or("")),
    );
    let (writer_tx, writer_rx) = mpsc::channel(WRITER_QUEUE);
    let close = CancellationToken::new();
    let rtt = Rtt::default();
    sample_rtt(&stream, &rtt, id);
    let handle = ConnHandle {
        writer: writer_tx,
        close: close.clone(),
        remote_tcp,
        local_tcp: stream.local_addr().ok(),
        session_key,
        sleeve_cipher,
        binding,
        peer_overlays: features.overlays.clone(),
        peer_fastdp_heartbeat_ms: features.fastdp_heartbeat_ms,
        rtt: rtt.clone(),
    };
    let hs = Handshaked { features, outbound, remote_addr: address, accept_new_peer, conn_uid, trust_remote };
    if conns.events.send(FromConn::Ready { id, hs: Box::new(hs), conn: handle }).await.is_err() {
        return;
    }

    let (read, write) = stream.into_split();
    let events = conns.events.clone();
    let reader = async {
        // Small: most messages are heartbeats and small gossip, and a large body is read
        // straight into its own buffer; one of these per connection adds up in a big mesh.
        let mut read = BufReader::with_capacity(READ_BUFFER, read);
        loop {
            let body = match tokio::time::timeout(READ_TIMEOUT, opener.read(&mut read)).await {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return e,
                Err(_) => return "read timeout: no message for 60s".to_string(),
            };
            let msg = decode(&conns.decoder, body).await;
            if events.send(FromConn::Message { id, msg }).await.is_err() {
                return "mesh stopped".into();
            }
        }
    };
    let writer = write_loop(write, sealer, writer_rx, id, &rtt, conns.events.clone());
    let reason = tokio::select! {
        r = reader => r,
        r = writer => r,
        _ = close.cancelled() => "closed by the mesh".to_string(),
    };
    let _ = conns.events.send(FromConn::Closed { id, reason }).await;
}

/// Decodes a message body: small ones (heartbeats, most gossip) at once, larger ones on the
/// blocking pool so a costly message never holds an async worker, and so never the mesh's
/// task. The reader waits for the result before it reads on: a peer sending costly messages
/// slows its own connection, which TCP then pushes back on.
async fn decode(decoder: &Arc<Decoder>, body: Vec<u8>) -> Inbound {
    if body.len() <= INLINE_DECODE_MAX {
        return decoder.decode(&body);
    }
    // Two at a time: while a big mesh forms, every connection brings a large topology at once,
    // and decoding them all together made the daemon's memory peak (and stay there).
    static LARGE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _permit = LARGE.acquire().await;
    let d = decoder.clone();
    match tokio::task::spawn_blocking(move || d.decode(&body)).await {
        Ok(msg) => msg,
        // A decoder panicked (a bug) or the runtime is stopping: the connection is closed.
        Err(e) => Inbound::failed(format!("decoding a message: {e}")),
    }
}

/// Writes what the loop queues, heartbeats every 30 s, and samples the socket's RTT.
async fn write_loop(
    mut write: OwnedWriteHalf,
    mut sealer: handshake::Sealer,
    mut rx: mpsc::Receiver<Write>,
    id: ConnId,
    rtt: &Rtt,
    events: mpsc::Sender<FromConn>,
) -> String {
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + TCP_HEARTBEAT, TCP_HEARTBEAT);
    let mut rtt_tick = tokio::time::interval_at(tokio::time::Instant::now() + RTT_EVERY, RTT_EVERY);
    rtt_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = Vec::new();
    loop {
        // A large message (a big mesh's topology) is not worth keeping room for.
        if buf.capacity() > WRITE_BUFFER_KEPT {
            buf = Vec::new();
        }
        buf.clear();
        let gossip = tokio::select! {
            _ = rtt_tick.tick() => {
                sample_rtt(write.as_ref(), rtt, id);
                continue;
            }
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
        if gossip && events.send(FromConn::Sent { id }).await.is_err() {
            return "mesh stopped".into();
        }
    }
}

fn sample_rtt(sock: &TcpStream, rtt: &Rtt, id: ConnId) {
    match weave_netdev::tcp::rtt(sock) {
        Ok(r) => rtt.set(r.srtt),
        Err(e) => tracing::debug!(conn = id, "{e}"),
    }
}

/// Waits (at most `limit`) until the socket holds no byte the peer has not acknowledged;
/// says whether it got there.
async fn wait_acknowledged(write: &OwnedWriteHalf, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match weave_netdev::tcp::unacknowledged(write.as_ref()) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("flush: {e}");
                return false;
            }
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
