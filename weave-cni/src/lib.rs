//! The daemon side of CNI: attachments made for the `weave-net` and `weave-ipam` plugins,
//! which reach it over `/api/v1/cni`.
//!
//! * [`plan`]: gateway and routes, as Weave's plugin chose them.
//! * [`records`]: the attachments in the database.
//! * [`check`]: what CHECK finds wrong.
//! * [`service`]: the operations, over the daemon's [`Backend`].
//! * [`backend`]: what the service needs of the daemon (the attach service, IPAM, weaveDNS's
//!   domain, policy's label rules), implemented by weave-daemon.

#![forbid(unsafe_code)]

pub mod backend;
pub mod check;
pub mod error;
pub mod plan;
pub mod records;
pub mod service;
#[cfg(test)]
mod tests;

pub use backend::{Addresses, Backend};
pub use error::CniFailure;
pub use service::CniService;
