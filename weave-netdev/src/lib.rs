//! weave-netdev: the one place weave talks to the kernel's network configuration (rtnetlink).
//!
//! Every operation is a named method on [`Netlink`] and fails with a [`NetdevError`] that says
//! what it was doing ("create bridge weave: File exists"). Sockets are synchronous and belong
//! to the network namespace they were opened in; callers on the async runtime use
//! `spawn_blocking`.

mod link;
mod netlink;

pub use link::{Link, LinkKind};
pub use netlink::{NetdevError, Netlink};
