//! The Docker Engine API client (bollard), reduced to what weave asks Docker: containers by id
//! or name, the networks they are on, the `weave` network, and the event stream.
//!
//! Connections negotiate the API version down to what the daemon speaks (Debian's Docker 20.10
//! speaks 1.41; bollard defaults to a newer one).

use bollard::models::{ContainerInspectResponse, NetworkCreateRequest};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// How long one Docker API call may take.
const TIMEOUT_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("Docker is not reachable at {addr}: {why}")]
    Unreachable { addr: String, why: String },
    #[error("Docker API: {0}")]
    Api(String),
}

impl DockerError {
    /// Docker's own refusals keep their message; anything that is not an answer from Docker
    /// (no socket, refused, reset, timed out) means Docker is not reachable.
    fn from_bollard(e: bollard::errors::Error, addr: &str, what: &str) -> DockerError {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError { status_code: 404, .. } => {
                DockerError::NoSuchContainer(what.into())
            }
            E::DockerResponseServerError { status_code, message } => {
                DockerError::Api(format!("{what}: {message} (HTTP {status_code})"))
            }
            E::JsonDataError { .. } | E::JsonSerdeError { .. } => {
                DockerError::Api(format!("{what}: Docker's answer could not be read: {e}"))
            }
            other => DockerError::Unreachable { addr: addr.into(), why: other.to_string() },
        }
    }
}

/// One network endpoint of a container.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Endpoint {
    /// The Docker network's name (the key in `NetworkSettings.Networks`).
    pub network_name: String,
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub aliases: Vec<String>,
}

/// What weave needs to know about a container.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Container {
    /// The full 64-character id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    pub hostname: String,
    pub domainname: String,
    pub running: bool,
    /// The pid of its first process (0 when not running).
    pub pid: u32,
    pub endpoints: Vec<Endpoint>,
    /// `Config.Entrypoint` and `Config.Env` and `HostConfig.NetworkMode` (the proxy's).
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub network_mode: String,
    /// Its labels (`docker run --label`), which network policy selects on.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Container {
    fn from_inspect(c: ContainerInspectResponse) -> Container {
        let config = c.config.unwrap_or_default();
        let network_mode = c.host_config.and_then(|h| h.network_mode).unwrap_or_default();
        let state = c.state.unwrap_or_default();
        let mut endpoints: Vec<Endpoint> = c
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, e)| Endpoint {
                network_name: name,
                network_id: e.network_id.unwrap_or_default(),
                endpoint_id: e.endpoint_id.unwrap_or_default(),
                ip: e.ip_address.and_then(|a| a.parse().ok()),
                prefix_len: e.ip_prefix_len.unwrap_or(0).clamp(0, 32) as u8,
                aliases: e.aliases.unwrap_or_default(),
            })
            .collect();
        endpoints.sort_by(|a, b| a.network_name.cmp(&b.network_name));
        let running = state.running.unwrap_or(false);
        let labels = config.labels.clone().unwrap_or_default().into_iter().collect();
        Container {
            id: c.id.unwrap_or_default(),
            name: c.name.unwrap_or_default().trim_start_matches('/').to_string(),
            hostname: config.hostname.unwrap_or_default(),
            domainname: config.domainname.unwrap_or_default(),
            running,
            pid: if running { state.pid.unwrap_or(0).clamp(0, u32::MAX as i64) as u32 } else { 0 },
            endpoints,
            entrypoint: config.entrypoint.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            network_mode,
            labels,
        }
    }

    /// The 12-character id Docker shows.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// A container event weave acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerEvent {
    Start(String),
    Die(String),
    Destroy(String),
}

/// A network as Docker describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkInfo {
    pub id: String,
    pub driver: String,
    pub options: HashMap<String, String>,
}

/// A connected Docker client.
#[derive(Clone)]
pub struct DockerClient {
    inner: bollard::Docker,
    addr: String,
}

impl std::fmt::Debug for DockerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerClient").field("addr", &self.addr).finish()
    }
}

impl DockerClient {
    /// Connects to `addr` (`unix:///path`, `tcp://HOST:PORT` or `http://HOST:PORT`) and
    /// negotiates the API version; fails when Docker does not answer.
    pub async fn connect(addr: &str) -> Result<DockerClient, DockerError> {
        let unreachable = |why: String| DockerError::Unreachable { addr: addr.to_string(), why };
        let client = if let Some(path) = addr.strip_prefix("unix://") {
            bollard::Docker::connect_with_unix(path, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        } else {
            let http = addr.replacen("tcp://", "http://", 1);
            bollard::Docker::connect_with_http(&http, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        }
        .map_err(|e| unreachable(e.to_string()))?;
        let inner = client.negotiate_version().await.map_err(|e| unreachable(e.to_string()))?;
        Ok(DockerClient { inner, addr: addr.to_string() })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The server's version, e.g. `20.10.24+dfsg1`.
    pub async fn version(&self) -> Result<String, DockerError> {
        let v =
            self.inner.version().await.map_err(|e| DockerError::from_bollard(e, &self.addr, "version"))?;
        Ok(v.version.unwrap_or_default())
    }

    /// A container by full id, unique id prefix or name.
    pub async fn container(&self, id_or_name: &str) -> Result<Container, DockerError> {
        let c = self
            .inner
            .inspect_container(id_or_name, None)
            .await
            .map_err(|e| DockerError::from_bollard(e, &self.addr, id_or_name))?;
        Ok(Container::from_inspect(c))
    }

    /// Kills a container (SIGKILL); one that is gone or stopped already is no error.
    pub async fn kill(&self, id: &str) -> Result<(), DockerError> {
        match self.inner.kill_container(id, None).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404 | 409, .. }) => Ok(()),
            Err(e) => Err(DockerError::from_bollard(e, &self.addr, &format!("kill {id}"))),
        }
    }

    /// Every running container.
    pub async fn running(&self) -> Result<Vec<Container>, DockerError> {
        let list = self
            .inner
            .list_containers(Some(ListContainersOptions { all: false, ..Default::default() }))
            .await
            .map_err(|e| DockerError::from_bollard(e, &self.addr, "list containers"))?;
        let mut out = Vec::new();
        for id in list.into_iter().filter_map(|c| c.id) {
            match self.container(&id).await {
                Ok(c) if c.running => out.push(c),
                // Gone or stopped since the listing.
                Ok(_) | Err(DockerError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A network's driver and options, or `None` when Docker has no such network.
    pub async fn network(&self, id_or_name: &str) -> Result<Option<NetworkInfo>, DockerError> {
        match self.inner.inspect_network(id_or_name, None).await {
            Ok(n) => Ok(Some(NetworkInfo {
                id: n.id.unwrap_or_default(),
                driver: n.driver.unwrap_or_default(),
                options: n.options.unwrap_or_default(),
            })),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(DockerError::from_bollard(e, &self.addr, id_or_name)),
        }
    }

    /// Creates network `name` with `driver` unless it exists (Weave's `EnsureNetwork`).
    pub async fn ensure_network(
        &self,
        name: &str,
        driver: &str,
        subnet: &str,
        options: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        if self.network(name).await?.is_some() {
            return Ok(());
        }
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(driver.to_string()),
            ipam: Some(bollard::models::Ipam {
                driver: Some(driver.to_string()),
                config: Some(vec![bollard::models::IpamConfig {
                    subnet: Some(subnet.to_string()),
                    ..Default::default()
                }]),
                options: None,
            }),
            options: Some(options),
            ..Default::default()
        };
        match self.inner.create_network(req).await {
            Ok(_) => Ok(()),
            // Created meanwhile by someone else.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => Ok(()),
            Err(e) => Err(DockerError::from_bollard(e, &self.addr, &format!("create network {name}"))),
        }
    }

    /// Removes network `name`; `false` when there is none. When Docker refuses because
    /// containers are on it, the error names them, as Weave's.
    pub async fn remove_network(&self, name: &str) -> Result<bool, DockerError> {
        match self.inner.remove_network(name).await {
            Ok(()) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => {
                let e = DockerError::from_bollard(e, &self.addr, &format!("remove network {name}"));
                let Ok(n) = self.inner.inspect_network(name, None).await else { return Err(e) };
                let ids: Vec<String> = n
                    .containers
                    .unwrap_or_default()
                    .into_keys()
                    .map(|id| id.chars().take(12).collect())
                    .collect();
                if ids.is_empty() {
                    return Err(e);
                }
                Err(DockerError::Api(format!(
                    "the following containers are still attached to network {name:?}: {}; Docker operations \
                     involving those containers may pause or fail while weave is not running",
                    ids.join(" ")
                )))
            }
        }
    }

    /// Container start, die and destroy events from now on; ends when Docker goes away.
    pub fn events(&self) -> impl Stream<Item = Result<ContainerEvent, DockerError>> + Send + 'static {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["start".to_string(), "die".to_string(), "destroy".to_string()]),
        ]);
        let addr = self.addr.clone();
        self.inner.events(Some(EventsOptions { filters: Some(filters), ..Default::default() })).filter_map(
            move |e| {
                let out = match e {
                    Ok(m) => {
                        let id = m.actor.and_then(|a| a.id).unwrap_or_default();
                        match m.action.as_deref() {
                            _ if id.is_empty() => None,
                            Some("start") => Some(Ok(ContainerEvent::Start(id))),
                            Some("die") => Some(Ok(ContainerEvent::Die(id))),
                            Some("destroy") => Some(Ok(ContainerEvent::Destroy(id))),
                            _ => None,
                        }
                    }
                    Err(e) => Some(Err(DockerError::from_bollard(e, &addr, "events"))),
                };
                std::future::ready(out)
            },
        )
    }
}
