//! The bridge's local port for sleeve: a TAP device enslaved to `weave`, with the virtio-net
//! header and TCP segmentation offload on, so the kernel hands us (and takes from us) 64 KiB
//! TCP super-frames instead of single frames.

use super::sleeve::datapath::LocalPort;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use weave_netdev::tap::{Tap, TapOptions, TUN_F_CSUM, TUN_F_TSO4};
use weave_netdev::virtio::VIRTIO_NET_HDR_LEN;

/// Name of the TAP port (`vethwe*`, so `weave reset` finds it with Weave's other devices).
pub const TAP_NAME: &str = "vethwe-tap";

pub struct TapPort(Tap);

impl TapPort {
    pub fn create() -> Result<TapPort, weave_netdev::NetdevError> {
        let tap = Tap::create(TAP_NAME, TapOptions { vnet_hdr: true, multi_queue: false })?;
        tap.set_vnet_hdr_size(VIRTIO_NET_HDR_LEN as i32)?;
        tap.set_offload(TUN_F_CSUM | TUN_F_TSO4)?;
        tap.set_nonblocking(true)?;
        Ok(TapPort(tap))
    }
}

impl LocalPort for TapPort {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    fn write(&self, hdr: &[u8], frame: &[u8]) -> io::Result<usize> {
        let iov = [
            libc::iovec { iov_base: hdr.as_ptr() as *mut libc::c_void, iov_len: hdr.len() },
            libc::iovec { iov_base: frame.as_ptr() as *mut libc::c_void, iov_len: frame.len() },
        ];
        // SAFETY: two iovecs over live slices. The fd is non-blocking: a full TAP queue drops
        // the frame, as a congested switch port would.
        let n = unsafe { libc::writev(self.0.as_fd().as_raw_fd(), iov.as_ptr(), 2) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn write_gather(&self, hdr: &[u8], head: &[u8], payloads: &[libc::iovec]) -> io::Result<usize> {
        let mut iov = Vec::with_capacity(2 + payloads.len());
        iov.push(libc::iovec { iov_base: hdr.as_ptr() as *mut libc::c_void, iov_len: hdr.len() });
        iov.push(libc::iovec { iov_base: head.as_ptr() as *mut libc::c_void, iov_len: head.len() });
        iov.extend_from_slice(payloads);
        // SAFETY: the iovecs point into live buffers (the caller guarantees the payloads').
        let n = unsafe { libc::writev(self.0.as_fd().as_raw_fd(), iov.as_ptr(), iov.len() as i32) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn wait_readable(&self) -> io::Result<()> {
        self.0.wait_readable(None).map(|_| ())
    }
}
