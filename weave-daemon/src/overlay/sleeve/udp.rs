//! The sleeve's UDP sockets and batched I/O.
//!
//! Two sockets share UDP `--port` (SO_REUSEPORT): one sends with the kernel allowed to
//! fragment (IP_PMTUDISC_DONT), one sends with DF set (IP_PMTUDISC_DO), as Weave's two send
//! paths. Both receive; the kernel spreads peers across them, so each gets a reader thread.
//! Sends and receives are batched with sendmmsg/recvmmsg.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// `UDP_SEGMENT` (send) and `UDP_GRO` (receive) socket options, from linux/udp.h.
const UDP_SEGMENT: i32 = 103;
const UDP_GRO: i32 = 104;
/// Segments per GSO send, and bytes (the kernel's limits are 64 (or 128) and 64 KiB).
const GSO_MAX_SEGMENTS: usize = 64;
const GSO_MAX_BYTES: usize = 60_000;

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn setsockopt_int(fd: i32, level: i32, opt: i32, v: i32, what: &str) -> io::Result<()> {
    // SAFETY: passing a pointer to a live i32 and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as u32,
        )
    };
    check(rc, what)
}

/// A UDP socket on `addr` in the reuseport group, with the given path-MTU-discovery mode.
fn bind(addr: SocketAddrV4, df: bool) -> io::Result<UdpSocket> {
    // SAFETY: plain socket(2); ownership moves into OwnedFd at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(fd, "create UDP socket")?;
    // SAFETY: fd is a fresh socket we own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1, "set SO_REUSEPORT")?;
    let mode = if df { libc::IP_PMTUDISC_DO } else { libc::IP_PMTUDISC_DONT };
    setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, mode, "set IP_MTU_DISCOVER")?;
    // Room for bursts: 4 MiB each way (the kernel caps it at rmem_max/wmem_max).
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20, "SO_RCVBUFFORCE");
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20, "SO_SNDBUFFORCE");
    let sa = sockaddr(addr);
    // SAFETY: sa is a valid sockaddr_in for the duration of the call.
    let rc = unsafe {
        libc::bind(
            fd,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of_val(&sa) as u32,
        )
    };
    check(rc, &format!("bind UDP {addr}"))?;
    // Let the kernel hand us runs of same-sized datagrams as one buffer (UDP GRO); older
    // kernels refuse, and we read them one by one.
    let _ = setsockopt_int(fd, libc::SOL_UDP, UDP_GRO, 1, "set UDP_GRO");
    Ok(UdpSocket::from(owned))
}

/// The sleeve's socket pair on `addr`.
pub struct Sockets {
    pub nodf: UdpSocket,
    pub df: UdpSocket,
}

impl Sockets {
    pub fn bind(addr: SocketAddrV4) -> io::Result<Sockets> {
        Ok(Sockets { nodf: bind(addr, false)?, df: bind(addr, true)? })
    }

    pub fn get(&self, df: bool) -> &UdpSocket {
        if df {
            &self.df
        } else {
            &self.nodf
        }
    }
}

pub fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
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

/// What became of one message of a batch.
#[derive(Debug)]
pub enum SendError {
    /// The packet exceeds the path MTU the kernel knows (DF path).
    TooBig,
    Other(io::Error),
}

/// Sends `msgs` (destination, payload) with as few system calls as possible: runs of
/// same-sized payloads to one destination go out as one UDP GSO send, and those sends are
/// batched with sendmmsg. Failures are reported per message through `on_error(index, error)`;
/// the others are still sent.
pub fn send_batch(
    sock: &UdpSocket,
    msgs: &[(SocketAddrV4, &[u8])],
    mut on_error: impl FnMut(usize, SendError),
) {
    let gso = GSO_ENABLED.load(Ordering::Relaxed);
    let mut groups: Vec<Group> = Vec::with_capacity(msgs.len());
    let mut i = 0;
    while i < msgs.len() {
        let (dst, first) = msgs[i];
        let mut j = i + 1;
        let mut bytes = first.len();
        if gso {
            while j < msgs.len()
                && j - i < GSO_MAX_SEGMENTS
                && msgs[j].0 == dst
                && msgs[j].1.len() <= first.len()
                && bytes + msgs[j].1.len() <= GSO_MAX_BYTES
                && msgs[j - 1].1.len() == first.len()
            {
                bytes += msgs[j].1.len();
                j += 1;
            }
        }
        groups.push(Group { dst, iov: i..j, per: 1, seg: first.len() });
        i = j;
    }
    let iovs: Vec<libc::iovec> = msgs.iter().map(|(_, p)| iovec(p)).collect();
    send_groups(sock, &iovs, &groups, &mut on_error);
}

fn iovec(p: &[u8]) -> libc::iovec {
    libc::iovec { iov_base: p.as_ptr() as *mut libc::c_void, iov_len: p.len() }
}

/// Sends `n` datagrams to `dst`, datagram `i` being header `i` (`heads` holds `n` equal-sized
/// headers back to back) followed by `payload(i)`, which stays where it is: the kernel's copy
/// is the only one. Every datagram but the last must have the same size (the segments of one
/// TCP super-frame), so they go out as UDP GSO sends. Errors are reported per datagram index.
pub fn send_gathered<'a>(
    sock: &UdpSocket,
    dst: SocketAddrV4,
    heads: &[u8],
    n: usize,
    payload: impl Fn(usize) -> &'a [u8],
    iovs: &mut Vec<libc::iovec>,
    mut on_error: impl FnMut(usize, SendError),
) {
    if n == 0 {
        return;
    }
    let h = heads.len() / n;
    iovs.clear();
    for i in 0..n {
        iovs.push(iovec(&heads[i * h..(i + 1) * h]));
        iovs.push(iovec(payload(i)));
    }
    let seg = h + payload(0).len();
    let per_send = if GSO_ENABLED.load(Ordering::Relaxed) {
        (GSO_MAX_BYTES / seg).clamp(1, GSO_MAX_SEGMENTS)
    } else {
        1
    };
    let groups: Vec<Group> = (0..n)
        .step_by(per_send)
        .map(|a| {
            let b = (a + per_send).min(n);
            Group { dst, iov: 2 * a..2 * b, per: 2, seg }
        })
        .collect();
    send_groups(sock, iovs, &groups, &mut on_error);
}

/// One message of a batch: the iovecs `iov`, `per` of them to each datagram, datagrams of
/// `seg` bytes (the last may be shorter). Datagram indices (for errors) are iovec indices / `per`.
struct Group {
    dst: SocketAddrV4,
    iov: Range<usize>,
    per: usize,
    seg: usize,
}

impl Group {
    /// The batch's datagrams this message carries.
    fn datagrams(&self) -> Range<usize> {
        self.iov.start / self.per..self.iov.end / self.per
    }
}

fn send_groups(
    sock: &UdpSocket,
    iovs: &[libc::iovec],
    groups: &[Group],
    on_error: &mut dyn FnMut(usize, SendError),
) {
    const MAX: usize = 64;
    let fd = sock.as_raw_fd();
    for chunk in groups.chunks(MAX) {
        let mut addrs: [MaybeUninit<libc::sockaddr_in>; MAX] = [const { MaybeUninit::uninit() }; MAX];
        let mut cmsgs = [[0u64; 3]; MAX];
        let mut hdrs: [MaybeUninit<libc::mmsghdr>; MAX] = [const { MaybeUninit::uninit() }; MAX];
        for (k, g) in chunk.iter().enumerate() {
            addrs[k].write(sockaddr(g.dst));
            // SAFETY: a zeroed msghdr is valid; pointers set below refer to live arrays.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = addrs[k].as_mut_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_hdr.msg_iov = iovs[g.iov.clone()].as_ptr() as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = g.iov.len();
            if g.datagrams().len() > 1 {
                // SAFETY: cmsgs[k] is 24 bytes, room for one cmsghdr with a u16 payload.
                unsafe {
                    let c = cmsgs[k].as_mut_ptr() as *mut libc::cmsghdr;
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, g.seg as u16);
                }
                h.msg_hdr.msg_control = cmsgs[k].as_mut_ptr() as *mut libc::c_void;
                h.msg_hdr.msg_controllen = std::mem::size_of::<[u64; 3]>();
            }
            hdrs[k].write(h);
        }
        let mut done = 0;
        while done < chunk.len() {
            // SAFETY: hdrs[done..len] are initialised and point to live buffers.
            let n = unsafe {
                libc::sendmmsg(fd, hdrs[done].as_mut_ptr(), (chunk.len() - done) as u32, libc::MSG_DONTWAIT)
            };
            if n >= 0 {
                done += n as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            let g = &chunk[done];
            let all = g.datagrams();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EMSGSIZE) => all.for_each(|m| on_error(m, SendError::TooBig)),
                // A kernel or device without UDP GSO: fall back to plain sends for good.
                Some(libc::EIO) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
                    if all.len() > 1 && GSO_ENABLED.load(Ordering::Relaxed) =>
                {
                    tracing::warn!("UDP GSO send failed ({e}); sending datagrams one by one from now on");
                    GSO_ENABLED.store(false, Ordering::Relaxed);
                    let singles: Vec<Group> = all
                        .map(|m| Group { dst: g.dst, iov: m * g.per..(m + 1) * g.per, per: g.per, seg: 0 })
                        .collect();
                    send_groups(sock, iovs, &singles, on_error);
                }
                _ => all.for_each(|m| on_error(m, SendError::Other(io::Error::new(e.kind(), e.to_string())))),
            }
            done += 1;
        }
    }
}

/// Cleared when the kernel refuses a GSO send.
static GSO_ENABLED: AtomicBool = AtomicBool::new(true);

/// Buffers for receiving a batch of datagrams, allocated once.
pub struct RecvBatch {
    pub bufs: Vec<Vec<u8>>,
    pub lens: Vec<usize>,
    pub from: Vec<SocketAddrV4>,
    pub count: usize,
    /// Per message, the size of the datagrams the kernel coalesced into it (UDP GRO), or 0.
    pub seg: Vec<usize>,
    addrs: Vec<libc::sockaddr_in>,
    ctrl: Vec<[u64; 4]>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in iovs/hdrs point into heap buffers owned by the same struct;
// moving the struct to another thread moves their owners with it.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(n: usize, size: usize) -> RecvBatch {
        let mut b = RecvBatch {
            bufs: (0..n).map(|_| vec![0u8; size]).collect(),
            lens: vec![0; n],
            from: vec![SocketAddrV4::new(0.into(), 0); n],
            count: 0,
            seg: vec![0; n],
            addrs: vec![sockaddr(SocketAddrV4::new(0.into(), 0)); n],
            ctrl: vec![[0u64; 4]; n],
            iovs: Vec::with_capacity(n),
            hdrs: Vec::with_capacity(n),
        };
        for i in 0..n {
            let buf = &mut b.bufs[i];
            b.iovs.push(libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() });
        }
        for i in 0..n {
            // SAFETY: a zeroed mmsghdr is valid; the pointers refer to b's own heap storage.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = &mut b.addrs[i] as *mut libc::sockaddr_in as *mut libc::c_void;
            h.msg_hdr.msg_iov = &mut b.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = b.ctrl[i].as_mut_ptr() as *mut libc::c_void;
            b.hdrs.push(h);
        }
        b
    }

    /// Blocks until at least one datagram arrives, then takes what is queued (up to the batch).
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        let n = self.bufs.len();
        for h in &mut self.hdrs {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_hdr.msg_controllen = std::mem::size_of::<[u64; 4]>();
        }
        loop {
            // SAFETY: hdrs describes n live buffers owned by self.
            let r = unsafe {
                libc::recvmmsg(
                    sock.as_raw_fd(),
                    self.hdrs.as_mut_ptr(),
                    n as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            let r = r as usize;
            for i in 0..r {
                self.lens[i] = self.hdrs[i].msg_len as usize;
                self.from[i] = from_sockaddr(&self.addrs[i]);
                self.seg[i] = gro_size(&self.hdrs[i].msg_hdr);
            }
            self.count = r;
            return Ok(r);
        }
    }

    pub fn packet(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i]]
    }
}

/// The UDP GRO segment size in a received message's control data, or 0.
fn gro_size(m: &libc::msghdr) -> usize {
    // SAFETY: walking the control buffer the kernel filled, with the libc CMSG macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                return std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32) as usize;
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    0
}

/// The path MTU the kernel knows towards `dst` (read through a connected probe socket).
pub fn path_mtu(dst: SocketAddr) -> io::Result<u32> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    setsockopt_int(
        s.as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DO,
        "IP_MTU_DISCOVER",
    )?;
    s.connect(dst)?;
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as u32;
    // SAFETY: v and len are live and sized for the option.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU,
            &mut v as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    };
    check(rc, &format!("read path MTU to {dst}"))?;
    Ok(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_out_and_comes_back_on_loopback() {
        let rx = Sockets::bind(SocketAddrV4::new([127, 0, 0, 1].into(), 0)).unwrap();
        let port = rx.nodf.local_addr().unwrap().port();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100 + i as usize]).collect();
        let dst = SocketAddrV4::new([127, 0, 0, 1].into(), port);
        let msgs: Vec<(SocketAddrV4, &[u8])> = payloads.iter().map(|p| (dst, p.as_slice())).collect();
        send_batch(&tx, &msgs, |i, e| panic!("message {i}: {e:?}"));
        // Both sockets of the group may receive; read until all ten are in.
        let mut got = Vec::new();
        let mut batch = RecvBatch::new(16, 2048);
        for s in [&rx.nodf, &rx.df] {
            s.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
        }
        for _ in 0..20 {
            for s in [&rx.nodf, &rx.df] {
                if let Ok(n) = batch.recv(s) {
                    for i in 0..n {
                        got.push(batch.bufs[i][..batch.lens[i]].to_vec());
                        assert_eq!(batch.from[i].port(), tx.local_addr().unwrap().port());
                    }
                }
            }
            if got.len() == 10 {
                break;
            }
        }
        got.sort();
        assert_eq!(got, payloads);
    }

    #[test]
    fn oversized_df_sends_are_reported_as_too_big() {
        let s = Sockets::bind(SocketAddrV4::new([127, 0, 0, 1].into(), 0)).unwrap();
        let big = vec![0u8; 65535 - 28 + 1];
        let dst = SocketAddrV4::new([127, 0, 0, 1].into(), 9);
        let mut errs = 0;
        send_batch(&s.df, &[(dst, &big)], |_, _| errs += 1);
        assert_eq!(errs, 1);
        // Loopback's MTU (65536; 65535 once a PMTU entry is cached).
        assert!(path_mtu(SocketAddr::V4(dst)).unwrap() >= 65535);
    }
}
