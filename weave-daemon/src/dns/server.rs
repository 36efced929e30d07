//! The DNS server: UDP and TCP on `--dns-listen-address`, on a thread of its own so a query
//! flood cannot starve the mesh, IPAM or the API. Forwarded queries and TCP connections are
//! bounded; anything unparsable gets FORMERR or nothing.

use super::{forward, Dns};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use weave_dns::{Action, Transport};

/// Queries waiting on upstream servers at once; beyond that a query gets SERVFAIL at once.
const MAX_FORWARDS: usize = 512;
/// TCP connections at once; beyond that new ones are closed.
const MAX_TCP: usize = 256;
/// A TCP connection without a complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The bound listen sockets.
pub struct Sockets {
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
}

impl Sockets {
    pub fn bind(addr: SocketAddr) -> io::Result<Sockets> {
        let udp = std::net::UdpSocket::bind(addr)?;
        // Port 0 (tests): TCP on the port UDP got.
        let tcp = std::net::TcpListener::bind(udp.local_addr()?)?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok(Sockets { udp, tcp })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

pub fn spawn(dns: Arc<Dns>, sockets: Sockets, stop: CancellationToken) {
    let run = move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return tracing::error!("DNS server runtime: {e}"),
        };
        rt.block_on(async move {
            let (udp, tcp) = match (UdpSocket::from_std(sockets.udp), TcpListener::from_std(sockets.tcp)) {
                (Ok(u), Ok(t)) => (u, t),
                (Err(e), _) | (_, Err(e)) => return tracing::error!("DNS server sockets: {e}"),
            };
            tracing::info!(address = %dns.config.listen, "DNS server listening (UDP and TCP)");
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = serve_udp(dns.clone(), Arc::new(udp)) => {}
                _ = serve_tcp(dns, tcp) => {}
            }
        });
    };
    if let Err(e) = std::thread::Builder::new().name("weave-dns".into()).spawn(run) {
        tracing::error!("DNS server thread: {e}");
    }
}

async fn serve_udp(dns: Arc<Dns>, sock: Arc<UdpSocket>) {
    let forwards = Arc::new(Semaphore::new(MAX_FORWARDS));
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, client) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP errors from earlier sends surface here; nothing to do about them.
            Err(e) => {
                tracing::debug!("DNS UDP receive: {e}");
                continue;
            }
        };
        match dns.answer(&buf[..n], Transport::Udp) {
            Action::Reply(reply) => {
                let _ = sock.send_to(&reply, client).await;
            }
            Action::Drop => {}
            Action::Forward(f) => {
                let Ok(permit) = forwards.clone().try_acquire_owned() else {
                    let _ = sock.send_to(&f.servfail(), client).await;
                    continue;
                };
                let (dns, sock) = (dns.clone(), sock.clone());
                tokio::spawn(async move {
                    let reply = forward::forward(&f, &dns.upstream()).await;
                    let _ = sock.send_to(&reply, client).await;
                    drop(permit);
                });
            }
        }
    }
}

async fn serve_tcp(dns: Arc<Dns>, listener: TcpListener) {
    let conns = Arc::new(Semaphore::new(MAX_TCP));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else { continue };
        let dns = dns.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_conn(&dns, stream).await {
                tracing::debug!("DNS TCP connection: {e}");
            }
            drop(permit);
        });
    }
}

/// Queries on one connection, one after another, each a 2-byte length and a message.
async fn serve_conn(dns: &Dns, mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 65535];
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        let msg = &mut buf[..len];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(msg)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        let reply = match dns.answer(msg, Transport::Tcp) {
            Action::Reply(r) => r,
            Action::Drop => continue,
            Action::Forward(f) => forward::forward(&f, &dns.upstream()).await,
        };
        let Ok(rlen) = u16::try_from(reply.len()) else { continue };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&rlen.to_be_bytes());
        out.extend_from_slice(&reply);
        stream.write_all(&out).await?;
    }
}
