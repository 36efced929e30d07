//! The two sides of the sleeve packet path, as traits: the bridge's local port frames are
//! captured from and injected into ([`LocalPort`]: a TAP device in the daemon), and the UDP
//! side sleeve packets travel on ([`Underlay`]: the daemon's socket pair). [`super::mem`] has
//! in-memory ones for tests and benchmarks.

use std::io::{self, IoSlice};
use std::net::SocketAddrV4;

/// The local side of the switch. Frames travel with a virtio-net header in front
/// (segmentation and checksum offload, see `weave_netdev::virtio`).
pub trait LocalPort: Send + Sync {
    /// Reads one virtio-net header and frame into `buf`; returns the total length. The port
    /// is non-blocking: `WouldBlock` when there is nothing to read.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes one frame gathered from `bufs`, the virtio-net header first. A full queue drops
    /// the frame, as a congested switch port would.
    fn write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Waits until a frame can be read.
    fn wait_readable(&self) -> io::Result<()>;
}

/// What became of one datagram of a batch.
#[derive(Debug)]
pub enum SendError<'a> {
    /// The datagram exceeds the path MTU the kernel knows (DF path).
    TooBig,
    Other(&'a io::Error),
}

/// Reports the datagrams of a batch that could not be sent, by index.
pub type OnError<'f> = dyn FnMut(usize, SendError<'_>) + 'f;

/// The UDP side: two paths to every peer, one the kernel may fragment (non-DF) and one it
/// must not (DF). Sends never block; failures are reported per datagram and the others still
/// go out.
pub trait Underlay: Send + Sync {
    /// Sends each `(destination, payload)` on the DF or non-DF path.
    fn send(&self, df: bool, msgs: &[(SocketAddrV4, &[u8])], on_error: &mut OnError<'_>);

    /// Sends `n` datagrams to `dst` on the DF path, datagram `i` being header `i` (`heads`
    /// holds `n` equal-sized headers back to back) followed by `payload(i)`, which stays where
    /// it is. Every datagram but the last has the same size (the segments of one TCP
    /// super-frame).
    fn send_gathered<'p>(
        &self,
        dst: SocketAddrV4,
        heads: &[u8],
        n: usize,
        payload: &dyn Fn(usize) -> &'p [u8],
        on_error: &mut OnError<'_>,
    );
}

impl<T: LocalPort + ?Sized> LocalPort for std::sync::Arc<T> {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read(buf)
    }
    fn write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (**self).write(bufs)
    }
    fn wait_readable(&self) -> io::Result<()> {
        (**self).wait_readable()
    }
}

impl<T: Underlay + ?Sized> Underlay for std::sync::Arc<T> {
    fn send(&self, df: bool, msgs: &[(SocketAddrV4, &[u8])], on_error: &mut OnError<'_>) {
        (**self).send(df, msgs, on_error)
    }
    fn send_gathered<'p>(
        &self,
        dst: SocketAddrV4,
        heads: &[u8],
        n: usize,
        payload: &dyn Fn(usize) -> &'p [u8],
        on_error: &mut OnError<'_>,
    ) {
        (**self).send_gathered(dst, heads, n, payload, on_error)
    }
}
