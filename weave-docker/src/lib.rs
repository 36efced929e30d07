//! The Docker integration: weave's network plugin, Docker containers as targets and the
//! container lifecycle driving addresses and names.
//!
//! One supervisor task owns the connection to Docker (`--docker-api`): it connects, ensures the
//! Docker network `weave`, reconciles the containers that run, follows Docker's events, and when
//! Docker goes away says so in the status and reconnects with backoff. The plugin's sockets are
//! served from start to stop whether Docker answers or not (Docker looks for them when it
//! starts). Everything else reads [`Shared`]: the client while connected, the state, and the
//! networks the plugin knows.
//!
//! Modules: `client` (bollard), `plugin` (the socket server), `driver` (remote network
//! driver), `ipam_driver` (remote IPAM driver), `watcher` (events and reconciliation), `proxy`
//! (the Docker API proxy's wiring), `ports` (what it needs of the daemon: IPAM, weaveDNS, the
//! attach service, implemented by weave-daemon).

#![forbid(unsafe_code)]

pub mod client;
pub mod driver;
pub mod ipam_driver;
pub mod plugin;
pub mod ports;
pub mod proxy;
pub mod watcher;

#[cfg(test)]
mod tests;

use client::{Container, DockerClient, DockerError};
use driver::Network;
use ports::{Addresses, Names, Targets};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The Docker network ensured at launch, as Weave's.
pub const DEFAULT_NETWORK: &str = "weave";
/// Docker's bridges, whose containers weaveDNS answers (see weave-daemon's `dns::clients`).
pub const BRIDGES: [&str; 2] = ["docker0", "docker_gwbridge"];
/// Backoff between attempts to reach Docker.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// The flags the integration runs with.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// `--docker-api`; empty disables everything.
    pub addr: String,
    /// Run the network plugin (`--no-plugin` turns it off).
    pub plugin: bool,
    pub plugin_socket: PathBuf,
    pub mesh_socket: PathBuf,
    /// weaveDNS runs (shown in the plugin's status).
    pub dns: bool,
    /// The Docker API proxy (`None` with `--no-proxy`).
    pub proxy: Option<proxy::ProxyConfig>,
}

impl DockerConfig {
    /// A driver's name: its socket's file name without `.sock`, as Weave.
    pub fn driver_name(socket: &std::path::Path) -> String {
        socket.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// Where the connection to Docker stands.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// `--docker-api ''`.
    Disabled,
    Connecting,
    Connected {
        version: String,
    },
    /// Not answering; retried with backoff.
    Unreachable {
        error: String,
    },
}

/// What the plugin, the watcher and the API share.
pub struct Shared {
    pub config: DockerConfig,
    pub ipam: Option<Arc<dyn Addresses>>,
    pub dns: Option<Arc<dyn Names>>,
    /// The attach service: the plugin's endpoints are made and removed through it.
    pub attach: Arc<dyn Targets>,
    /// Networks the plugin was told about or asked Docker about, by id.
    pub networks: Mutex<HashMap<String, Network>>,
    client: RwLock<Option<DockerClient>>,
    state: RwLock<State>,
    /// Running containers on a weave network, by id, as last seen.
    containers: RwLock<HashMap<String, Container>>,
    /// The Docker API proxy, once it listens.
    proxy: std::sync::OnceLock<proxy::ProxyState>,
}

impl Shared {
    pub fn new(
        config: DockerConfig,
        ipam: Option<Arc<dyn Addresses>>,
        dns: Option<Arc<dyn Names>>,
        attach: Arc<dyn Targets>,
    ) -> Shared {
        let state = if config.addr.is_empty() { State::Disabled } else { State::Connecting };
        Shared {
            config,
            ipam,
            dns,
            attach,
            networks: Mutex::new(HashMap::new()),
            client: RwLock::new(None),
            state: RwLock::new(state),
            containers: RwLock::new(HashMap::new()),
            proxy: std::sync::OnceLock::new(),
        }
    }

    /// The Docker API proxy, when it runs.
    pub fn proxy(&self) -> Option<&proxy::ProxyState> {
        self.proxy.get()
    }

    fn set_proxy(&self, p: proxy::ProxyState) {
        let _ = self.proxy.set(p);
    }

    /// Without Docker, IPAM or DNS, over `attach`.
    #[cfg(test)]
    pub fn for_tests(attach: Arc<dyn Targets>) -> Shared {
        let config = DockerConfig {
            addr: String::new(),
            plugin: true,
            plugin_socket: PathBuf::from("weave.sock"),
            mesh_socket: PathBuf::from("weavemesh.sock"),
            dns: false,
            proxy: None,
        };
        Shared::new(config, None, None, attach)
    }

    pub fn enabled(&self) -> bool {
        !self.config.addr.is_empty()
    }

    /// The client while Docker answers.
    pub fn client(&self) -> Option<DockerClient> {
        self.client.read().expect("client lock").clone()
    }

    pub fn state(&self) -> State {
        self.state.read().expect("state lock").clone()
    }

    fn set_state(&self, s: State, client: Option<DockerClient>) {
        *self.client.write().expect("client lock") = client;
        *self.state.write().expect("state lock") = s;
    }

    /// The client, or why there is none (for the API and the CLI).
    pub fn require_client(&self) -> Result<DockerClient, DockerError> {
        if let Some(c) = self.client() {
            return Ok(c);
        }
        let why = match self.state() {
            State::Disabled => "the Docker integration is disabled (--docker-api '')".to_string(),
            State::Unreachable { error } => error,
            State::Connecting | State::Connected { .. } => "not connected yet".to_string(),
        };
        Err(DockerError::Unreachable { addr: self.config.addr.clone(), why })
    }

    /// The names of the two drivers.
    pub fn driver_names(&self) -> [String; 2] {
        [
            DockerConfig::driver_name(&self.config.plugin_socket),
            DockerConfig::driver_name(&self.config.mesh_socket),
        ]
    }

    /// A running container on a weave network, by full id, as the watcher last saw it.
    pub fn known_container(&self, id: &str) -> Option<Container> {
        self.containers.read().expect("containers lock").get(id).cloned()
    }

    fn remember(&self, c: &Container) {
        self.containers.write().expect("containers lock").insert(c.id.clone(), c.clone());
    }

    fn forget(&self, id: &str) {
        self.containers.write().expect("containers lock").remove(id);
    }

    /// A network's driver and options: known, else asked of Docker (`None`: Docker cannot
    /// be asked). Networks Docker does not know are an error.
    pub async fn network(&self, id: &str) -> Result<Option<Network>, DockerError> {
        if let Some(n) = self.networks.lock().expect("networks lock").get(id).cloned() {
            return Ok(Some(n));
        }
        let Some(client) = self.client() else { return Ok(None) };
        let info = client
            .network(id)
            .await?
            .ok_or_else(|| DockerError::Api(format!("no network {id} in Docker")))?;
        let net = if self.driver_names().contains(&info.driver) {
            driver::parse_options(&info.driver, &info.options).map_err(DockerError::Api)?
        } else {
            Network { driver: info.driver, multicast: false }
        };
        self.networks.lock().expect("networks lock").insert(id.to_string(), net.clone());
        Ok(Some(net))
    }

    /// Whether network `id` is one of weave's.
    pub async fn is_ours(&self, id: &str) -> bool {
        match self.network(id).await {
            Ok(Some(n)) => self.driver_names().contains(&n.driver),
            _ => false,
        }
    }

    /// Docker released `ip` of a container: if the container still runs without it (a network
    /// disconnect), the address is freed; otherwise the container's lifecycle decides.
    pub fn check_disconnected(self: &Arc<Self>, container: String, ip: Ipv4Addr) {
        let me = self.clone();
        tokio::spawn(async move {
            let (Some(client), Some(ipam)) = (me.client(), me.ipam.clone()) else { return };
            let Ok(c) = client.container(&container).await else { return };
            if c.running && !c.endpoints.iter().any(|e| e.ip == Some(ip)) {
                tracing::info!(%container, address = %ip, "disconnected from the weave network: releasing its address");
                if let Some(dns) = &me.dns {
                    dns.delete(&container, ip).await;
                }
                if let Err(e) = ipam.free(&container, ip).await {
                    tracing::warn!(%container, address = %ip, "releasing the address: {e}");
                }
            }
        });
    }
}

/// A container found as an attach target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The full id.
    pub id: String,
    /// A process in its network namespace.
    pub pid: u32,
    /// The name `weave attach` gives it.
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// Why a container cannot be an attach target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Docker cannot be asked (why).
    Unavailable(String),
    /// Docker has no such container.
    Unknown {
        target: String,
        why: String,
    },
    NotRunning {
        id: String,
        name: String,
    },
}

impl Shared {
    /// Docker containers as attach targets: by full id (the watcher's view first), unique id
    /// prefix or name, through Docker.
    pub async fn resolve(&self, name: &str) -> Result<Found, Lookup> {
        let c = match self.known_container(name) {
            Some(c) => c,
            None => {
                let client = self.require_client().map_err(|e| Lookup::Unavailable(e.to_string()))?;
                match client.container(name).await {
                    Ok(c) => c,
                    Err(DockerError::NoSuchContainer(_)) => {
                        return Err(Lookup::Unknown {
                            target: name.to_string(),
                            why: "Docker has no container by that id or name".into(),
                        })
                    }
                    Err(e) => return Err(Lookup::Unavailable(e.to_string())),
                }
            }
        };
        if !c.running || c.pid == 0 {
            return Err(Lookup::NotRunning { id: c.id, name: c.name });
        }
        let hostname = self.container_fqdn(&c);
        Ok(Found { id: c.id, pid: c.pid, hostname, labels: c.labels })
    }
}

impl Shared {
    /// The name `weave attach` gives a container: `hostname.domainname` when it falls in the
    /// weave domain, a bare hostname under the domain (CONTRACT: "the container's hostname for
    /// Docker ... under the DNS domain"; the attach service qualifies it).
    fn container_fqdn(&self, c: &Container) -> Option<String> {
        let fqdn = match (c.hostname.as_str(), c.domainname.as_str()) {
            ("", _) => return None,
            (h, "") if !h.contains('.') => return Some(h.to_string()),
            (h, "") => h.to_string(),
            (h, d) => format!("{h}.{d}"),
        };
        self.dns.as_ref()?.name_in_domain(&fqdn).ok()
    }
}

impl Shared {
    /// `weave stop` and `weave reset`: the Docker network `weave` goes, as Weave's `weave stop`
    /// removes it (the next launch makes it again). Returns what the user should be warned of:
    /// containers still on it, Docker not answering. Nothing to do without the plugin.
    pub async fn remove_default_network(&self) -> Option<String> {
        if !self.enabled() || !self.config.plugin {
            return None;
        }
        let client = match self.require_client() {
            Ok(c) => c,
            Err(e) => return Some(format!("the Docker network {DEFAULT_NETWORK} was not removed: {e}")),
        };
        match client.remove_network(DEFAULT_NETWORK).await {
            Ok(removed) => {
                if removed {
                    tracing::info!(network = DEFAULT_NETWORK, "removed the Docker network");
                }
                None
            }
            Err(e) => Some(format!("unable to remove the Docker network {DEFAULT_NETWORK}: {e}")),
        }
    }
}

/// Whether `s` is a full Docker container id.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Starts the integration: the plugin's sockets (refusing the start when they cannot be bound)
/// and the supervisor task. Returns the shared state.
pub fn start(
    config: DockerConfig,
    ipam: Option<Arc<dyn Addresses>>,
    dns: Option<Arc<dyn Names>>,
    attach: Arc<dyn Targets>,
    stop: CancellationToken,
) -> anyhow::Result<Arc<Shared>> {
    let shared = Arc::new(Shared::new(config, ipam, dns, attach));
    if !shared.enabled() {
        tracing::info!("Docker integration disabled (--docker-api '')");
        return Ok(shared);
    }
    shared.attach.serve_containers(shared.clone());
    if shared.config.plugin {
        let global = Arc::new(driver::NetworkDriver::new(
            &DockerConfig::driver_name(&shared.config.plugin_socket),
            "global",
            shared.clone(),
        ));
        let mesh = Arc::new(driver::NetworkDriver::new(
            &DockerConfig::driver_name(&shared.config.mesh_socket),
            "local",
            shared.clone(),
        ));
        let ipam = Arc::new(ipam_driver::IpamDriver::new(shared.clone()));
        for (path, router) in [
            (shared.config.plugin_socket.clone(), plugin::router(global, None)),
            (shared.config.mesh_socket.clone(), plugin::router(mesh, Some(ipam))),
        ] {
            let listener = plugin::bind(&path).map_err(|e| anyhow::anyhow!("the Docker plugin: {e}"))?;
            tracing::info!(socket = %path.display(), "Docker plugin listening");
            tokio::spawn(plugin::serve(listener, path, router, stop.clone()));
        }
        tokio::spawn(remove_unjoined(shared.attach.clone(), stop.clone()));
    }
    if let Some(cfg) = shared.config.proxy.clone() {
        proxy::start(&shared, cfg, stop.clone()).map_err(|e| anyhow::anyhow!("the Docker API proxy: {e}"))?;
    }
    tokio::spawn(supervise(shared.clone(), stop));
    Ok(shared)
}

/// How long Docker repeats a plugin call that gets no answer (its plugin client's timeout),
/// with a margin: an endpoint made before the daemon started and still not joined after this
/// will never be.
const DOCKER_RETRY_WINDOW: Duration = Duration::from_secs(45);

/// Endpoints made by an earlier daemon whose container end is still on the host once Docker
/// has stopped repeating the calls the restart cut (Join, or DeleteEndpoint after a failed
/// start) are removed: nobody will use them.
async fn remove_unjoined(attach: Arc<dyn Targets>, stop: CancellationToken) {
    let before = match attach.unjoined_endpoints().await {
        Ok(v) if !v.is_empty() => v,
        Ok(_) => return,
        Err(e) => return tracing::warn!("listing the plugin's endpoints: {e}"),
    };
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(DOCKER_RETRY_WINDOW) => {}
    }
    let removed = attach.remove_unjoined(&before).await;
    if !removed.is_empty() {
        tracing::info!(?removed, "removed endpoints Docker never joined");
    }
}

/// Connects, reconciles and follows events; on loss, says so and reconnects with backoff.
async fn supervise(shared: Arc<Shared>, stop: CancellationToken) {
    let mut delay = RETRY_MIN;
    loop {
        let attempt = async {
            let client = DockerClient::connect(&shared.config.addr).await?;
            let version = client.version().await?;
            Ok::<_, DockerError>((client, version))
        };
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            r = attempt => r,
        };
        match outcome {
            Ok((client, version)) => {
                tracing::info!(docker = %shared.config.addr, %version, "connected to Docker");
                shared.set_state(State::Connected { version }, Some(client.clone()));
                delay = RETRY_MIN;
                let lost = tokio::select! {
                    _ = stop.cancelled() => return,
                    e = watcher::run(shared.clone(), client) => e,
                };
                tracing::warn!(docker = %shared.config.addr, "lost Docker: {lost}; reconnecting");
                shared.set_state(State::Unreachable { error: lost.to_string() }, None);
            }
            Err(e) => {
                let first = !matches!(shared.state(), State::Unreachable { .. });
                if first {
                    tracing::warn!(docker = %shared.config.addr, "Docker is not reachable: {e}; retrying");
                }
                shared.set_state(State::Unreachable { error: e.to_string() }, None);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// The status block of the report.
pub fn status(shared: &Shared) -> weave_api::DockerStatus {
    let (state, version, error) = match shared.state() {
        State::Disabled => ("disabled", String::new(), String::new()),
        State::Connecting => ("connecting", String::new(), String::new()),
        State::Connected { version } => ("connected", version, String::new()),
        State::Unreachable { error } => ("unreachable", String::new(), error),
    };
    let dns_server = proxy::dns_server(shared).map(|ip| ip.to_string()).unwrap_or_default();
    weave_api::DockerStatus {
        address: shared.config.addr.clone(),
        state: state.into(),
        version,
        error,
        dns_server,
    }
}

/// Weave's `Plugin` block of the report (absent when the plugin does not run).
pub fn plugin_status(shared: &Shared, default_subnet: Option<String>) -> Option<weave_api::PluginStatus> {
    if !shared.enabled() || !shared.config.plugin {
        return None;
    }
    let [driver, mesh] = shared.driver_names();
    Some(weave_api::PluginStatus {
        config: weave_api::PluginConfig {
            socket: shared.config.plugin_socket.display().to_string(),
            mesh_socket: shared.config.mesh_socket.display().to_string(),
            enable: true,
            enable_v2: false,
            enable_v2_multicast: false,
            dns: shared.config.dns,
            default_subnet: default_subnet.unwrap_or_default(),
            proc_path: "/proc".into(),
        },
        driver_name: driver,
        mesh_driver_name: mesh,
    })
}
