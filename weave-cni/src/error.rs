//! Why a CNI request failed; the API maps each to a status and a `kind` word the plugins turn
//! into CNI error codes (`api::error` in weave-daemon). `E` is the daemon's own failure
//! ([`crate::Backend::Error`]: the attach service's or IPAM's).

use weave_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CniFailure<E> {
    /// A value of the request is unusable (a bad address, path or name).
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with an attachment that exists.
    #[error("{0}")]
    Conflict(String),
    /// An address from IPAM was asked for, and IPAM is off.
    #[error("IP address allocation must be enabled to use 'net:' (the daemon was started with an empty --ipalloc-range)")]
    IpamDisabled,
    /// The attach service, IPAM or weaveDNS refused or failed.
    #[error("{0}")]
    Backend(E),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Something that should not happen did.
    #[error("{0}")]
    Internal(String),
}
