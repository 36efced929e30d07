//! Weave Net 2.8's mesh as a pure state machine: peers and their connections, topology gossip,
//! unicast and broadcast routes, gossip channels for other subsystems (IPAM, DNS), and the
//! connection maker. No sockets, no clock, no tasks: [`Mesh`] takes `(now, input)` and queues
//! [`Output`]s, so dozens of peers run in one test (`tests/sim.rs`).
//!
//! How a daemon drives it:
//! * Start: `Mesh::new(config, now, seed)`, `register_channel` for each subsystem's
//!   [`Gossiper`] (as a [`Channel`]), then `decoder()` for the connection tasks.
//! * A connection's handshake completed: `connection_ready(now, id, handshaked)`. Each message
//!   body read from it: decoded on the connection's task (`decoder.decode(body)`, the costly
//!   part), then `inbound(now, id, decoded)`; or both at once with `message(now, id, body)`. It closed or failed: `connection_closed`. A
//!   dial failed before its handshake: `dial_failed`.
//! * With an overlay (`external_overlay`), `overlay_established` once its data path works.
//! * Timers: call `tick(now)` at `next_deadline()`.
//! * After every call, perform `take_outputs()` in order: write `Send` bodies (and report
//!   `sent` for gossip once written), `Close` connections, `Dial` addresses, start or stop the
//!   connection's overlay, persist targets, publish events.
//! * Subsystems send with `gossip_broadcast`, `gossip_neighbours` and `gossip_unicast`.
//! * Read `routes()` (shared, immutable) for forwarding and `status()` for display.
#![forbid(unsafe_code)]

mod core;
mod gossip;
mod inbound;
mod maker;
mod peers;
mod routes;
mod status;

pub use crate::core::{ConnId, Handshaked, Mesh, MeshConfig, MeshEvent, Output, TOPOLOGY};
pub use gossip::{Channel, GossipData, GossipError, Gossiper, Messages, Outbox};
pub use inbound::{Decoder, Inbound};
pub use maker::{Ending, TargetState};
pub use peers::{ConnSummary, Peer, Peers, TopologyUpdate, UpdateError, SHORT_ID_BITS};
pub use routes::{unicast_paths, Routes};
pub use status::{ConnectionStatus, MeshStatus, TargetStatus};
