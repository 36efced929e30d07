//! Gathered writes to a TAP device: a frame whose virtio_net_hdr, headers and payloads lie in
//! separate buffers goes into the kernel in one writev, without being copied together first.

use crate::tap::Tap;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;

/// The most iovecs one writev takes (UIO_MAXIOV).
const MAX_IOV: usize = 1024;

impl Tap {
    /// Writes one frame gathered from `bufs` (the virtio_net_hdr first, when enabled). On a
    /// non-blocking TAP a full queue fails with `WouldBlock` and the frame is not written.
    pub fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.len() > MAX_IOV {
            let msg = format!("a frame in {} pieces (writev takes at most {MAX_IOV})", bufs.len());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        // SAFETY: on Unix `IoSlice` is guaranteed to be ABI-compatible with `struct iovec`,
        // and each one borrows a live slice for the duration of the call; writev only reads
        // `bufs.len()` (at most UIO_MAXIOV) of them and the bytes they describe.
        let n = unsafe { libc::writev(self.as_raw_fd(), bufs.as_ptr().cast(), bufs.len() as libc::c_int) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}
