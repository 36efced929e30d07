//! The mesh: peers, connections, topology gossip, routes and gossip channels, speaking Weave
//! Net 2.8's control protocol.
//!
//! [`Mesh`] is a sans-IO state machine: it takes `(now, input)` and queues [`Output`]s (bytes to
//! send, connections to close, addresses to dial, events) that the async shell in [`router`]
//! performs. That keeps the protocol testable without sockets: `sim` tests run dozens of peers
//! in one process.

mod core;
mod core_gossip;
mod gossip;
mod maker;
mod peers;
mod routes;
mod status;

pub mod handshake;
pub mod router;

pub use self::core::{ConnId, DatapathRoutes, Handshaked, Mesh, MeshConfig, MeshEvent, Output};
pub use gossip::{GossipData, GossipError, Gossiper, Messages, Outbox};
pub use maker::{Ending, TargetState};
pub use peers::{ConnSummary, Peer, Peers, SHORT_ID_BITS};
pub use routes::{routes_from, Routes, UnicastRoutes};
pub use status::MeshSnapshot;

#[cfg(test)]
mod sim;
