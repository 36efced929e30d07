//! Raw frames on one link (AF_PACKET), below any bridge the link is a port of. fastdp's
//! heartbeats are Ethernet frames with an all-zero destination MAC sent straight into a VXLAN
//! device; [`PacketSocket::zero_dst`] receives only those.

use crate::netlink::NetdevError;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const ETH_P_ALL: u16 = 0x0003;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

/// Classic BPF: accept frames whose first six bytes (the destination MAC) are zero.
const ZERO_DST_FILTER: [libc::sock_filter; 6] = [
    bpf(0x20, 0, 0, 0),           // A = 32 bits at offset 0
    bpf(0x15, 0, 3, 0),           // A == 0 ? next : drop
    bpf(0x28, 0, 0, 4),           // A = 16 bits at offset 4
    bpf(0x15, 0, 1, 0),           // A == 0 ? accept : drop
    bpf(0x06, 0, 0, 0x0004_0000), // accept: the whole frame
    bpf(0x06, 0, 0, 0),           // drop
];

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A non-blocking AF_PACKET socket bound to one link.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// A socket on link `ifindex` that sees only frames with an all-zero destination MAC
    /// arriving there (the kernel's filter costs the data path one comparison per packet, and
    /// it ignores what the host sends). The filter is in place before the socket is bound, so
    /// no other frame is ever queued.
    pub fn zero_dst(ifindex: u32) -> Result<PacketSocket, NetdevError> {
        let err = |e: io::Error| NetdevError::new(format!("open packet socket on link {ifindex}"), e);
        let last = || err(io::Error::last_os_error());
        // Protocol 0: nothing is received until bind.
        // SAFETY: socket(2) takes no pointers; the result is checked before use.
        let fd = unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0)
        };
        if fd < 0 {
            return Err(last());
        }
        // SAFETY: `fd` is a descriptor socket(2) just returned, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let prog = libc::sock_fprog {
            len: ZERO_DST_FILTER.len() as u16,
            filter: ZERO_DST_FILTER.as_ptr().cast_mut(),
        };
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog).map_err(err)?;
        setsockopt(&fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &1i32).map_err(err)?;
        let addr = link_addr(ifindex, ETH_P_ALL);
        // SAFETY: `addr` is a live sockaddr_ll and its size is the length passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(last());
        }
        Ok(PacketSocket { fd, ifindex })
    }

    /// Sends one whole Ethernet frame out of the link.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        let addr = link_addr(self.ifindex, ETH_P_ALL);
        // SAFETY: `frame` and `addr` are live for the call, and the lengths passed are theirs.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Receives one frame; `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is ours for the call.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn link_addr(ifindex: u32, proto: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain integers and arrays, for which all zeros is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto.to_be();
    addr.sll_ifindex = ifindex as i32;
    addr
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` and its size is the length passed; the kernel only reads it.
    // Each caller passes the type its option expects (sock_fprog, whose filter is a static, or i32).
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
