//! The Docker API proxy's wiring (the proxy itself is the `weave-proxy` crate): its listeners,
//! the weavewait directory bound into its containers, and putting its containers on weave
//! through the attach service, from the start call, Docker's start events and the
//! reconciliation at connect (so containers running at launch are attached again).

use crate::client::Container;
use crate::Shared;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use weave_proxy::{BoxFuture, ListenAddr, WeaveIf};

/// The proxy's flags.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: Vec<ListenAddr>,
    pub rewrite_inspect: bool,
    pub without_dns: bool,
    pub no_default_ipalloc: bool,
    pub hostname_from_label: Option<String>,
    pub hostname_match: String,
    pub hostname_replacement: String,
    pub multicast_route: bool,
    /// Holds `weavewait/w` (and `weavewait/nomcast` without the multicast route).
    pub data_dir: PathBuf,
}

/// What the rest of the integration needs of a running proxy.
pub struct ProxyState {
    pub config: ProxyConfig,
    /// The addresses it listens on, as clients use them (`GET /proxyaddrs`).
    pub addrs: Vec<String>,
}

impl ProxyState {
    /// A container's `WEAVE_CIDR` words when it is one of the proxy's.
    pub fn proxied(&self, c: &Container) -> Option<Vec<String>> {
        if c.entrypoint.first().map(String::as_str) != Some(weave_proxy::rewrite::WEAVEWAIT) {
            return None;
        }
        weave_proxy::rewrite::weave_cidrs(&c.network_mode, &c.env, self.config.no_default_ipalloc).ok()
    }
}

/// The hooks the proxy calls.
struct Hooks {
    shared: Arc<Shared>,
}

impl weave_proxy::Hooks for Hooks {
    fn attach(&self, id: String, cidrs: Vec<String>) -> BoxFuture<Result<(), String>> {
        let shared = self.shared.clone();
        Box::pin(async move { attach(&shared, &id, cidrs).await })
    }

    fn weave_if(&self, id: String) -> BoxFuture<Option<WeaveIf>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let a = shared.attach.interface(&id).await?;
            let first = a.addrs.first()?;
            Some(WeaveIf {
                mac: weave_netdev::format_mac(&a.mac),
                ip: first.addr(),
                prefix: first.prefix_len(),
            })
        })
    }

    fn dns_server(&self) -> Option<Ipv4Addr> {
        if self.shared.proxy().is_some_and(|p| p.config.without_dns) {
            return None;
        }
        dns_server(&self.shared)
    }
}

/// Where containers on Docker's bridge reach weaveDNS: its listen address when it has one,
/// else Docker's bridge address. `None` without weaveDNS.
pub fn dns_server(shared: &Shared) -> Option<Ipv4Addr> {
    let dns = shared.dns.as_ref()?;
    match dns.listen().ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => docker_bridge_ip(),
    }
}

/// Docker's bridge address (where weaveDNS answers containers on Docker's network, as Weave's
/// proxy and `dns-args` use).
pub fn docker_bridge_ip() -> Option<Ipv4Addr> {
    let mut nl = weave_netdev::Netlink::open().ok()?;
    let link = nl.link_by_name(super::BRIDGES[0]).ok()??;
    nl.addresses(link.index).ok()?.first().map(|a| a.addr())
}

/// Puts a container of the proxy on weave (idempotent: an attached container keeps its
/// addresses). On failure the reason goes to the container's stderr (its log) and the
/// container is killed, as Weave's proxy does.
pub async fn attach(shared: &Arc<Shared>, id: &str, cidrs: Vec<String>) -> Result<(), String> {
    let multicast_route = shared.proxy().is_none_or(|p| p.config.multicast_route);
    match shared.attach.attach(id, cidrs, multicast_route).await {
        Ok(addrs) => {
            tracing::info!(container = %&id[..id.len().min(12)], addrs = ?addrs, "proxy container on weave");
            Ok(())
        }
        Err(e) => {
            let why = e.to_string();
            let client = shared.client();
            let now = match &client {
                Some(client) => client.container(id).await.ok(),
                None => None,
            };
            // A command that ran and ended before this attach (the start call's and the start
            // event's attach both come): nothing to do, nothing failed.
            if client.is_some() && now.as_ref().is_none_or(|c| !c.running) {
                tracing::debug!(container = %id, "the proxy container no longer runs: {why}");
                return Ok(());
            }
            tracing::warn!(container = %id, "attaching a proxy container failed, stopping it: {why}");
            if let Some(client) = client {
                if let Some(c) = now {
                    if c.pid != 0 {
                        let line = format!("weave: attaching the container to weave failed: {why}\n");
                        // Its first process's stderr is the container's log stream.
                        let _ = std::fs::OpenOptions::new()
                            .write(true)
                            .open(format!("/proc/{}/fd/2", c.pid))
                            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
                    }
                }
                if let Err(k) = client.kill(id).await {
                    tracing::warn!(container = %id, "stopping the container: {k}");
                }
            }
            Err(why)
        }
    }
}

/// Starts the proxy's listeners (refusing the start when one cannot be bound).
pub fn start(shared: &Arc<Shared>, cfg: ProxyConfig, stop: CancellationToken) -> anyhow::Result<()> {
    let docker = weave_proxy::DockerAddr::parse(&shared.config.addr)
        .map_err(|e| anyhow::anyhow!("--docker-api {e}"))?;
    let dir = weave_proxy::weavewait::install(&cfg.data_dir.join("weavewait"), cfg.multicast_route)
        .map_err(|e| anyhow::anyhow!("installing weavewait: {e}"))?;
    let mut rules = weave_proxy::Rules::new(
        &dir.display().to_string(),
        None,
        shared.dns.as_ref().map(|d| d.domain()).as_deref().unwrap_or("weave.local."),
    );
    rules.hostname_from_label = cfg.hostname_from_label.clone();
    rules.hostname_match = weave_proxy::rewrite::compile_pattern(&cfg.hostname_match)
        .map_err(|e| anyhow::anyhow!("--hostname-match: {e}"))?;
    rules.hostname_replacement = cfg.hostname_replacement.clone();
    rules.no_default_ipalloc = cfg.no_default_ipalloc;
    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        listeners.push(weave_proxy::listen::Listener::bind(addr)?);
    }
    let addrs = listeners.iter().map(|l| l.addr().to_string()).collect();
    shared.set_proxy(ProxyState { config: cfg.clone(), addrs });
    let proxy = Arc::new(weave_proxy::Proxy {
        docker,
        rules,
        rewrite_inspect: cfg.rewrite_inspect,
        hooks: Arc::new(Hooks { shared: shared.clone() }),
    });
    for l in listeners {
        tracing::info!(address = %l.addr(), "Docker API proxy listening");
        if let ListenAddr::Tcp(a) = l.addr() {
            if !a.ip().is_loopback() {
                tracing::warn!(address = %a, "the Docker API proxy listens beyond this host without TLS: anyone who reaches it controls Docker");
            }
        }
        tokio::spawn(weave_proxy::serve(l, proxy.clone(), stop.clone()));
    }
    Ok(())
}
