//! Why a service request failed. The API maps each to an HTTP status in `api::error`.
//! `A` and `I` are the attach service's and IPAM's own errors (see [`crate::ports`]).

use weave_netdev::NetdevError;
use weave_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError<A, I> {
    /// The request itself is wrong (a port out of range, an address that does not parse).
    #[error("{0}")]
    Invalid(String),
    /// The target names nothing attached on this host.
    #[error("no target {target}: {why}")]
    UnknownTarget { target: String, why: String },
    #[error("no service {0}")]
    NotFound(String),
    /// A published port or a weave address is taken.
    #[error("{0}")]
    Conflict(String),
    /// A weave address outside every range weave allocates from.
    #[error("weave address {addr} is outside the weave network's range {range}")]
    OutOfRange { addr: String, range: String },
    /// The service needs an address from IPAM, which is off.
    #[error("{0} (IPAM is disabled: the daemon was started with an empty --ipalloc-range)")]
    NeedsIpam(String),
    #[error("a name needs weaveDNS, which is disabled (--no-dns)")]
    DnsDisabled,
    #[error("{0}")]
    BadName(String),
    #[error("{0}")]
    Attach(#[source] A),
    #[error("{0}")]
    Ipam(#[source] I),
    #[error("{0}")]
    Kernel(#[from] NetdevError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl<A, I> ServiceError<A, I> {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ServiceError::UnknownTarget { .. } => {
                "`weave ps` lists the targets attached on this host; attach the target first".into()
            }
            ServiceError::NotFound(_) => "`weave service ls` lists the services".into(),
            ServiceError::Conflict(_) => {
                "`weave service ls` shows what holds it; pick another port or address, or remove that service"
                    .into()
            }
            ServiceError::OutOfRange { .. } => {
                "give an address inside --ipalloc-range, or leave it out to have one allocated".into()
            }
            ServiceError::NeedsIpam(_) => "give the weave address as IP/PREFIX with --as".into(),
            ServiceError::Store(_) => "check the disk under --data-dir".into(),
            // An attach failure's hint is the attach service's own (the API asks it).
            _ => return None,
        })
    }
}

impl<A, I> From<crate::spec::Invalid> for ServiceError<A, I> {
    fn from(e: crate::spec::Invalid) -> Self {
        ServiceError::Invalid(e.0)
    }
}
