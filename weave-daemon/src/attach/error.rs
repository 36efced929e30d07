//! Why an attach, detach, expose or hide failed. Each variant keeps what the caller needs to
//! act: the target, and for kernel failures the operation and the errno ("create veth
//! vethwepl1a2b3c4 (peer vethwepg1a2b3c4): File exists (os error 17)"). The API maps them to
//! HTTP statuses in one place (`api::error`).

use crate::ipam::IpamFailure;
use crate::store::StoreError;
use weave_netdev::NetdevError;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The target string names nothing weave knows how to reach.
    #[error("invalid target {target:?}: {why}")]
    BadTarget { target: String, why: String },
    /// The target's kind is known, but there is no such target.
    #[error("no target {target}: {why}")]
    UnknownTarget { target: String, why: String },
    /// The container exists but does not run (a detach still releases what it holds).
    #[error("container {name} ({short}) is not running", short = &id[..id.len().min(12)])]
    ContainerNotRunning { id: String, name: String },
    /// Containers cannot be looked up now (Docker does not answer).
    #[error("{0}")]
    ContainersUnavailable(String),
    /// The target went away while it was being attached: nothing was kept.
    #[error("{id} went away during the attach: nothing was kept")]
    TargetGone { id: String },
    /// The file exists but is no network namespace (a FIFO, a device, an ordinary file).
    #[error("{source}")]
    NotANamespace { id: String, source: NetdevError },
    /// The namespace is gone (or never was).
    #[error("cannot open the network namespace of {id}: {source}")]
    NoNamespace { id: String, source: NetdevError },
    /// The namespace exists but cannot be opened or entered.
    #[error("cannot open the network namespace of {id}: {source}")]
    Unreachable { id: String, source: NetdevError },
    /// An address argument that does not parse.
    #[error("{0}")]
    BadAddress(String),
    /// A DNS name that cannot be used.
    #[error("{0}")]
    BadName(String),
    #[error("a name needs weaveDNS, which is disabled (--no-dns)")]
    DnsDisabled,
    #[error("IP address allocation must be enabled to use 'net:' (the daemon was started with an empty --ipalloc-range)")]
    IpamDisabled,
    /// IPAM refused or could not serve the request.
    #[error("{0}")]
    Ipam(#[from] IpamFailure),
    /// The interface name is taken in the target by something weave did not make.
    #[error("{id} already has an interface {ifname} that is not weave's (not a veth to the weave bridge)")]
    InterfaceExists { id: String, ifname: String },
    /// The interface exists already and the caller asked for a new one (CNI's ADD).
    #[error("{id} already has interface {ifname}")]
    AlreadyAttached { id: String, ifname: String },
    #[error("the weave bridge {0} is missing: is weave running?")]
    NoBridge(String),
    /// A kernel operation failed: its description and errno.
    #[error("{0}")]
    Kernel(#[from] NetdevError),
    /// Detach of a target that is gone and holds nothing here.
    #[error("{id} does not exist and holds no IPAM addresses on this peer")]
    NothingToDetach { id: String },
    /// The intent could not be recorded: nothing was changed.
    #[error("recording the intent to {op} {id}: {source}")]
    Journal { op: &'static str, id: String, source: StoreError },
    #[error("{0}")]
    Internal(String),
}

impl AttachError {
    /// What the user can do about it, where there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            AttachError::BadTarget { .. } => {
                "targets are netns:NAME, pid:PID, a namespace path, or a container id or name".into()
            }
            AttachError::UnknownTarget { .. } | AttachError::NoNamespace { .. } => {
                "`ip netns list` shows named namespaces; `weave ps` lists attached targets".into()
            }
            AttachError::NotANamespace { .. } => {
                "give a network namespace: /var/run/netns/NAME, /proc/PID/ns/net or a bind mount of one"
                    .into()
            }
            AttachError::InterfaceExists { ifname, .. } => {
                format!("remove or rename {ifname} in the target, then attach again")
            }
            AttachError::NothingToDetach { .. } => "`weave ps` lists attached targets".into(),
            AttachError::ContainerNotRunning { .. } => "start the container first (`docker start`)".into(),
            AttachError::ContainersUnavailable(_) => {
                "is dockerd running? `weave status` shows the Docker integration's state".into()
            }
            AttachError::AlreadyAttached { .. } => {
                "delete the attachment first (CNI DEL), then add it again".into()
            }
            AttachError::Kernel(e) if e.errno() == Some(libc::EEXIST) => {
                "a device of that name is in the way; `weave ps` and `ip link` show what is there".into()
            }
            AttachError::Journal { .. } => "check the disk under --data-dir".into(),
            _ => return None,
        })
    }
}
