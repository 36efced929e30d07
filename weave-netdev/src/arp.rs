//! ARP over AF_PACKET sockets in the calling thread's network namespace (so call it inside
//! `Netns::run` for a container's interface): gratuitous ARP tells the neighbours on a segment
//! which MAC now owns an IP, e.g. after a container's address or MAC changed; a probe asks
//! whether anything on the segment answers for an IP at all, e.g. whether the container behind
//! an address on another host still exists.

use crate::netlink::NetdevError;
use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Ethernet header (14) + ARP for IPv4 over Ethernet (28).
pub const GRATUITOUS_ARP_LEN: usize = 42;
const ETH_P_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];

/// The frame: a broadcast ARP request whose sender and target IP are both `ip`, as
/// `arping -U` and Weave's Go code send it.
pub fn gratuitous_arp_frame(ip: Ipv4Addr, mac: [u8; 6]) -> [u8; GRATUITOUS_ARP_LEN] {
    request_frame(ip, mac, ip)
}

/// A broadcast ARP request from `ip` at `mac` asking who has `target`.
fn request_frame(ip: Ipv4Addr, mac: [u8; 6], target: Ipv4Addr) -> [u8; GRATUITOUS_ARP_LEN] {
    let mut f = [0u8; GRATUITOUS_ARP_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type: IPv4
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // operation: request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&target.octets());
    f
}

/// The MAC in an ARP reply (a frame starting at the Ethernet header) from `from` to `to`.
fn reply_from(frame: &[u8], from: Ipv4Addr, to: Ipv4Addr) -> Option<[u8; 6]> {
    let f = frame.get(..GRATUITOUS_ARP_LEN)?;
    let ok = f[12..14] == ETH_P_ARP.to_be_bytes()
        && f[14..16] == 1u16.to_be_bytes()
        && f[16..18] == 0x0800u16.to_be_bytes()
        && f[18..20] == [6, 4]
        && f[20..22] == 2u16.to_be_bytes()
        && f[28..32] == from.octets()
        && f[38..42] == to.octets();
    ok.then(|| f[22..28].try_into().expect("six bytes"))
}

/// A packet socket for ARP bound to `ifname`, with the operation's name for its errors.
fn arp_socket(ifname: &str, op: &dyn Fn() -> String) -> Result<(OwnedFd, libc::sockaddr_ll), NetdevError> {
    let err = |e: io::Error| NetdevError::new(op(), e);
    let name = CString::new(ifname).map_err(|_| err(io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call, which only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(err(io::Error::last_os_error()));
    }
    let proto = ETH_P_ARP.to_be();
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto.into()) };
    if fd < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a descriptor socket(2) just returned, owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain integers and arrays, for which all zeros is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = index as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&BROADCAST);
    Ok((sock, addr))
}

/// Sends one frame to the socket's interface.
fn send(sock: &OwnedFd, addr: &libc::sockaddr_ll, frame: &[u8]) -> io::Result<()> {
    // SAFETY: `frame` and `addr` are live for the call, and the lengths passed are theirs.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks on `ifname`, from `ip` at `mac`, who has `target`: up to `tries` requests, each given
/// `wait` for the answer. The MAC that answered, or None when nothing did.
pub fn probe(
    ifname: &str,
    ip: Ipv4Addr,
    mac: [u8; 6],
    target: Ipv4Addr,
    tries: u32,
    wait: std::time::Duration,
) -> Result<Option<[u8; 6]>, NetdevError> {
    let op = || format!("ARP probe for {target} from {ip} on {ifname}");
    let (sock, addr) = arp_socket(ifname, &op)?;
    let frame = request_frame(ip, mac, target);
    let mut buf = [0u8; 128];
    for _ in 0..tries {
        send(&sock, &addr, &frame).map_err(|e| NetdevError::new(op(), e))?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: `pfd` is one live pollfd, as the count says.
            let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NetdevError::new(op(), e));
            }
            if ready == 0 {
                break;
            }
            // SAFETY: `buf` is live and writable for its whole length during the call.
            let n = unsafe {
                libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                    continue;
                }
                return Err(NetdevError::new(op(), e));
            }
            if let Some(m) = reply_from(&buf[..n as usize], target, ip) {
                return Ok(Some(m));
            }
        }
    }
    Ok(None)
}

/// Broadcasts a gratuitous ARP for `ip` at `mac` out of interface `ifname`.
pub fn send_gratuitous_arp(ifname: &str, ip: Ipv4Addr, mac: [u8; 6]) -> Result<(), NetdevError> {
    let op = || format!("send gratuitous ARP for {ip} on {ifname}");
    let (sock, addr) = arp_socket(ifname, &op)?;
    send(&sock, &addr, &gratuitous_arp_frame(ip, mac)).map_err(|e| NetdevError::new(op(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout() {
        let mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        let f = gratuitous_arp_frame(Ipv4Addr::new(10, 32, 0, 7), mac);
        let expect: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08,
            0x06, // ethernet
            0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // ARP request, Ethernet/IPv4
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 10, 32, 0, 7, // sender
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 32, 0, 7, // target
        ];
        assert_eq!(f, expect);
    }

    #[test]
    fn a_reply_is_told_from_requests_and_other_replies() {
        let (me, them) = (Ipv4Addr::new(10, 32, 0, 1), Ipv4Addr::new(10, 32, 0, 9));
        let mac = [2, 0, 0, 0, 0, 9];
        let mut f = request_frame(them, mac, me);
        assert_eq!(reply_from(&f, them, me), None, "a request is not a reply");
        f[20..22].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(reply_from(&f, them, me), Some(mac));
        assert_eq!(reply_from(&f, me, them), None, "the other direction");
        assert_eq!(reply_from(&f, Ipv4Addr::new(10, 32, 0, 8), me), None, "another sender");
        assert_eq!(reply_from(&f[..41], them, me), None, "short");
    }

    #[test]
    fn unknown_interface_is_named() {
        let e = send_gratuitous_arp("nosuchif0", Ipv4Addr::new(10, 0, 0, 1), [2, 0, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
        assert!(e.to_string().starts_with("send gratuitous ARP for 10.0.0.1 on nosuchif0: "), "{e}");
    }
}
