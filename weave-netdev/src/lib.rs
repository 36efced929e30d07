//! weave-netdev: the one place weave talks to the kernel's network configuration.
//!
//! Every rtnetlink operation is a named method on [`Netlink`] and fails with a [`NetdevError`]
//! that says what it was doing ("create bridge weave: File exists"). Sockets are synchronous
//! and belong to the network namespace they were opened in ([`Netlink::open_in`] opens one in
//! another namespace); callers on the async runtime use `spawn_blocking`.
//!
//! Besides rtnetlink: network namespace handles ([`Netns`]), TAP devices ([`tap`], written
//! with gathered writes; their virtio_net_hdr is `weave_overlay::virtio`), batched UDP I/O
//! with GSO and GRO ([`udp`]), /proc/sys settings ([`sysctl`]), gratuitous ARP ([`arp`]), raw
//! frames on a link ([`PacketSocket`]), TCP sockets' RTT and send queue ([`tcp`]), the host
//! name ([`hostname`]), UDP replies from the address a query was sent to ([`pktinfo`]),
//! nftables batches ([`nft`]) and NFLOG ([`nflog`]) and, with feature `tokio`, registration
//! of our sockets with tokio's reactor (`reactor`).
#![deny(clippy::undocumented_unsafe_blocks)]

mod addr;
pub mod arp;
mod bridge;
mod fdb;
mod link;
pub mod memory;
mod netlink;
mod netns;
pub mod nflog;
pub mod nft;
pub mod nft_events;
mod packet;
pub mod pktinfo;
#[cfg(feature = "tokio")]
pub mod reactor;
mod route;
pub mod sysctl;
pub mod tap;
mod tap_io;
pub mod tcp;
pub mod udp;
mod uts;
mod vxlan;

pub use fdb::FdbEntry;
pub use ipnet::Ipv4Net;
pub use link::{format_mac, BridgePort, Link, LinkKind, LinkStats};
pub use netlink::{NetdevError, Netlink};
pub use netns::Netns;
pub use packet::PacketSocket;
pub use route::Route;
pub use tap::{Tap, TapOptions};
pub use uts::hostname;
pub use vxlan::VxlanConfig;

// Sockets and devices opened inside a namespace are handed back to the caller's thread, and a
// Tap is read by one thread while another writes: keep these types thread-safe.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<Netlink>();
    send::<Netns>();
    sync::<Netns>();
    send::<Tap>();
    sync::<Tap>();
};
