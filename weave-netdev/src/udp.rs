//! Batched UDP I/O for the sleeve: sockets in a reuseport group with a path-MTU-discovery mode
//! ([`bind`]), sends batched with sendmmsg and runs of same-sized datagrams to one destination
//! sent as one UDP GSO message ([`send_batch`], [`send_gathered`]), receives batched with
//! recvmmsg into one buffer, with runs the kernel coalesced (UDP GRO) reported as such
//! ([`RecvBatch`]), and the kernel's path MTU to a destination ([`path_mtu`]).
//!
//! Sends never block and allocate nothing: messages go in chunks through arrays on the stack.
//! Failures are reported per datagram; the others still go out.

use crate::netlink::NetdevError;
use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// `UDP_SEGMENT` (send) and `UDP_GRO` (receive) socket options, from linux/udp.h.
const UDP_SEGMENT: i32 = 103;
const UDP_GRO: i32 = 104;
/// Segments per GSO send, and bytes (the kernel's limits are 64 (or 128) and 64 KiB).
const GSO_MAX_SEGMENTS: usize = 64;
const GSO_MAX_BYTES: usize = 60_000;
/// Messages per sendmmsg call.
const MAX_MSGS: usize = 64;
/// Control buffer of a GSO send: one cmsghdr (16 bytes) with a u16, padded to 8 bytes.
type SendCmsg = [u64; 3];
/// Control buffer of a receive: room for the UDP_GRO cmsg (an int).
type RecvCmsg = [u64; 4];

/// Cleared when the kernel refuses a GSO send; from then on datagrams go one by one.
static GSO_ENABLED: AtomicBool = AtomicBool::new(true);

fn setsockopt_int(fd: RawFd, level: i32, opt: i32, v: i32) -> io::Result<()> {
    // SAFETY: `v` is a live i32 for the duration of the call and the length passed is its
    // size; the kernel only reads that many bytes. A bad fd or option is an error, not UB.
    let rc = unsafe {
        libc::setsockopt(fd, level, opt, (&v as *const i32).cast(), std::mem::size_of::<i32>() as u32)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr(sa: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(u32::from_be(sa.sin_addr.s_addr).into(), u16::from_be(sa.sin_port))
}

/// A UDP socket on `addr` in its SO_REUSEPORT group, sending with DF set (`df`,
/// IP_PMTUDISC_DO) or letting the kernel fragment (IP_PMTUDISC_DONT), with 4 MiB buffers
/// (as far as rmem_max/wmem_max allow) and UDP GRO where the kernel has it.
pub fn bind(addr: SocketAddrV4, df: bool) -> Result<UdpSocket, NetdevError> {
    let op = |what: &str| format!("{what} (UDP socket on {addr})");
    // SAFETY: socket(2) takes no pointers; a negative result is checked before the fd is used.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(NetdevError::new(op("create"), io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a descriptor socket(2) just returned, owned by nothing else: OwnedFd
    // takes sole ownership and closes it on every path from here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)
        .map_err(|e| NetdevError::new(op("set SO_REUSEPORT"), e))?;
    let mode = if df { libc::IP_PMTUDISC_DO } else { libc::IP_PMTUDISC_DONT };
    setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, mode)
        .map_err(|e| NetdevError::new(op("set IP_MTU_DISCOVER"), e))?;
    // Room for bursts; without CAP_NET_ADMIN the kernel's defaults stay, which is fine.
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20);
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20);
    let sa = sockaddr(addr);
    // SAFETY: `sa` is a valid sockaddr_in that outlives the call, and the length passed is
    // its size.
    let rc = unsafe {
        libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of_val(&sa) as u32)
    };
    if rc < 0 {
        return Err(NetdevError::new(op("bind"), io::Error::last_os_error()));
    }
    // Let the kernel hand us runs of same-sized datagrams as one buffer; older kernels
    // refuse, and datagrams come one by one.
    let _ = setsockopt_int(fd, libc::SOL_UDP, UDP_GRO, 1);
    Ok(UdpSocket::from(owned))
}

/// Whether a send failed because the datagram exceeds the path MTU the kernel knows (on a
/// DF socket).
pub fn is_too_big(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EMSGSIZE)
}

fn iovec(p: &[u8]) -> libc::iovec {
    libc::iovec { iov_base: p.as_ptr() as *mut libc::c_void, iov_len: p.len() }
}

/// One message of a sendmmsg: iovecs `iov.0..iov.1`, `per` of them to each datagram, datagrams
/// of `seg` bytes (the last may be shorter; several make a GSO send). Datagram numbers (for
/// errors) are `first + (iovec index - iov.0) / per`.
#[derive(Clone, Copy, Default)]
struct Group {
    dst: Option<SocketAddrV4>,
    iov: (usize, usize),
    per: usize,
    seg: usize,
    first: usize,
}

impl Group {
    fn datagrams(&self) -> std::ops::Range<usize> {
        self.first..self.first + (self.iov.1 - self.iov.0) / self.per
    }
}

/// Sends `msgs` (destination, payload) with as few system calls as possible: runs of
/// same-sized payloads to one destination go out as one UDP GSO send, and those sends are
/// batched with sendmmsg. `on_error(index, error)` for each datagram that could not be sent.
pub fn send_batch(
    sock: &UdpSocket,
    msgs: &[(SocketAddrV4, &[u8])],
    on_error: &mut dyn FnMut(usize, &io::Error),
) {
    let gso = GSO_ENABLED.load(Ordering::Relaxed);
    for (c, chunk) in msgs.chunks(MAX_MSGS).enumerate() {
        let base = c * MAX_MSGS;
        let mut iovs = [iovec(&[]); MAX_MSGS];
        for (slot, (_, p)) in iovs.iter_mut().zip(chunk) {
            *slot = iovec(p);
        }
        let mut groups = [Group::default(); MAX_MSGS];
        let mut n = 0;
        let mut i = 0;
        while i < chunk.len() {
            let (dst, first) = chunk[i];
            let mut j = i + 1;
            let mut bytes = first.len();
            if gso {
                while j < chunk.len()
                    && j - i < GSO_MAX_SEGMENTS
                    && chunk[j].0 == dst
                    && chunk[j].1.len() <= first.len()
                    && bytes + chunk[j].1.len() <= GSO_MAX_BYTES
                    && chunk[j - 1].1.len() == first.len()
                {
                    bytes += chunk[j].1.len();
                    j += 1;
                }
            }
            groups[n] = Group { dst: Some(dst), iov: (i, j), per: 1, seg: first.len(), first: base + i };
            n += 1;
            i = j;
        }
        send_groups(sock, &iovs[..chunk.len()], &groups[..n], on_error);
    }
}

/// Sends `n` datagrams to `dst`, datagram `i` being header `i` (`heads` holds `n` equal-sized
/// headers back to back) followed by `payload(i)`, which stays where it is: the kernel's copy
/// is the only one. Every datagram but the last must have the same size (the segments of one
/// TCP super-frame), so they go out as UDP GSO sends.
pub fn send_gathered<'p>(
    sock: &UdpSocket,
    dst: SocketAddrV4,
    heads: &[u8],
    n: usize,
    payload: &dyn Fn(usize) -> &'p [u8],
    on_error: &mut dyn FnMut(usize, &io::Error),
) {
    if n == 0 {
        return;
    }
    let h = heads.len() / n;
    let seg = h + payload(0).len();
    let per_send = if GSO_ENABLED.load(Ordering::Relaxed) {
        (GSO_MAX_BYTES / seg).clamp(1, GSO_MAX_SEGMENTS)
    } else {
        1
    };
    // Up to MAX_MSGS datagrams per round: two iovecs each.
    let mut start = 0;
    while start < n {
        let end = (start + MAX_MSGS).min(n);
        let mut iovs = [iovec(&[]); 2 * MAX_MSGS];
        for i in start..end {
            let k = 2 * (i - start);
            iovs[k] = iovec(&heads[i * h..(i + 1) * h]);
            iovs[k + 1] = iovec(payload(i));
        }
        let mut groups = [Group::default(); MAX_MSGS];
        let mut g = 0;
        let mut a = start;
        while a < end {
            let b = (a + per_send).min(end);
            groups[g] =
                Group { dst: Some(dst), iov: (2 * (a - start), 2 * (b - start)), per: 2, seg, first: a };
            g += 1;
            a = b;
        }
        send_groups(sock, &iovs[..2 * (end - start)], &groups[..g], on_error);
        start = end;
    }
}

fn send_groups(
    sock: &UdpSocket,
    iovs: &[libc::iovec],
    groups: &[Group],
    on_error: &mut dyn FnMut(usize, &io::Error),
) {
    debug_assert!(groups.len() <= MAX_MSGS);
    let fd = sock.as_raw_fd();
    let mut addrs = [sockaddr(SocketAddrV4::new(0.into(), 0)); MAX_MSGS];
    let mut cmsgs: [SendCmsg; MAX_MSGS] = [[0; 3]; MAX_MSGS];
    let mut hdrs: [MaybeUninit<libc::mmsghdr>; MAX_MSGS] = [const { MaybeUninit::uninit() }; MAX_MSGS];
    for (k, g) in groups.iter().enumerate() {
        addrs[k] = sockaddr(g.dst.expect("a destination"));
        // SAFETY: mmsghdr is plain data (integers and pointers) for which all-zero bytes are a
        // valid value: null pointers and zero lengths.
        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
        h.msg_hdr.msg_name = (&mut addrs[k] as *mut libc::sockaddr_in).cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        h.msg_hdr.msg_iov = iovs[g.iov.0..g.iov.1].as_ptr() as *mut libc::iovec;
        h.msg_hdr.msg_iovlen = g.iov.1 - g.iov.0;
        if g.datagrams().len() > 1 {
            let c = cmsgs[k].as_mut_ptr() as *mut libc::cmsghdr;
            // SAFETY: cmsgs[k] is 24 bytes, 8-aligned: room for a cmsghdr (16 bytes) and its
            // 2-byte payload at CMSG_DATA (offset 16), which CMSG_LEN(2) = 18 describes. The
            // payload is written unaligned-safe.
            unsafe {
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(2) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, g.seg as u16);
            }
            h.msg_hdr.msg_control = c.cast();
            h.msg_hdr.msg_controllen = std::mem::size_of::<SendCmsg>();
        }
        hdrs[k].write(h);
    }
    let mut done = 0;
    while done < groups.len() {
        // SAFETY: hdrs[done..groups.len()] were initialised above; each points at its own
        // address in `addrs`, at iovecs in `iovs` (which point into the callers' live buffers)
        // and at its control buffer in `cmsgs`, all alive and unmoved until this function
        // returns. The kernel only reads them (and writes msg_len, a plain integer).
        let n = unsafe {
            libc::sendmmsg(fd, hdrs[done].as_mut_ptr(), (groups.len() - done) as u32, libc::MSG_DONTWAIT)
        };
        if n >= 0 {
            done += n as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        let g = groups[done];
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            // A kernel or device without UDP GSO: plain sends from now on.
            Some(libc::EIO) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
                if g.datagrams().len() > 1 && GSO_ENABLED.load(Ordering::Relaxed) =>
            {
                tracing::warn!("UDP GSO send failed ({e}); sending datagrams one by one from now on");
                GSO_ENABLED.store(false, Ordering::Relaxed);
                let mut singles = [Group::default(); MAX_MSGS];
                let count = g.datagrams().len();
                for (m, s) in singles.iter_mut().enumerate().take(count) {
                    let at = g.iov.0 + m * g.per;
                    *s = Group { dst: g.dst, iov: (at, at + g.per), per: g.per, seg: 0, first: g.first + m };
                }
                send_groups(sock, iovs, &singles[..count], on_error);
            }
            _ => g.datagrams().for_each(|m| on_error(m, &e)),
        }
        done += 1;
    }
}

/// One datagram (or, with UDP GRO, a run of same-sized ones) of a receive batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddrV4,
    /// Where it is in the batch's buffer.
    pub offset: usize,
    pub len: usize,
    /// The size of the datagrams the kernel coalesced into it (UDP GRO), or 0.
    pub seg: usize,
}

/// Buffers for receiving a batch of datagrams, allocated once: one buffer with a slot per
/// message, so the datagrams of a batch are parts of one slice.
pub struct RecvBatch {
    buf: Vec<u8>,
    slot: usize,
    datagrams: Vec<Datagram>,
    addrs: Vec<libc::sockaddr_in>,
    ctrl: Vec<RecvCmsg>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovs` and `hdrs` point only into heap storage owned by this
// same struct (`buf`, `addrs`, `ctrl`, `iovs`), which moves with it; nothing else aliases them.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// Room for `n` messages of up to `size` bytes each.
    pub fn new(n: usize, size: usize) -> RecvBatch {
        let mut b = RecvBatch {
            buf: vec![0u8; n * size],
            slot: size,
            datagrams: Vec::with_capacity(n),
            addrs: vec![sockaddr(SocketAddrV4::new(0.into(), 0)); n],
            ctrl: vec![[0u64; 4]; n],
            iovs: Vec::with_capacity(n),
            hdrs: Vec::with_capacity(n),
        };
        for chunk in b.buf.chunks_mut(size) {
            b.iovs.push(libc::iovec { iov_base: chunk.as_mut_ptr().cast(), iov_len: chunk.len() });
        }
        for i in 0..n {
            // SAFETY: mmsghdr is plain data for which all-zero bytes are a valid value.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_in).cast();
            h.msg_hdr.msg_iov = &mut b.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = b.ctrl[i].as_mut_ptr().cast();
            b.hdrs.push(h);
        }
        b
    }

    /// Blocks until at least one datagram arrives (unless the socket is non-blocking), then
    /// takes what is queued, up to the batch's size. Returns how many messages came.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        for h in &mut self.hdrs {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_hdr.msg_controllen = std::mem::size_of::<RecvCmsg>();
        }
        self.datagrams.clear();
        let r = loop {
            // SAFETY: `hdrs` holds `hdrs.len()` initialised headers, each pointing at its own
            // address, iovec and control buffer in this struct, and the iovecs at disjoint
            // slots of `buf`, with their lengths: the kernel writes only within them. `&mut
            // self` keeps them all alive and unaliased for the call.
            let r = unsafe {
                libc::recvmmsg(
                    sock.as_raw_fd(),
                    self.hdrs.as_mut_ptr(),
                    self.hdrs.len() as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        };
        for i in 0..r {
            let h = &self.hdrs[i];
            self.datagrams.push(Datagram {
                from: from_sockaddr(&self.addrs[i]),
                offset: i * self.slot,
                len: (h.msg_len as usize).min(self.slot),
                seg: gro_size(&h.msg_hdr),
            });
        }
        Ok(r)
    }

    /// The buffer and the datagrams the last `recv` put in it.
    pub fn parts(&mut self) -> (&mut [u8], &[Datagram]) {
        (&mut self.buf, &self.datagrams)
    }

    /// The payload of datagram `i` of the last `recv`.
    pub fn payload(&self, i: usize) -> &[u8] {
        let d = &self.datagrams[i];
        &self.buf[d.offset..d.offset + d.len]
    }
}

/// The UDP GRO segment size in a received message's control data, or 0.
fn gro_size(m: &libc::msghdr) -> usize {
    // SAFETY: `m` is a header recvmmsg filled: msg_control points at its control buffer and
    // msg_controllen says how much the kernel wrote. CMSG_FIRSTHDR/CMSG_NXTHDR stay within
    // that length (returning null past it), and a UDP_GRO cmsg carries an int, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                return std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32).max(0) as usize;
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    0
}

/// The path MTU the kernel knows towards `dst` (read through a connected probe socket).
pub fn path_mtu(dst: SocketAddr) -> Result<u32, NetdevError> {
    let op = || format!("read path MTU to {dst}");
    let err = |e| NetdevError::new(op(), e);
    let s = UdpSocket::bind("0.0.0.0:0").map_err(err)?;
    setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_DO)
        .map_err(err)?;
    s.connect(dst).map_err(err)?;
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as u32;
    // SAFETY: `v` and `len` are live locals; `len` says `v`'s size, and the kernel writes at
    // most that many bytes into `v` and the written length into `len`.
    let rc = unsafe {
        libc::getsockopt(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_MTU, (&mut v as *mut i32).cast(), &mut len)
    };
    if rc < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(v as u32)
}

#[cfg(test)]
mod tests;
