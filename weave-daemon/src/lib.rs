//! weave-daemon: the weave router and everything around it.
//!
//! `main.rs` parses flags and calls [`daemon::run`]; each subsystem lives in its own module and
//! publishes snapshots that the REST API ([`api`]) reads.

pub mod api;
pub mod attach;
pub mod cni;
pub mod config;
pub mod daemon;
pub mod dns;
pub mod docker;
pub mod firewall;
pub mod identity;
pub mod ipam;
pub mod mesh;
pub mod overlay;
pub mod peer_filter;
pub mod peers_file;
pub mod policy;
pub mod services;
pub use weave_store as store;
pub mod timefmt;

/// The daemon's version, shown by `weave version` and in Weave's report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Weave Net wire protocol name and the versions we speak.
pub const PROTOCOL: &str = "weave";
pub const PROTOCOL_MIN_VERSION: u8 = 1;
pub const PROTOCOL_MAX_VERSION: u8 = 2;
/// The bridge containers attach to, as Weave.
pub const BRIDGE: &str = "weave";
