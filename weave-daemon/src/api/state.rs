//! The handles API handlers reach the daemon through, one per subsystem, all in [`AppState`].
//! A handler names the handle it needs (`State(ipam): State<IpamApi>`); none of them holds the
//! daemon's fields.

use super::ApiFailure;
use crate::attach::AttachService;
use crate::daemon::Daemon;
use crate::dns::Dns;
use crate::ipam::Ipam;
use crate::mesh::router::MeshHandle;
use crate::overlay::sleeve::Sleeve;
use axum::extract::FromRef;
use axum::http::StatusCode;
use std::sync::Arc;

/// Every handle, as the router's state.
#[derive(Clone)]
pub struct AppState {
    pub daemon: DaemonApi,
    pub mesh: MeshApi,
    pub ipam: IpamApi,
    pub dns: DnsApi,
    pub attach: AttachApi,
    pub docker: DockerApi,
    pub cni: CniApi,
    pub services: ServicesApi,
    pub policy: PolicyApi,
}

impl AppState {
    pub fn of(d: &Arc<Daemon>) -> AppState {
        AppState {
            daemon: DaemonApi(d.clone()),
            mesh: MeshApi { mesh: d.mesh.clone(), sleeve: d.sleeve.clone() },
            ipam: IpamApi(d.ipam.clone()),
            dns: DnsApi(d.dns().cloned()),
            attach: d.attach.clone(),
            docker: DockerApi(d.docker().cloned()),
            cni: d.cni.clone(),
            services: d.services.clone(),
            policy: d.policy.clone(),
        }
    }
}

/// The daemon as a whole: its report, readiness, identity and stopping.
#[derive(Clone)]
pub struct DaemonApi(Arc<Daemon>);

impl DaemonApi {
    /// Weave's `WeaveStatus`.
    pub fn report(&self) -> weave_api::Report {
        self.0.report()
    }

    pub fn name(&self) -> String {
        self.0.identity.name.to_string()
    }

    pub fn uid(&self) -> u64 {
        self.0.identity.uid
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.0.config.data_dir.clone()
    }

    pub fn request_shutdown(&self) {
        self.0.request_shutdown()
    }

    /// Stops the daemon and cleans the host on the way out (`weave reset`).
    pub fn request_reset(&self) {
        self.0.request_reset()
    }

    pub fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.0.shutdown_signal()
    }
}

/// The mesh and the sleeve datapath's counters.
#[derive(Clone)]
pub struct MeshApi {
    pub mesh: MeshHandle,
    /// Absent in tests that run the mesh alone.
    pub sleeve: Option<Arc<Sleeve>>,
}

/// IPAM; `None` with `--ipalloc-range ""`.
#[derive(Clone)]
pub struct IpamApi(pub Option<Arc<Ipam>>);

impl IpamApi {
    /// IPAM, or the 404 that says it is off.
    pub fn get(&self) -> Result<&Arc<Ipam>, ApiFailure> {
        self.0.as_ref().ok_or_else(|| {
            ApiFailure::new(
                StatusCode::NOT_FOUND,
                "IPAM is disabled in this daemon (it was started with an empty --ipalloc-range)",
            )
            .hint(weave_api::client::DISABLED_HINT)
        })
    }
}

/// weaveDNS; `None` with `--no-dns`.
#[derive(Clone)]
pub struct DnsApi(pub Option<Arc<Dns>>);

impl DnsApi {
    /// weaveDNS, or the 404 that says it is off.
    pub fn get(&self) -> Result<&Arc<Dns>, ApiFailure> {
        self.0.as_ref().ok_or_else(|| {
            ApiFailure::new(
                StatusCode::NOT_FOUND,
                "DNS is disabled in this daemon (it was started with --no-dns)",
            )
            .hint(weave_api::client::DISABLED_HINT)
        })
    }
}

/// The Docker integration; `None` in tests that run the API alone.
#[derive(Clone)]
pub struct DockerApi(pub Option<Arc<crate::docker::Shared>>);

impl DockerApi {
    /// `weave stop`/`reset`: removes the Docker network `weave`; a warning when it cannot.
    pub async fn remove_network(&self) -> Option<String> {
        self.0.as_ref()?.remove_default_network().await
    }
}

/// Attach, detach, expose, hide and ps.
pub type AttachApi = Arc<AttachService>;

/// CNI attachments.
pub type CniApi = Arc<crate::cni::CniService>;

/// Export, import and bind.
pub type ServicesApi = Arc<crate::services::Services>;

/// Network policy: apply, delete, list, why, drops, labels.
pub type PolicyApi = crate::policy::handle::PolicyHandle;

macro_rules! handle {
    ($t:ty, $f:ident) => {
        impl FromRef<AppState> for $t {
            fn from_ref(s: &AppState) -> $t {
                s.$f.clone()
            }
        }
    };
}
handle!(DaemonApi, daemon);
handle!(MeshApi, mesh);
handle!(IpamApi, ipam);
handle!(DnsApi, dns);
handle!(AttachApi, attach);
handle!(DockerApi, docker);
handle!(CniApi, cni);
handle!(ServicesApi, services);
handle!(PolicyApi, policy);
