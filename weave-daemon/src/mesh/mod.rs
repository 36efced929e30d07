//! The mesh's shell: the [`weave_mesh`] core driven by one task ([`router`]), the I/O of its
//! TCP connections ([`conn`], [`handshake`]) and the snapshot the API reads ([`status`]).
//! The core's types are re-exported for the rest of the daemon.

mod admission;
mod conn;
pub mod handshake;
pub mod router;
pub mod status;
#[cfg(test)]
mod tests;

pub use status::MeshSnapshot;
pub use weave_mesh::{
    Channel, ConnId, GossipData, GossipError, Gossiper, MeshConfig, MeshEvent, Outbox, SHORT_ID_BITS,
};
