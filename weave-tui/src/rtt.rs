//! Round-trip times of the mesh's TCP connections as the kernel measures them (TCP_INFO's
//! smoothed RTT), read with a sock_diag dump as `ss -ti` does. The daemon's mesh connections are
//! ordinary TCP sockets of its host, so where `weave top` runs beside the daemon (the usual case:
//! the API listens on loopback) the kernel already knows each peer's RTT. Elsewhere the dump
//! finds no mesh sockets and the RTT column stays empty.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const INET_DIAG_INFO: u16 = 2;
const TCP_ESTABLISHED: u32 = 1;
/// `struct inet_diag_msg`, before its attributes.
const DIAG_MSG_LEN: usize = 72;
/// `tcpi_rtt` (microseconds) in `struct tcp_info`.
const TCPI_RTT_AT: usize = 68;

/// Smoothed RTT in milliseconds of every established IPv4 TCP socket with `port` at either end,
/// by the remote end (`IP:port`, as a connection's address).
pub fn mesh_rtts(port: u16) -> io::Result<BTreeMap<String, f64>> {
    let fd = Fd::sock_diag()?;
    fd.send(&dump_request())?;
    let mut out = BTreeMap::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = fd.recv(&mut buf)?;
        match parse(&buf[..n], port, &mut out) {
            Parsed::More => {}
            Parsed::Done => return Ok(out),
            Parsed::Error(errno) => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// A dump of established IPv4 TCP sockets with their `tcp_info`.
fn dump_request() -> Vec<u8> {
    let mut m = Vec::with_capacity(72);
    m.extend_from_slice(&72u32.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    m.extend_from_slice(&[0; 8]); // sequence, port id
    m.push(libc::AF_INET as u8);
    m.push(libc::IPPROTO_TCP as u8);
    m.push(1 << (INET_DIAG_INFO - 1));
    m.push(0);
    m.extend_from_slice(&(1u32 << TCP_ESTABLISHED).to_ne_bytes());
    m.extend_from_slice(&[0; 48]); // any socket id
    m
}

#[derive(Debug, PartialEq)]
enum Parsed {
    More,
    Done,
    Error(i32),
}

fn u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Folds one datagram of the dump's answer into `out`.
fn parse(mut b: &[u8], port: u16, out: &mut BTreeMap<String, f64>) -> Parsed {
    while b.len() >= 16 {
        let len = u32_ne(b, 0) as usize;
        if len < 16 || len > b.len() {
            return Parsed::Error(libc::EBADMSG);
        }
        let msg = &b[16..len];
        match u16_ne(b, 4) {
            NLMSG_DONE => return Parsed::Done,
            NLMSG_ERROR => {
                let errno = if msg.len() >= 4 { -(u32_ne(msg, 0) as i32) } else { libc::EBADMSG };
                return Parsed::Error(errno);
            }
            SOCK_DIAG_BY_FAMILY if msg.len() >= DIAG_MSG_LEN => socket(msg, port, out),
            _ => {}
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    Parsed::More
}

/// One `inet_diag_msg` and its attributes.
fn socket(msg: &[u8], port: u16, out: &mut BTreeMap<String, f64>) {
    let sport = u16::from_be_bytes([msg[4], msg[5]]);
    let dport = u16::from_be_bytes([msg[6], msg[7]]);
    if sport != port && dport != port {
        return;
    }
    let dst = Ipv4Addr::new(msg[24], msg[25], msg[26], msg[27]);
    let mut attrs = &msg[DIAG_MSG_LEN..];
    while attrs.len() >= 4 {
        let len = u16_ne(attrs, 0) as usize;
        if len < 4 || len > attrs.len() {
            return;
        }
        if u16_ne(attrs, 2) == INET_DIAG_INFO && len >= 4 + TCPI_RTT_AT + 4 {
            let usec = u32_ne(attrs, 4 + TCPI_RTT_AT);
            out.insert(SocketAddrV4::new(dst, dport).to_string(), f64::from(usec) / 1000.0);
        }
        attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
    }
}

/// A netlink sock_diag socket, closed on drop.
struct Fd(libc::c_int);

impl Fd {
    fn sock_diag() -> io::Result<Fd> {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = Fd(fd);
        // A dump that stalls must not stall the poller for long.
        let tv = libc::timeval { tv_sec: 1, tv_usec: 0 };
        // SAFETY: tv lives across the call and its size is passed.
        unsafe {
            libc::setsockopt(
                fd.0,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        Ok(fd)
    }

    fn send(&self, m: &[u8]) -> io::Result<()> {
        // SAFETY: the kernel is the default destination of an unbound netlink socket; m is valid.
        let n = unsafe { libc::send(self.0, m.as_ptr().cast(), m.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    /// An `inet_diag_msg` for `local` -> `remote` with a `tcp_info` saying `rtt_us`.
    fn diag_msg(local: SocketAddrV4, remote: SocketAddrV4, rtt_us: u32) -> Vec<u8> {
        let mut m = vec![libc::AF_INET as u8, TCP_ESTABLISHED as u8, 0, 0];
        m.extend_from_slice(&local.port().to_be_bytes());
        m.extend_from_slice(&remote.port().to_be_bytes());
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&local.ip().octets());
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&remote.ip().octets());
        m.extend_from_slice(&src);
        m.extend_from_slice(&dst);
        m.resize(DIAG_MSG_LEN, 0);
        let mut info = vec![0u8; 104];
        info[TCPI_RTT_AT..TCPI_RTT_AT + 4].copy_from_slice(&rtt_us.to_ne_bytes());
        m.extend_from_slice(&((4 + info.len()) as u16).to_ne_bytes());
        m.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        m.extend_from_slice(&info);
        let mut h = ((16 + m.len()) as u32).to_ne_bytes().to_vec();
        h.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        h.extend_from_slice(&[0; 10]);
        h.extend_from_slice(&m);
        h
    }

    #[test]
    fn mesh_sockets_are_keyed_by_their_remote_end() {
        let a = |s: &str| s.parse::<SocketAddrV4>().unwrap();
        let mut b = diag_msg(a("10.0.0.1:6783"), a("10.0.0.2:40000"), 420);
        b.extend(diag_msg(a("10.0.0.1:40001"), a("10.0.0.3:6783"), 1500));
        b.extend(diag_msg(a("10.0.0.1:22"), a("10.0.0.9:50000"), 9));
        let mut out = BTreeMap::new();
        assert_eq!(parse(&b, 6783, &mut out), Parsed::More);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out["10.0.0.2:40000"], 0.42);
        assert_eq!(out["10.0.0.3:6783"], 1.5);
        let mut done = 20u32.to_ne_bytes().to_vec();
        done.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        done.extend_from_slice(&[0; 14]);
        assert_eq!(parse(&done, 6783, &mut out), Parsed::Done);
    }

    #[test]
    fn the_kernel_reports_a_loopback_connection() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _accepted = l.accept().unwrap();
        let rtts = mesh_rtts(port).expect("sock_diag dump");
        // Both ends are ours: the client's remote end is the listener's port.
        let key = format!("127.0.0.1:{port}");
        assert!(rtts.contains_key(&key), "{key} in {rtts:?}");
        assert!(rtts.contains_key(&c.local_addr().unwrap().to_string()), "{rtts:?}");
    }
}
