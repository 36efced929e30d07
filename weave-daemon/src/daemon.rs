//! Start-up, the shared daemon state the API reads, and shutdown.

use crate::config::Config;
use crate::identity::{self, Identity};
use crate::netdev::{LinkKind, Netlink};
use crate::store::Store;
use crate::{api, BRIDGE, PROTOCOL, PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION, VERSION};
use anyhow::Context;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use weave_api::{DnsStatus, IpamStatus, PeerStatus, Report, RouterStatus, UnicastRoute};
use weave_wire::PeerName;

/// What every part of the daemon and the API share.
pub struct Daemon {
    pub config: Config,
    pub identity: Identity,
    pub store: Store,
    ready: AtomicBool,
    shutdown: watch::Sender<bool>,
}

impl Daemon {
    pub fn new(config: Config, identity: Identity, store: Store) -> Arc<Daemon> {
        Arc::new(Daemon {
            config,
            identity,
            store,
            ready: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
        })
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Asks the daemon to stop; `run` returns once the API has answered in-flight requests.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// Weave's `WeaveStatus`, holding what exists so far.
    pub fn report(&self) -> Report {
        let c = &self.config;
        let name = self.identity.name.to_string();
        let router = RouterStatus {
            protocol: PROTOCOL.into(),
            protocol_min_version: PROTOCOL_MIN_VERSION,
            protocol_max_version: PROTOCOL_MAX_VERSION,
            encryption: c.password.is_some(),
            peer_discovery: !c.no_discovery,
            name: name.clone(),
            nick_name: self.identity.nickname.clone(),
            port: c.port,
            peers: vec![PeerStatus {
                name: name.clone(),
                nick_name: self.identity.nickname.clone(),
                uid: self.identity.uid,
                short_id: 0,
                version: 1,
                connections: vec![],
            }],
            unicast_routes: vec![UnicastRoute { dest: name, via: PeerName::UNKNOWN.to_string() }],
            targets: c.peers.clone(),
            trusted_subnets: c.trusted_subnets.iter().map(|n| n.to_string()).collect(),
            interface: format!("{BRIDGE} (bridge)"),
            ..Default::default()
        };
        let ipam = c.ipalloc_range.0.map(|range| IpamStatus {
            range: range.to_string(),
            range_num_ips: 1u64 << (32 - range.prefix_len()),
            default_subnet: c.default_subnet().map(|n| n.to_string()).unwrap_or_default(),
            ..Default::default()
        });
        let dns = (!c.no_dns).then(|| DnsStatus {
            domain: c.dns_domain.clone(),
            upstream: self.upstream_servers(),
            address: c.dns_listen_address.to_string(),
            ttl: c.dns_ttl,
            entries: vec![],
        });
        Report { ready: self.is_ready(), version: VERSION.into(), router, ipam, dns, ..Default::default() }
    }

    fn upstream_servers(&self) -> Vec<String> {
        if self.config.resolv_conf.is_empty() {
            return vec![];
        }
        let own = Some(self.config.dns_listen_address.ip()).filter(|ip| !ip.is_unspecified());
        crate::dns::resolv::nameservers(Path::new(&self.config.resolv_conf), own)
            .iter()
            .map(|ip| ip.to_string())
            .collect()
    }
}

/// Runs the daemon until it is asked to stop.
pub fn run(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("weave-rt")
        .build()
        .context("start the async runtime")?;
    rt.block_on(run_async(config))
}

async fn run_async(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.db_path())?;
    let mut nl = Netlink::open()?;
    let name = match config.name {
        Some(n) => n,
        None => match nl.link_by_name(BRIDGE)?.and_then(|l| l.mac) {
            Some(mac) => PeerName::from_bytes(mac),
            None => identity::system_peer_name(Path::new("/")),
        },
    };
    let nickname = config.nickname.clone().unwrap_or_else(identity::hostname);
    let identity = Identity::new(name, nickname);
    tracing::info!(peer = %identity.name, nickname = %identity.nickname, uid = identity.uid, "weave-daemon {VERSION} starting");

    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("listen on --http-addr {}", config.http_addr))?;
    let daemon = Daemon::new(config, identity, store);
    let server = tokio::spawn(api::serve(listener, daemon.clone()));

    ensure_bridge(&mut nl, daemon.identity.name)?;
    daemon.set_ready();
    tracing::info!(peer = %daemon.identity.name, http = %daemon.config.http_addr, "ready");

    let stop = daemon.shutdown_signal();
    tokio::select! {
        _ = stop => tracing::info!("shutdown requested over the API"),
        _ = terminate_signal() => tracing::info!("terminating on signal"),
    }
    daemon.request_shutdown();
    match server.await {
        Ok(r) => r.context("REST API server")?,
        Err(e) => anyhow::bail!("REST API server task: {e}"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn terminate_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Creates the bridge `weave` with the peer name as its MAC, or adopts the one that exists.
fn ensure_bridge(nl: &mut Netlink, name: PeerName) -> anyhow::Result<()> {
    let mac = name.bytes();
    let link = match nl.link_by_name(BRIDGE)? {
        Some(l) if l.kind != LinkKind::Bridge => anyhow::bail!(
            "a link called {BRIDGE} exists but is a {:?}, not a bridge: remove it (ip link del {BRIDGE}) and start again",
            l.kind
        ),
        Some(l) => {
            if l.mac != Some(mac) {
                tracing::info!(bridge = BRIDGE, "setting the bridge MAC to the peer name {name}");
                nl.set_mac(&l, mac)?;
            }
            l
        }
        None => {
            nl.create_bridge(BRIDGE, mac, None)?;
            nl.link_by_name(BRIDGE)?.context("the bridge vanished right after it was created")?
        }
    };
    if !link.up {
        nl.set_up(&link, true)?;
    }
    Ok(())
}
