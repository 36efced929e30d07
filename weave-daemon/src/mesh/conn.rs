//! The I/O of mesh connections: the TCP listener (rate-limited) and dialling, the handshake,
//! then per connection a reader and a writer (framing, encryption, heartbeats, flushes) and
//! the kernel's RTT of its socket. Connections report to the router loop as [`FromConn`]s and
//! take the bodies to write from their writer queue; the loop never touches a socket.

use super::handshake::{self, Established, HANDSHAKE_TIMEOUT, READ_TIMEOUT};
use super::status::{MeshSnapshot, Rtt};
use ipnet::Ipv4Net;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use weave_mesh::{ConnId, Handshaked};
use weave_wire::crypto::{Password, SessionKey};
use weave_wire::protocol::Features;

/// Weave sends a heartbeat on every connection this often.
const TCP_HEARTBEAT: Duration = Duration::from_secs(30);
/// Accepts are rate limited by a token bucket of this many tokens, one regained per interval.
const ACCEPT_TOKENS: u32 = 20;
const ACCEPT_TOKEN_INTERVAL: Duration = Duration::from_millis(50);
/// Messages queued for one connection's writer before it counts as stuck.
const WRITER_QUEUE: usize = 256;
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a connection reads its RTT from the kernel.
const RTT_EVERY: Duration = Duration::from_secs(1);
/// Longest a flush waits for the peer to acknowledge what was written.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// What connections need to know beyond the mesh's own state.
#[derive(Clone)]
pub struct ConnConfig {
    /// The address to listen on and dial from (`--host`); all addresses when absent.
    pub host: Option<IpAddr>,
    pub password: Option<Password>,
    pub trusted_subnets: Vec<Ipv4Net>,
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
    Message {
        id: ConnId,
        body: Vec<u8>,
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
    /// Our name and short id, as the mesh announces them now, for the handshake.
    snapshot: watch::Receiver<Arc<MeshSnapshot>>,
}

impl Conns {
    pub fn new(
        cfg: ConnConfig,
        events: mpsc::Sender<FromConn>,
        snapshot: watch::Receiver<Arc<MeshSnapshot>>,
    ) -> Arc<Conns> {
        Arc::new(Conns { cfg, events, next_id: AtomicU64::new(1), snapshot })
    }
}

/// Accepts peers until `stop`, at most a burst of 20 and then one every 50 ms, as Weave.
pub async fn accept_loop(listener: TcpListener, conns: Arc<Conns>, stop: CancellationToken) {
    let mut bucket = TokenBucket::new(ACCEPT_TOKENS, ACCEPT_TOKEN_INTERVAL);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, remote)) => {
                tracing::info!("->[{remote}] connection accepted");
                let conns = conns.clone();
                tokio::spawn(
                    async move { run_connection(stream, remote.to_string(), false, true, conns).await },
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
        Ok(stream) => run_connection(stream, address, true, accept_new_peer, conns).await,
        Err(error) => {
            let _ = conns.events.send(FromConn::DialFailed { address, error }).await;
        }
    }
}

/// One connection from handshake to close.
async fn run_connection(
    stream: TcpStream,
    address: String,
    outbound: bool,
    accept_new_peer: bool,
    conns: Arc<Conns>,
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
    };
    let mut stream = stream;
    let hs = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake::handshake(&mut stream, &ours, conns.cfg.password.as_deref(), outbound),
    )
    .await
    .unwrap_or_else(|_| Err("handshake timed out".into()));
    let Established { features, sealer, mut opener, session_key, .. } = match hs {
        Ok(e) => e,
        Err(error) => {
            tracing::info!("->[{address}] connection shutting down due to error during handshake: {error}");
            if outbound {
                let _ = conns.events.send(FromConn::DialFailed { address, error }).await;
            }
            return;
        }
    };
    let conn_uid = weave_wire::protocol::connection_uid(conn_id, features.conn_id);
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
        let mut read = BufReader::with_capacity(64 * 1024, read);
        loop {
            let body = match tokio::time::timeout(READ_TIMEOUT, opener.read(&mut read)).await {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return e,
                Err(_) => return "read timeout: no message for 60s".to_string(),
            };
            if events.send(FromConn::Message { id, body }).await.is_err() {
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
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
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
