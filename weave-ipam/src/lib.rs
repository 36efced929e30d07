//! The pure core of Weave Net 2.8's IPAM, wire-compatible with real `weaver` peers.
//!
//! Everything is sans-IO and deterministic: inputs (requests, received gossip, ticks, the current
//! time, which peers are reachable) go in as method calls, and everything to do (persist, send,
//! answer a request) comes out as an explicit, ordered [`allocator::Output`] list.
//!
//! * [`address`]: IPv4 addresses, ranges and CIDRs.
//! * [`ring`]: the ring CRDT recording which peer owns which range.
//! * [`space`]: this peer's own addresses, handed out or free.
//! * [`paxos`]: the consensus that decides which peers the ring is first split between.
//! * [`messages`]: the `IPallocation` gossip channel's payloads.
//! * [`persist`]: what must survive a restart.
//! * [`allocator`]: the state machine tying them together.
#![forbid(unsafe_code)]

pub mod address;
pub mod allocator;
pub mod messages;
pub mod paxos;
pub mod persist;
pub mod ring;
pub mod space;
mod wire;

pub use address::{Address, Cidr, Range};
pub use allocator::{Allocator, Config, InitMode, OpError, Outcome, Output, RequestId};
pub use weave_wire::PeerName;
