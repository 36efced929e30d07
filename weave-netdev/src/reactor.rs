//! Netdev's sockets on tokio's reactor (feature `tokio`): registering a descriptor is sound
//! only while it stays open and the same, which the socket types here guarantee.

use crate::PacketSocket;
use std::io;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Watches a packet socket for frames to read. Call on the tokio runtime.
pub fn watch_packet_socket(sock: PacketSocket) -> io::Result<AsyncFd<PacketSocket>> {
    // SAFETY: a PacketSocket owns its descriptor (an OwnedFd it never closes, replaces or
    // gives away before it is dropped), and `as_raw_fd` always returns that descriptor. The
    // AsyncFd takes ownership of the socket, so the descriptor stays open and refers to the
    // same socket for the AsyncFd's whole life, which is what registration requires.
    unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }.map_err(io::Error::from)
}
