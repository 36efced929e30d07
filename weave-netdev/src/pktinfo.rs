//! UDP on a wildcard address, answering from the address each datagram was sent to.
//!
//! A socket bound to 0.0.0.0 replies with whatever source address the route to the client
//! picks; on a host with several addresses (Docker's bridges) that can differ from the address
//! the client asked, and clients with connected sockets (Docker's embedded DNS, musl and busybox
//! resolvers) drop such replies. `IP_PKTINFO` gives each received datagram's destination
//! address, and the reply names it as its source.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// Room for one `in_pktinfo` control message (aligned).
type Control = [u64; 8];

/// Asks the kernel to report each datagram's destination address.
pub fn enable(sock: &UdpSocket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a valid descriptor with a pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            &on as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::other(format!("setsockopt IP_PKTINFO: {}", io::Error::last_os_error())));
    }
    Ok(())
}

/// Receives one datagram: its length, sender, and the local address it was sent to (`None` when
/// the kernel did not say, e.g. without [`enable`]).
pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<Ipv4Addr>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: all-zero bytes are a valid sockaddr_in and msghdr.
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut control: Control = [0; 8];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut from as *mut libc::sockaddr_in as *mut libc::c_void;
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = size_of::<Control>();
    // SAFETY: msg points at live buffers of the sizes it states, for the length of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let sender = SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr)),
        u16::from_be(from.sin_port),
    ));
    let mut dst = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within msg_controllen;
    // an IP_PKTINFO message's data is an in_pktinfo (read unaligned).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in_pktinfo);
                dst = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, sender, dst))
}

/// Sends `buf` to `to` with `from` as its source address (the kernel's choice when `None` or
/// `to` is not IPv4).
pub fn send(sock: &UdpSocket, buf: &[u8], to: SocketAddr, from: Option<Ipv4Addr>) -> io::Result<usize> {
    let (SocketAddr::V4(to4), Some(from)) = (to, from) else { return sock.send_to(buf, to) };
    let mut dest = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to4.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*to4.ip()).to_be() },
        sin_zero: [0; 8],
    };
    let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
    let mut control: Control = [0; 8];
    // SAFETY: all-zero bytes are a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut dest as *mut libc::sockaddr_in as *mut libc::c_void;
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
    // SAFETY: the control buffer (64 bytes) holds one cmsghdr with an in_pktinfo (CMSG_SPACE of
    // 12 bytes is 32); the data is written unaligned.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IP;
        (*c).cmsg_type = libc::IP_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr { s_addr: u32::from(from).to_be() },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::in_pktinfo, info);
    }
    // SAFETY: msg points at live buffers of the sizes it states, for the length of the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_is_reported_and_used_as_the_reply_source() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        enable(&server).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        // 127.0.0.2 is a local address too, but not the route's source.
        client.connect(("127.0.0.2", port)).unwrap();
        client.send(b"ping").unwrap();
        let mut buf = [0u8; 16];
        let (n, from, dst) = recv(&server, &mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from, dst),
            (&b"ping"[..], client.local_addr().unwrap(), Some(Ipv4Addr::new(127, 0, 0, 2)))
        );
        send(&server, b"pong", from, dst).unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        // A connected socket takes only replies from 127.0.0.2.
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");
    }
}
