//! The DNS server: UDP and TCP on `--dns-listen-address`, on threads of its own so a query
//! flood cannot starve the mesh, IPAM or the API. Forwarded queries and TCP connections are
//! bounded; anything unparsable gets FORMERR or nothing. Clients weaveDNS does not serve get
//! REFUSED, UDP clients beyond their rate nothing ([`Dns::admit`]), and a UDP reply leaves from
//! the address its query was sent to.

use super::{forward, Admit, Dns};
use std::io;
use std::net::UdpSocket;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use weave_dns::{Action, Transport};
use weave_netdev::pktinfo;

/// Queries waiting on upstream servers at once; beyond that a query gets SERVFAIL at once.
const MAX_FORWARDS: usize = 512;
/// TCP connections at once; beyond that new ones are closed.
const MAX_TCP: usize = 256;
/// A TCP connection without a complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The bound listen sockets.
pub struct Sockets {
    /// One per UDP worker, all on the listen address (SO_REUSEPORT): the kernel spreads
    /// clients over them, and a client's queries stay with one thread.
    udp: Vec<UdpSocket>,
    tcp: std::net::TcpListener,
}

impl Sockets {
    pub fn bind(addr: SocketAddr) -> io::Result<Sockets> {
        let first = reuse_port_udp(addr)?;
        // Port 0 (tests): everything on the port the first socket got. The TCP listener has no
        // SO_REUSEPORT, so a second daemon on the same address fails here, as in Weave.
        let addr = first.local_addr()?;
        let tcp = std::net::TcpListener::bind(addr)?;
        tcp.set_nonblocking(true)?;
        let mut udp = vec![first];
        for _ in 1..UDP_WORKERS {
            udp.push(reuse_port_udp(addr)?);
        }
        Ok(Sockets { udp, tcp })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A blocking UDP socket bound with SO_REUSEPORT, waking up every [`STOP_CHECK`].
fn reuse_port_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(STOP_CHECK))?;
    let s: UdpSocket = s.into();
    pktinfo::enable(&s)?;
    Ok(s)
}

/// Threads receiving UDP queries (the hot path); each answers what it receives.
const UDP_WORKERS: usize = 2;
/// How often a blocked UDP worker looks at the stop signal.
const STOP_CHECK: Duration = Duration::from_millis(500);

/// UDP is served by blocking worker threads (no reactor round trip per query); TCP and
/// forwarded queries by a single-threaded runtime on a thread of its own.
pub fn spawn(dns: Arc<Dns>, sockets: Sockets, stop: CancellationToken) {
    if let Err(e) = start(dns, sockets, stop) {
        tracing::error!("DNS server: {e}");
    }
}

fn start(dns: Arc<Dns>, sockets: Sockets, stop: CancellationToken) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let forwards = Arc::new(Semaphore::new(MAX_FORWARDS));
    for (i, udp) in sockets.udp.into_iter().enumerate() {
        let worker = UdpWorker {
            dns: dns.clone(),
            sock: Arc::new(udp),
            rt: rt.handle().clone(),
            forwards: forwards.clone(),
            stop: stop.clone(),
        };
        std::thread::Builder::new().name(format!("weave-dns-udp{i}")).spawn(move || worker.run())?;
    }
    let tcp = sockets.tcp;
    std::thread::Builder::new().name("weave-dns".into()).spawn(move || {
        rt.block_on(async move {
            let tcp = match TcpListener::from_std(tcp) {
                Ok(t) => t,
                Err(e) => return tracing::error!("DNS server TCP socket: {e}"),
            };
            tracing::info!(address = %dns.config.listen, "DNS server listening (UDP and TCP)");
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = serve_tcp(dns, tcp) => {}
            }
        });
    })?;
    Ok(())
}

struct UdpWorker {
    dns: Arc<Dns>,
    sock: Arc<UdpSocket>,
    /// Where forwarded queries wait for upstream answers.
    rt: tokio::runtime::Handle,
    forwards: Arc<Semaphore>,
    stop: CancellationToken,
}

impl UdpWorker {
    fn run(self) {
        let mut buf = vec![0u8; 65535];
        while !self.stop.is_cancelled() {
            let (n, client, to) = match pktinfo::recv(&self.sock, &mut buf) {
                Ok(r) => r,
                // Timeouts (to look at `stop`), and ICMP errors from earlier sends.
                Err(_) => continue,
            };
            let query = &buf[..n];
            let action = match self.dns.admit(client.ip(), true) {
                Admit::Answer => self.dns.answer(query, Transport::Udp),
                Admit::Refuse => match weave_dns::message::refused(query) {
                    Some(r) => Action::Reply(r),
                    None => Action::Drop,
                },
                Admit::Drop => Action::Drop,
            };
            match action {
                Action::Reply(reply) => {
                    let _ = pktinfo::send(&self.sock, &reply, client, to);
                }
                Action::Drop => {}
                Action::Forward(f) => self.forward(f, client, to),
            }
        }
    }

    /// `to`: the local address the query came to, where the answer leaves from.
    fn forward(&self, f: weave_dns::Forward, client: SocketAddr, to: Option<IpAddr>) {
        let Ok(permit) = self.forwards.clone().try_acquire_owned() else {
            let _ = pktinfo::send(&self.sock, &f.servfail(), client, to);
            return;
        };
        let (dns, sock) = (self.dns.clone(), self.sock.clone());
        self.rt.spawn(async move {
            let reply = forward::forward(&f, &dns.upstream()).await;
            // A blocking socket, but a UDP send only waits for buffer space.
            let _ = pktinfo::send(&sock, &reply, client, to);
            drop(permit);
        });
    }
}

async fn serve_tcp(dns: Arc<Dns>, listener: TcpListener) {
    let conns = Arc::new(Semaphore::new(MAX_TCP));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else { continue };
        let dns = dns.clone();
        let served = dns.admit(peer.ip(), false) == Admit::Answer;
        tokio::spawn(async move {
            if let Err(e) = serve_conn(&dns, stream, served).await {
                tracing::debug!("DNS TCP connection: {e}");
            }
            drop(permit);
        });
    }
}

/// Queries on one connection, one after another, each a 2-byte length and a message; REFUSED
/// to each unless `served`.
async fn serve_conn(dns: &Dns, mut stream: TcpStream, served: bool) -> io::Result<()> {
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
        if !served {
            let Some(reply) = weave_dns::message::refused(msg) else { return Ok(()) };
            let mut out = Vec::with_capacity(reply.len() + 2);
            out.extend_from_slice(&(reply.len() as u16).to_be_bytes());
            out.extend_from_slice(&reply);
            stream.write_all(&out).await?;
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_server_on_the_same_address_is_refused() {
        let first = Sockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        assert_eq!(first.udp.len(), UDP_WORKERS);
        assert!(Sockets::bind(addr).is_err(), "bound {addr} twice");
        drop(first);
        assert!(Sockets::bind(addr).is_ok());
    }
}
