//! UDP datagrams together with the local address each was sent to, and replies sent from that
//! address (`IP_PKTINFO` / `IPV6_PKTINFO`). A server bound to `0.0.0.0` otherwise answers from
//! whatever source the kernel's route lookup picks; a client that asked a secondary address
//! (or `127.0.0.2`) sees a reply from another address and discards it, as dig does.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Room for one `in6_pktinfo` (the larger of the two) control message, 8-byte aligned.
type Control = [u64; 8];

/// Asks the kernel to report each datagram's destination address on `sock`.
pub fn enable(sock: &UdpSocket) -> io::Result<()> {
    let (level, name) = match sock.local_addr()? {
        SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
        SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    };
    let on: libc::c_int = 1;
    // SAFETY: `on` outlives the call and its size is passed; the fd is open (borrowed from sock).
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            &on as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::other(format!(
            "enable IP_PKTINFO on a UDP socket: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Receives one datagram: its length, its sender and (with [`enable`]) the local address it
/// was sent to. Honours the socket's read timeout (an `WouldBlock` error).
pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let mut control: Control = [0; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = &mut name as *mut libc::sockaddr_storage as *mut libc::c_void;
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = size_of::<Control>();
    // SAFETY: every pointer in `msg` refers to a live local (name, iov -> buf, control) whose
    // length is given alongside; the kernel writes within those lengths.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let from = sockaddr_to_std(&name).ok_or_else(|| io::Error::other("recvmsg: sender of unknown family"))?;
    let mut dst = None;
    // SAFETY: `msg` is the header recvmsg filled in; CMSG_FIRSTHDR/NXTHDR stay within
    // msg_control/msg_controllen and return null at the end.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points at a complete header inside `control`.
        let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
        if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
            // SAFETY: the kernel put an in_pktinfo after this header; read_unaligned copes with
            // any alignment of CMSG_DATA.
            let info: libc::in_pktinfo =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const _) };
            dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))));
        } else if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
            // SAFETY: as above, an in6_pktinfo.
            let info: libc::in6_pktinfo =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const _) };
            dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
        }
        // SAFETY: same header as above, `cmsg` inside it.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok((n as usize, from, dst))
}

/// Sends `buf` to `to`, from local address `from` when given (the destination [`recv`]
/// reported); without it, or if the kernel refuses that source, as a plain `send_to`.
pub fn send(sock: &UdpSocket, buf: &[u8], to: SocketAddr, from: Option<IpAddr>) -> io::Result<usize> {
    let Some(from) = from.filter(|f| !f.is_unspecified() && !f.is_multicast()) else {
        return sock.send_to(buf, to);
    };
    match send_from(sock, buf, to, from) {
        Ok(n) => Ok(n),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => sock.send_to(buf, to),
        Err(e) => Err(e),
    }
}

fn send_from(sock: &UdpSocket, buf: &[u8], to: SocketAddr, from: IpAddr) -> io::Result<usize> {
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let namelen = std_to_sockaddr(to, &mut name);
    let mut control: Control = [0; 8];
    let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = &mut name as *mut libc::sockaddr_storage as *mut libc::c_void;
    msg.msg_namelen = namelen;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    let (level, kind, len) = match (from, to) {
        (IpAddr::V4(_), SocketAddr::V4(_)) => {
            (libc::IPPROTO_IP, libc::IP_PKTINFO, size_of::<libc::in_pktinfo>())
        }
        (IpAddr::V6(_), SocketAddr::V6(_)) => {
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, size_of::<libc::in6_pktinfo>())
        }
        _ => return sock.send_to(buf, to),
    };
    // SAFETY: CMSG_SPACE of either pktinfo (20 or 32 bytes plus header) fits in `control` (64
    // bytes); CMSG_FIRSTHDR of a header with that controllen is the start of `control`, and
    // CMSG_DATA points inside it, where the payload is written unaligned.
    unsafe {
        msg.msg_controllen = libc::CMSG_SPACE(len as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(len as u32) as usize;
        match from {
            IpAddr::V4(a) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr { s_addr: u32::from(a).to_be() },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in_pktinfo, info);
            }
            IpAddr::V6(a) => {
                let info =
                    libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: a.octets() }, ipi6_ifindex: 0 };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in6_pktinfo, info);
            }
        }
    }
    // SAFETY: every pointer in `msg` refers to a live local with its length alongside; the
    // kernel only reads them.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn sockaddr_to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let a: libc::sockaddr_in = unsafe { std::ptr::read(s as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it is large enough for.
            let a: libc::sockaddr_in6 = unsafe { std::ptr::read(s as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn std_to_sockaddr(a: SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(out as *mut _ as *mut libc::sockaddr_in, sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(out as *mut _ as *mut libc::sockaddr_in6, sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_reply_leaves_from_the_address_the_datagram_was_sent_to() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        enable(&server).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        for (to, with_pktinfo) in [("127.0.0.2", true), ("127.0.0.2", false), ("127.0.0.1", true)] {
            client.send_to(b"ping", (to, port)).unwrap();
            let (n, sender, dst) = recv(&server, &mut buf).unwrap();
            assert_eq!((&buf[..n], sender), (&b"ping"[..], client.local_addr().unwrap()));
            assert_eq!(dst, Some(to.parse().unwrap()));
            send(&server, b"pong", sender, if with_pktinfo { dst } else { None }).unwrap();
            let (_, replier) = client.recv_from(&mut buf).unwrap();
            // Without the destination, the kernel picks 127.0.0.1 (the route's source).
            let expect = if with_pktinfo { to } else { "127.0.0.1" };
            assert_eq!(replier.ip(), expect.parse::<IpAddr>().unwrap(), "to {to}, pktinfo {with_pktinfo}");
        }
    }
}
