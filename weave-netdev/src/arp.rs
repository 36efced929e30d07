//! Gratuitous ARP: tells the neighbours on a segment which MAC now owns an IP, e.g. after a
//! container's address or MAC changed. Sent over an AF_PACKET socket in the calling thread's
//! network namespace, so call it inside `Netns::run` for a container's interface.

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
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// Broadcasts a gratuitous ARP for `ip` at `mac` out of interface `ifname`.
pub fn send_gratuitous_arp(ifname: &str, ip: Ipv4Addr, mac: [u8; 6]) -> Result<(), NetdevError> {
    let op = || format!("send gratuitous ARP for {ip} on {ifname}");
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
    let frame = gratuitous_arp_frame(ip, mac);
    // SAFETY: `frame` and `addr` are live for the call, and the lengths passed are theirs.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if n < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
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
    fn unknown_interface_is_named() {
        let e = send_gratuitous_arp("nosuchif0", Ipv4Addr::new(10, 0, 0, 1), [2, 0, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
        assert!(e.to_string().starts_with("send gratuitous ARP for 10.0.0.1 on nosuchif0: "), "{e}");
    }
}
