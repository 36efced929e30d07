//! Why a service request failed. The API maps each to an HTTP status in `api::error`.

use crate::attach::AttachError;
use crate::ipam::IpamFailure;
use crate::store::StoreError;
use weave_netdev::NetdevError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
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
    Attach(#[from] AttachError),
    #[error("{0}")]
    Ipam(#[from] IpamFailure),
    #[error("{0}")]
    Kernel(#[from] NetdevError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl ServiceError {
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
            ServiceError::Attach(e) => return e.hint(),
            _ => return None,
        })
    }
}
