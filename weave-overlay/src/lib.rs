//! weave-overlay: how frames travel between peers, as pure code. The daemon (weave-daemon's
//! `overlay` module) owns the tasks, timers, sockets and devices and drives what is here:
//!
//! * [`switch`]: a connection's overlay switch (Weave's `overlaySwitchForwarder`): which of its
//!   forwarders carries traffic, and every change with its time and reason.
//! * [`fastdp::control`]: the fastdp forwarder: heartbeats over the VXLAN device, which prove
//!   the path carries the MTU; the device is on the bridge only while they flow, and comes back
//!   only after the path has stayed healthy for a backoff that grows when it flaps.
//! * [`sleeve::control`]: the sleeve forwarder: heartbeats over UDP, the peer's UDP address,
//!   the fragmentation test, path MTU discovery and the MTU search.
//! * [`sleeve::datapath`]: the sleeve packet path (encapsulation, encryption, routing, TCP
//!   segmentation and merging) over two port traits: [`sleeve::port::LocalPort`] for the bridge
//!   side (a TAP device in the daemon) and [`sleeve::port::Underlay`] for the UDP side, so it
//!   runs in tests and benchmarks over in-memory ports ([`sleeve::mem`]).
//!
//! The control cores are state machines with injected time: every input comes with `now`, each
//! returns the [`Action`](switch::Action)s to perform in order, and `next_deadline()` says when
//! to call `tick` next. No tokio, no sockets, no clock (clippy refuses `Instant::now` here, see
//! clippy.toml), no unsafe code: the daemon's tasks only move messages and timers.

#![forbid(unsafe_code)]

pub mod fastdp;
pub mod forwarder;
pub mod frame;
pub mod fxhash;
pub mod gso;
pub mod maccache;
pub mod sleeve;
pub mod switch;
pub mod virtio;
