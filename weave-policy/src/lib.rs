//! Kubernetes NetworkPolicy (`networking.k8s.io/v1`) for weave: parsing and validation, the
//! compiled model the kernel enforces, and `why`. Pure: no I/O, no clock.
//!
//! How the daemon drives it:
//! * `weave policy apply -f FILE`: [`parse`] the file (all or nothing), merge the policies with
//!   the known ones, [`Model::set_policies`], then bring the kernel to [`Model::kernel_view`]
//!   (diffing against what it applied before).
//! * A target attached, changed or gone anywhere in the cluster: [`Model::upsert_target`] /
//!   [`Model::remove_target`] return the few set elements this host's kernel must add or delete.
//! * Namespace labels: [`Model::set_namespace`], likewise.
//! * `weave policy why`: [`Model::why`] runs the same sets and rules the kernel runs.
//! * A drop the kernel logged: [`Model::isolating`] names the policies that isolated it.
//! * Gossip and the data dir carry [`Policy::source`]; [`parse::from_source`] validates it again.

#![forbid(unsafe_code)]

pub mod gossip;
pub mod model;
pub mod parse;
pub mod selector;
pub mod types;
pub mod validate;

pub use model::{
    DirVerdict, Elem, ElemChange, KRule, KernelView, Model, PeerMatch, PolicyInfo, PortSel, SetKind, Verdict,
};
pub use parse::{parse, PolicyError};
pub use selector::Selector;
pub use types::{Direction, NamedPort, Policy, PolicyId, Protocol, Target, NAMESPACE_NAME_LABEL};

#[cfg(test)]
mod tests;
