//! TAP devices from /dev/net/tun: the kernel side is an Ethernet interface, our side a file
//! descriptor that reads the frames the kernel sends out of it and writes frames it receives.
//!
//! The device lives in the network namespace of the thread that calls [`Tap::create`] (call it
//! inside `Netns::run` for another namespace) and disappears when the last descriptor closes.
//! With `vnet_hdr`, every frame is preceded by a `virtio_net_hdr` (`weave_overlay::virtio`).

use crate::netlink::NetdevError;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

// TUNSETOFFLOAD flags: what the reader promises to handle in frames it reads.
/// Frames may carry a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM).
pub const TUN_F_CSUM: u32 = 0x01;
/// TCP over IPv4 segmentation offload.
pub const TUN_F_TSO4: u32 = 0x02;
/// TCP over IPv6 segmentation offload.
pub const TUN_F_TSO6: u32 = 0x04;
/// TSO frames with ECN.
pub const TUN_F_TSO_ECN: u32 = 0x08;
/// UDP segmentation offload over IPv4 (Linux 6.2+).
pub const TUN_F_USO4: u32 = 0x20;
/// UDP segmentation offload over IPv6 (Linux 6.2+).
pub const TUN_F_USO6: u32 = 0x40;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapOptions {
    /// Prefix frames with a virtio_net_hdr (IFF_VNET_HDR); required for offloads.
    pub vnet_hdr: bool,
    /// IFF_MULTI_QUEUE: creating a Tap again with the same name adds a queue (a descriptor)
    /// to the existing device instead of failing.
    pub multi_queue: bool,
}

/// `struct ifreq` as TUNSETIFF/TUNGETIFF use it: a name and a short of flags, padded to 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// One queue of a TAP device.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
}

impl Tap {
    /// Creates (or, with `multi_queue`, attaches to) TAP `name`, without the packet-info prefix
    /// (IFF_NO_PI). An empty name lets the kernel pick one ("tap%d").
    pub fn create(name: &str, options: TapOptions) -> Result<Tap, NetdevError> {
        let op = || format!("create tap {name}");
        if name.len() >= libc::IFNAMSIZ || name.contains('\0') {
            return Err(NetdevError::new(op(), io::Error::new(io::ErrorKind::InvalidInput, "invalid name")));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| NetdevError::new(format!("{}: open /dev/net/tun", op()), e))?;
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if options.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        if options.multi_queue {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        let mut req = IfReq { name: [0; libc::IFNAMSIZ], flags: flags as libc::c_short, _pad: [0; 22] };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes one ifreq; `req` is an IfReq laid out as one and lives
        // across the call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            return Err(NetdevError::new(op(), io::Error::last_os_error()));
        }
        // The kernel writes back the name it used.
        let len = req.name.iter().position(|&b| b == 0).unwrap_or(libc::IFNAMSIZ);
        let name = String::from_utf8_lossy(&req.name[..len]).into_owned();
        Ok(Tap { fd: file.into(), name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The IFF_* flags the device was set up with (TUNGETIFF).
    pub fn flags(&self) -> Result<i32, NetdevError> {
        let mut req = IfReq { name: [0; libc::IFNAMSIZ], flags: 0, _pad: [0; 22] };
        self.ioctl(libc::TUNGETIFF, &mut req as *mut IfReq as usize, || "read flags")?;
        // ifr_flags is a short but carries bits up to 0x8000; keep them unsigned.
        Ok(i32::from(req.flags as u16))
    }

    /// Sets the offloads this reader can handle (`TUN_F_*`). The kernel then hands it
    /// unsegmented / checksum-pending frames, and the device advertises the matching features
    /// (tx-checksumming, TSO, USO) so the stack produces them. Needs `vnet_hdr`.
    pub fn set_offload(&self, flags: u32) -> Result<(), NetdevError> {
        self.ioctl(libc::TUNSETOFFLOAD, flags as usize, || format!("set offloads {flags:#x}"))
    }

    /// Sets the virtio_net_hdr size: 10 (the default) or 12 (v1, with num_buffers).
    pub fn set_vnet_hdr_size(&self, size: i32) -> Result<(), NetdevError> {
        let arg = &size as *const i32 as usize;
        self.ioctl(libc::TUNSETVNETHDRSZ, arg, || format!("set vnet header size {size}"))
    }

    pub fn vnet_hdr_size(&self) -> Result<i32, NetdevError> {
        let mut size = 0i32;
        self.ioctl(libc::TUNGETVNETHDRSZ, &mut size as *mut i32 as usize, || "read vnet header size")?;
        Ok(size)
    }

    /// In non-blocking mode `read` and `write` fail with `ErrorKind::WouldBlock` instead of
    /// waiting. The mode belongs to the descriptor, so it affects every thread using it.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), NetdevError> {
        let op = || format!("set non-blocking {on} on tap {}", self.name);
        let fd = self.fd.as_raw_fd();
        // SAFETY: F_GETFL takes no argument; `fd` is open for as long as `self` is.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(NetdevError::new(op(), io::Error::last_os_error()));
        }
        let flags = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
        // SAFETY: F_SETFL takes an integer; `fd` is open for as long as `self` is.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
            return Err(NetdevError::new(op(), io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Reads one frame (with its virtio_net_hdr when enabled). A frame longer than `buf` is
    /// truncated. Takes `&self`: one thread may read while another writes.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is ours for the call.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Writes one frame (with its virtio_net_hdr when enabled) into the kernel.
    pub fn write(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: the kernel reads `frame.len()` bytes of `frame`, which is live for the call.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Waits until a frame can be read, at most `timeout` (forever with `None`).
    /// Returns false on timeout.
    pub fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        loop {
            // SAFETY: one pollfd, `pfd`, lives across the call, as the count 1 says.
            match unsafe { libc::poll(&mut pfd, 1, ms) } {
                n if n >= 0 => return Ok(n > 0),
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }

    fn ioctl<S: Into<String>>(
        &self,
        request: libc::Ioctl,
        arg: usize,
        what: impl Fn() -> S,
    ) -> Result<(), NetdevError> {
        // SAFETY: every caller in this file passes, with its request, an integer or the address of
        // a live value of the type that request reads or writes (IfReq for TUNGETIFF, i32 for the
        // vnet header size); `fd` is open for as long as `self` is.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), request, arg) } < 0 {
            let op = format!("{} on tap {}", what().into(), self.name);
            return Err(NetdevError::new(op, io::Error::last_os_error()));
        }
        Ok(())
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
