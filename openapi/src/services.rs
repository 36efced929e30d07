//! `/api/v1/services` types: services exported from the weave network, imported into it, or
//! bound to a weave address of their own.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The transport protocol of a service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(format!("unknown protocol {s:?}: give tcp or udp")),
        }
    }
}

/// `POST /api/v1/services`. Ports are checked by the daemon (1-65535), so a bad one gets an
/// error that names it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceRequest {
    /// Outside clients reach `target`'s `port` at this host's `publish_port` (on
    /// `publish_address` only, when given; else on every address of the host).
    Export {
        /// A target attached on this host (`netns:NAME`, a container, ...) or any weave address.
        target: String,
        port: u32,
        #[serde(default)]
        protocol: Protocol,
        #[serde(default)]
        publish_address: Option<String>,
        publish_port: u32,
    },
    /// Containers on every host reach `address:port`, which only this host reaches, at a
    /// weave address (`weave_address`, from IPAM when absent) and `weave_port`.
    Import {
        address: String,
        port: u32,
        #[serde(default)]
        protocol: Protocol,
        /// `IP` or `IP/PREFIX` on the weave network; from IPAM's default subnet when absent.
        #[serde(default)]
        weave_address: Option<String>,
        weave_port: u32,
        /// A name to register in weaveDNS for the weave address.
        #[serde(default)]
        fqdn: Option<String>,
    },
    /// `target`'s `port` also answers at a weave address of its own and `weave_port`, on
    /// every host; the target keeps its own address. The target must be attached on this host.
    Bind {
        target: String,
        port: u32,
        #[serde(default)]
        protocol: Protocol,
        #[serde(default)]
        weave_address: Option<String>,
        weave_port: u32,
        #[serde(default)]
        fqdn: Option<String>,
    },
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Export,
    Import,
    Bind,
}

impl ServiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Export => "export",
            ServiceKind::Import => "import",
            ServiceKind::Bind => "bind",
        }
    }
}

/// Whether a service's rules are in force.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// In force.
    Active,
    /// Its target is gone or unreachable (see `reason`); it comes back with the target.
    Broken,
}

/// A service, as `weave service ls` lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Service {
    /// What `weave service rm` takes.
    pub id: String,
    pub kind: ServiceKind,
    pub protocol: Protocol,
    /// Export and bind: the target as given. Import: the outside address.
    pub target: String,
    /// The target's (or the outside service's) port.
    pub port: u16,
    /// The attached target's id, for local targets.
    #[serde(default)]
    pub target_id: Option<String>,
    /// Where the traffic goes now (the target's weave address, or the outside address).
    #[serde(default)]
    pub target_address: Option<String>,
    /// Export: the host address published on (absent: every address of the host).
    #[serde(default)]
    pub publish_address: Option<String>,
    #[serde(default)]
    pub publish_port: Option<u16>,
    /// Import and bind: where the service answers on the weave network (CIDR). Export: the
    /// host's own address towards the target (CIDR, on the bridge).
    #[serde(default)]
    pub weave_address: Option<String>,
    #[serde(default)]
    pub weave_port: Option<u16>,
    /// The weaveDNS name of the weave address.
    #[serde(default)]
    pub fqdn: Option<String>,
    pub state: ServiceState,
    /// Why a service is broken.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created: String,
}

/// `DELETE /api/v1/services/{id}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceRemoved {
    pub id: String,
}

/// Counts for `weave status`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServicesSummary {
    pub total: u32,
    pub active: u32,
    pub broken: u32,
}

impl ServicesSummary {
    pub fn of(services: &[Service]) -> ServicesSummary {
        let active = services.iter().filter(|s| s.state == ServiceState::Active).count() as u32;
        ServicesSummary { total: services.len() as u32, active, broken: services.len() as u32 - active }
    }
}
