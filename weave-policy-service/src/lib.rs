//! Network policy on this host: the Kubernetes NetworkPolicy model (crate `weave-policy`)
//! rendered into nftables ([`nft`]), kept in step with policy and target changes
//! ([`enforce`]), and the drops the kernel logs, attributed to their policies ([`drops`]).
//! [`handle`] is what the daemon holds: the API's calls, gossip out, and targets from attach.
//!
//! The rest of the daemon is reached through two narrow traits the daemon implements:
//! [`gossip::Mesh`] (changes go out on the mesh) and [`targets::Targets`] (the attach
//! service's targets come in, as [`targets::TargetEvent`]s).

#![forbid(unsafe_code)]

pub mod drops;
pub mod enforce;
pub mod gossip;
pub mod handle;
pub mod nft;
pub mod service;
pub mod targets;
