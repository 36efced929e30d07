//! Network policy on this host: the Kubernetes NetworkPolicy model (crate `weave-policy`)
//! rendered into nftables ([`nft`]), kept in step with policy and target changes
//! ([`enforce`]), and the drops the kernel logs, attributed to their policies ([`drops`]).
//! [`handle`] is the daemon's side: the API's calls, gossip out, and targets from attach.

pub mod drops;
pub mod enforce;
pub mod gossip;
pub mod handle;
pub mod nft;
pub mod service;
