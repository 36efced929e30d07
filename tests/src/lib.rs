//! The end-to-end test harness: "hosts" and "containers" are network namespaces on this
//! machine, joined by an underlay bridge in a namespace of its own; tests drive the real
//! `weave-daemon` and `weave` binaries inside them.
//!
//! Everything a test creates is owned by a guard whose `Drop` removes it, even when the test
//! panics. Names carry the test process id, so tests run in parallel and a crashed run's
//! leftovers are swept by the next one.

mod background;
mod bin;
mod cluster;
pub mod cni;
mod daemon;
mod docker;
mod events;
mod ipam;
mod mesh;
mod netns;
mod pcap;
pub mod podman;
pub mod svcecho;
mod transfer;
mod wait;

pub use background::Background;
pub use bin::{binary, target_dir};
pub use cluster::{Cluster, Host};
pub use daemon::Daemon;
pub use docker::{Docker, IMAGE};
pub use ipam::ethwe_addrs;
pub use netns::{unique_name, Netns, Output};
pub use pcap::udp_payloads;
pub use podman::Podman;
pub use transfer::tcp_transfer;
pub use wait::{wait_for, wait_until};
