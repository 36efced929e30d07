//! What the kernel knows about a TCP socket: its smoothed round-trip time (`TCP_INFO`) and the
//! bytes the peer has not acknowledged yet (`SIOCOUTQ`). The mesh's connections ask, to show
//! each peer's RTT and to wait until gossip has reached the peer before stopping.

use crate::NetdevError;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// The kernel's RTT estimate of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRtt {
    /// Smoothed RTT (`tcpi_rtt`).
    pub srtt: Duration,
    /// Its mean deviation (`tcpi_rttvar`).
    pub rttvar: Duration,
}

/// The smoothed RTT of a connected TCP socket.
pub fn rtt(sock: &impl AsFd) -> Result<TcpRtt, NetdevError> {
    let fd = sock.as_fd().as_raw_fd();
    // SAFETY: tcp_info is plain integers, for which all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `fd` is borrowed from a live socket for the call; `info` is writable for `len`
    // bytes, and the kernel writes at most `len` (fewer on older kernels, which leaves zeroes).
    let r =
        unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, (&raw mut info).cast(), &mut len) };
    if r != 0 {
        return Err(NetdevError::new("getsockopt TCP_INFO", io::Error::last_os_error()));
    }
    Ok(TcpRtt {
        srtt: Duration::from_micros(info.tcpi_rtt.into()),
        rttvar: Duration::from_micros(info.tcpi_rttvar.into()),
    })
}

/// Bytes written to a TCP socket that the peer has not acknowledged yet.
pub fn unacknowledged(sock: &impl AsFd) -> Result<usize, NetdevError> {
    let fd = sock.as_fd().as_raw_fd();
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int into `queued`; `fd` is borrowed from a live
    // socket for the call.
    if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } != 0 {
        return Err(NetdevError::new("ioctl SIOCOUTQ", io::Error::last_os_error()));
    }
    Ok(queued.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_loopback_connection_has_an_rtt_and_its_data_acknowledged() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        // An exchange gives the kernel RTT samples.
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong").unwrap();
        c.read_exact(&mut buf).unwrap();
        let r = rtt(&c).expect("TCP_INFO");
        assert!(r.srtt > Duration::ZERO && r.srtt < Duration::from_secs(1), "{r:?}");
        assert_eq!(unacknowledged(&c).expect("SIOCOUTQ"), 0, "the peer has acknowledged everything");
    }

    #[test]
    fn a_socket_that_is_not_tcp_is_refused_naming_the_call() {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = rtt(&u).expect_err("TCP_INFO on UDP");
        assert!(e.to_string().starts_with("getsockopt TCP_INFO: "), "{e}");
    }
}
