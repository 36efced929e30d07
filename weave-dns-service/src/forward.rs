//! The I/O of forwarding a query upstream: each server in turn over the client's transport,
//! [`UPSTREAM_TIMEOUT`] each; SERVFAIL when none answers.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};
use weave_dns::{Forward, Transport, UpstreamQuery, UPSTREAM_TIMEOUT};

/// The client's reply.
pub async fn forward(f: &Forward, servers: &[SocketAddr]) -> Vec<u8> {
    for server in servers {
        let q = f.query(&mut rand::rng());
        let deadline = Instant::now() + UPSTREAM_TIMEOUT;
        let reply = match f.transport() {
            Transport::Udp => udp(f, &q, *server, deadline).await,
            Transport::Tcp => tcp(f, &q, *server, deadline).await,
        };
        match reply {
            Ok(Some(r)) => return r,
            Ok(None) => tracing::debug!(%server, "no usable answer from upstream DNS server"),
            Err(e) => tracing::debug!(%server, "upstream DNS server: {e}"),
        }
    }
    f.servfail()
}

async fn udp(
    f: &Forward,
    q: &UpstreamQuery,
    server: SocketAddr,
    deadline: Instant,
) -> io::Result<Option<Vec<u8>>> {
    let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(&q.bytes).await?;
    let mut buf = vec![0u8; 65535];
    // Replies with another id (late answers to someone else) are skipped.
    loop {
        let Ok(n) = timeout_at(deadline, sock.recv(&mut buf)).await else { return Ok(None) };
        if let Some(r) = f.accept(q, &buf[..n?]) {
            return Ok(Some(r));
        }
    }
}

async fn tcp(
    f: &Forward,
    q: &UpstreamQuery,
    server: SocketAddr,
    deadline: Instant,
) -> io::Result<Option<Vec<u8>>> {
    let exchange = async {
        let mut s = TcpStream::connect(server).await?;
        let len = u16::try_from(q.bytes.len()).map_err(|_| io::Error::other("query too long"))?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(&q.bytes);
        s.write_all(&out).await?;
        let n = usize::from(s.read_u16().await?);
        let mut reply = vec![0u8; n];
        s.read_exact(&mut reply).await?;
        Ok::<_, io::Error>(f.accept(q, &reply))
    };
    timeout_at(deadline, exchange).await.unwrap_or(Ok(None))
}
