//! Why a CNI request failed; the API maps each to a status and a `kind` word the plugins turn
//! into CNI error codes (`api::error`).

use crate::attach::AttachError;
use crate::ipam::IpamFailure;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CniFailure {
    /// A value of the request is unusable (a bad address, path or name).
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with an attachment that exists.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Attach(#[from] AttachError),
    #[error("{0}")]
    Ipam(#[from] IpamFailure),
    #[error("{0}")]
    Store(#[from] StoreError),
}
