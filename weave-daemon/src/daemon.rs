//! Start-up, the shared daemon state the API reads, and shutdown.

use crate::attach::journal::StoreJournal;
use crate::attach::kernel::NetKernel;
use crate::attach::ports::{DnsNames, IpamBook};
use crate::attach::AttachService;
use crate::config::Config;
use crate::identity::{self, Identity};
use crate::ipam::Ipam;
use crate::mesh::router::{self, MeshHandle, RouterConfig};
use crate::mesh::Channel;
use crate::mesh::MeshConfig;
use crate::overlay::sleeve::Sleeve;
use crate::overlay::tap::{TapPort, TAP_NAME};
use crate::store::Store;
use crate::{api, BRIDGE, PROTOCOL, PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION, VERSION};
use anyhow::Context;
use rand::RngExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use weave_api::{DnsStatus, IpamStatus, Report, RouterStatus};
use weave_netdev::{LinkKind, Netlink};
use weave_wire::PeerName;

/// Weave's periodic gossip interval.
const GOSSIP_INTERVAL: Duration = Duration::from_secs(30);

/// What every part of the daemon and the API share.
pub struct Daemon {
    pub config: Config,
    pub identity: Identity,
    pub store: Store,
    pub mesh: MeshHandle,
    /// The sleeve datapath (absent in tests that run the mesh alone).
    pub sleeve: Option<Arc<Sleeve>>,
    /// IPAM (absent when `--ipalloc-range` is empty).
    pub ipam: Option<Arc<Ipam>>,
    /// weaveDNS (absent with `--no-dns` and in tests that run the API alone).
    dns: Option<Arc<crate::dns::Dns>>,
    /// Attach, detach, expose and hide.
    pub attach: Arc<AttachService>,
    /// The Docker integration (absent in tests that run the API alone).
    docker: std::sync::OnceLock<Arc<crate::docker::Shared>>,
    /// CNI attachments, over the attach service.
    pub cni: Arc<crate::cni::CniService>,
    /// Export, import and bind, beside the attach service.
    pub services: Arc<crate::services::Services>,
    /// Network policy, cluster-wide.
    pub policy: crate::policy::handle::PolicyHandle,
    ready: AtomicBool,
    /// `weave reset` was asked for: clean up the host when stopping.
    reset: AtomicBool,
    shutdown: CancellationToken,
}

/// The subsystems a daemon is made of.
pub struct Parts {
    pub config: Config,
    pub identity: Identity,
    pub store: Store,
    pub mesh: MeshHandle,
    pub sleeve: Option<Arc<Sleeve>>,
    pub ipam: Option<Arc<Ipam>>,
    pub dns: Option<Arc<crate::dns::Dns>>,
    /// Its gossiper is on the mesh already.
    pub policy: crate::policy::service::PolicyService,
    pub shutdown: CancellationToken,
}

impl Daemon {
    /// The daemon over its subsystems, with the attach service wired to them.
    pub fn new(p: Parts) -> Arc<Daemon> {
        let kernel = NetKernel {
            bridge: BRIDGE.into(),
            mtu: overlay_mtu(&p.config),
            data_dir: p.config.data_dir.clone(),
        };
        let attach = AttachService::new(
            IpamBook(p.ipam.clone()),
            DnsNames(p.dns.clone()),
            kernel,
            StoreJournal(p.store.clone()),
        );
        let cni = crate::cni::service(
            attach.clone(),
            p.store.clone(),
            p.ipam.clone(),
            p.dns.clone(),
            p.config.dns_listen_address,
            BRIDGE,
            overlay_mtu(&p.config),
        );
        let services =
            crate::services::new(attach.clone(), p.ipam.clone(), p.dns.clone(), p.store.clone(), BRIDGE);
        let policy = crate::policy::handle::PolicyHandle::new(
            p.policy,
            Arc::new(p.mesh.clone()),
            p.identity.name.to_string(),
        );
        Arc::new(Daemon {
            cni,
            services,
            policy,
            config: p.config,
            identity: p.identity,
            store: p.store,
            mesh: p.mesh,
            sleeve: p.sleeve,
            ipam: p.ipam,
            dns: p.dns,
            attach,
            docker: std::sync::OnceLock::new(),
            ready: AtomicBool::new(false),
            reset: AtomicBool::new(false),
            shutdown: p.shutdown,
        })
    }

    pub fn dns(&self) -> Option<&Arc<crate::dns::Dns>> {
        self.dns.as_ref()
    }

    pub fn docker(&self) -> Option<&Arc<crate::docker::Shared>> {
        self.docker.get()
    }

    pub fn set_docker(&self, docker: Arc<crate::docker::Shared>) {
        let _ = self.docker.set(docker);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Asks the daemon to stop; `run` returns once the API has answered in-flight requests.
    pub fn request_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Asks the daemon to stop and leave no trace on the host (`weave reset`).
    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::Release);
        self.shutdown.cancel();
    }

    pub fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }

    pub fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let token = self.shutdown.clone();
        async move { token.cancelled().await }
    }

    /// Weave's `WeaveStatus`, holding what exists so far.
    pub fn report(&self) -> Report {
        let c = &self.config;
        let m = self.mesh.snapshot();
        let router = RouterStatus {
            protocol: PROTOCOL.into(),
            protocol_min_version: PROTOCOL_MIN_VERSION,
            protocol_max_version: PROTOCOL_MAX_VERSION,
            encryption: c.password.is_some(),
            peer_discovery: !c.no_discovery,
            name: m.name.to_string(),
            nick_name: m.nickname.clone(),
            port: c.port,
            peers: m.peers().to_vec(),
            unicast_routes: m.unicast_routes().to_vec(),
            broadcast_routes: m.broadcast_routes().to_vec(),
            connections: m.connections().to_vec(),
            termination_count: m.termination_count,
            targets: m.targets.clone(),
            trusted_subnets: c.trusted_subnets.iter().map(|n| n.to_string()).collect(),
            interface: format!("{TAP_NAME} (via tap)"),
            ..Default::default()
        };
        let ipam = match &self.ipam {
            Some(ipam) => Some(ipam.status()),
            // Without a running allocator (in-process API tests), what the flags say.
            None => c.ipalloc_range.0.map(|range| IpamStatus {
                range: range.to_string(),
                range_num_ips: 1u64 << (32 - range.prefix_len()),
                default_subnet: c.default_subnet().map(|n| n.to_string()).unwrap_or_default(),
                ..Default::default()
            }),
        };
        let dns = (!c.no_dns).then(|| DnsStatus {
            domain: c.dns_domain.clone(),
            upstream: self.upstream_servers(),
            address: c.dns_listen_address.to_string(),
            ttl: c.dns_ttl,
            entries: self.dns().map(|d| d.status_entries()).unwrap_or_default(),
        });
        let proxy = self
            .docker()
            .and_then(|d| d.proxy())
            .map(|p| weave_api::ProxyStatus { addresses: p.addrs.clone() });
        let (plugin, docker) = match self.docker() {
            Some(d) => (
                crate::docker::plugin_status(d, c.default_subnet().map(|n| n.to_string())),
                Some(crate::docker::status(d)),
            ),
            None => (None, None),
        };
        Report {
            ready: self.is_ready(),
            version: VERSION.into(),
            router,
            ipam,
            dns,
            services: self.services.list(),
            proxy,
            plugin,
            docker,
            policy: self.policy.status(),
            ..Default::default()
        }
    }

    fn upstream_servers(&self) -> Vec<String> {
        if let Some(dns) = self.dns() {
            return dns.upstream().iter().map(|s| s.ip().to_string()).collect();
        }
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
    if config.reset {
        let (removed, failures) = reset_host(&config.data_dir);
        for r in &removed {
            println!("removed {r}");
        }
        if failures.is_empty() {
            return Ok(());
        }
        anyhow::bail!("could not remove everything:\n  {}", failures.join("\n  "));
    }
    // One arena per runtime worker: a forming mesh's burst of blocking work otherwise leaves
    // up to 16 arenas, each holding free memory (3 MiB of a daemon's 23 in a 50-peer mesh).
    weave_netdev::memory::limit_arenas(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("weave-rt")
        .build()
        .context("start the async runtime")?;
    rt.block_on(run_async(config))
}

/// Present while the daemon runs after a successful start, as Weave's `restart.sentinel`: a
/// daemon restarted without `weave stop` (a crash, systemd) resumes its persisted targets.
fn sentinel_path(config: &Config) -> PathBuf {
    config.data_dir.join("restart.sentinel")
}

async fn run_async(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.db_path())?;
    // Read before anything on the host changes: unreadable data refuses the start.
    let persisted_ipam = match config.ipalloc_range.0 {
        Some(_) => crate::ipam::load(&store)?,
        None => None,
    };
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
    if !config.http_addr.ip().is_loopback() {
        tracing::warn!(
            http = %config.http_addr,
            "the REST API listens beyond loopback and has no authentication: anyone who can reach \
             {} controls this peer (attach, connect, reset); keep --http-addr on 127.0.0.1 unless \
             a firewall or a network namespace confines it",
            config.http_addr
        );
    }
    ensure_bridge(&mut nl, identity.name)?;

    crate::firewall::install(BRIDGE).map_err(|e| anyhow::anyhow!("install forwarding rules: {e}"))?;
    tokio::spawn(release_free_memory());
    let ruleset_changes = crate::firewall::ruleset_changes();
    tokio::spawn(crate::firewall::keep(BRIDGE, config.data_dir.clone(), ruleset_changes.clone()));
    if let Err(e) = crate::attach::nat::sync(&mut nl, BRIDGE, &config.data_dir) {
        tracing::warn!("NAT rules of exposed addresses: {e}");
    }
    let mtu = overlay_mtu(&config);
    let sleeve = start_sleeve(&mut nl, &config, identity.name, mtu)?;
    let peers = initial_peers(&config, &store)?;
    let launched_with = peers.clone();
    let shutdown = CancellationToken::new();
    let ipam = match crate::ipam::config_from_flags(
        &config,
        identity.name,
        identity.uid,
        &identity.nickname,
        peers.len(),
    ) {
        Some(mut cfg) => {
            let kernel = NetKernel { bridge: BRIDGE.into(), mtu, data_dir: config.data_dir.clone() };
            cfg.pre_claims = crate::ipam::find_pre_claims(&kernel);
            Some(Ipam::new(cfg, store.clone(), persisted_ipam, shutdown.clone())?)
        }
        None => None,
    };
    let mut channels: Vec<Channel> = ipam.iter().map(|i| i.gossiper()).collect();
    let dns = match config.no_dns {
        true => None,
        false => {
            let dns = crate::dns::Dns::new(crate::dns::config_from_flags(&config), identity.name);
            let sockets = dns.bind().with_context(|| {
                format!(
                    "Unable to start dns server: listen on --dns-listen-address {}",
                    config.dns_listen_address
                )
            })?;
            channels
                .push(Channel::new(weave_dns::CHANNEL, crate::dns::gossip::DnsGossiper::new(dns.clone())));
            Some((dns, sockets))
        }
    };
    let policy = crate::policy::service::PolicyService::new(&identity.name.to_string(), Some(store.clone()));
    policy.set_overlay_port(config.port);
    let kick =
        crate::policy::gossip::spawn_kernel_worker(policy.clone()).context("start the policy worker")?;
    channels.push(Channel::new(
        weave_policy::gossip::CHANNEL,
        crate::policy::gossip::PolicyGossiper::new(policy.clone(), kick),
    ));
    let mesh = start_mesh_with_channels(
        &config,
        &identity,
        &store,
        peers,
        shutdown.clone(),
        Some(sleeve.clone()),
        channels,
    )
    .await?;
    if let Some(ipam) = &ipam {
        ipam.start(mesh.clone());
    }
    if config.restrict_udp_to_peers {
        let peers = crate::peer_filter::install(&mesh, config.port).map_err(anyhow::Error::msg)?;
        tokio::spawn(crate::peer_filter::follow(
            mesh.clone(),
            config.port,
            peers,
            ruleset_changes,
            shutdown.clone(),
        ));
    }
    let (dns, sockets) = dns.unzip();
    let daemon = Daemon::new(Parts {
        config,
        identity,
        store,
        mesh,
        sleeve: Some(sleeve),
        ipam,
        dns,
        policy,
        shutdown,
    });
    if let (Some(dns), Some(sockets)) = (daemon.dns(), sockets) {
        dns.start(daemon.mesh.clone(), sockets, daemon.shutdown.clone(), crate::attach::target::id_exists);
    }
    start_policy(&daemon).await;
    // Operations a kill -9 cut short are finished or undone before anything new is served.
    let replayed = daemon.attach.replay().await?;
    if replayed != Default::default() {
        tracing::info!(?replayed, "interrupted attach operations replayed");
    }
    let docker = crate::docker::start(
        crate::docker::config(&daemon.config),
        daemon.ipam.clone(),
        daemon.dns().cloned(),
        daemon.attach.clone(),
        daemon.shutdown.clone(),
    )?;
    daemon.set_docker(docker);
    // Services after the targets they follow; before anything new is served.
    daemon.services.start().await.context("restore services")?;
    if let Some(file) = daemon.config.peers_file.clone() {
        let (mesh, stop) = (daemon.mesh.clone(), daemon.shutdown.clone());
        tokio::spawn(crate::peers_file::watch(file, launched_with, mesh, stop));
    }
    let server = tokio::spawn(api::serve(listener, daemon.clone()));
    daemon.set_ready();
    std::fs::write(sentinel_path(&daemon.config), b"")
        .with_context(|| format!("create {}", sentinel_path(&daemon.config).display()))?;
    tracing::info!(peer = %daemon.identity.name, http = %daemon.config.http_addr, "ready");

    let stop = daemon.shutdown_signal();
    let stopped_by_api = tokio::select! {
        _ = stop => true,
        _ = terminate_signal() => false,
    };
    // IPAM stops the daemon when it cannot persist (Weave exits then, too).
    let fatal = daemon.ipam.as_ref().and_then(|i| i.failure());
    if let Some(why) = &fatal {
        tracing::error!("stopping: IPAM state cannot be persisted: {why}");
    } else if stopped_by_api {
        // `weave stop`: the next start is a fresh launch, as after Weave's container removal.
        tracing::info!("shutdown requested over the API");
        let _ = std::fs::remove_file(sentinel_path(&daemon.config));
    } else {
        tracing::info!("terminating on signal");
    }
    daemon.request_shutdown();
    match server.await {
        Ok(r) => r.context("REST API server")?,
        Err(e) => anyhow::bail!("REST API server task: {e}"),
    }
    if daemon.reset_requested() {
        // Again, in case something re-created a device or rule since the reset request.
        let _ = reset_host(&daemon.config.data_dir);
    }
    if let Some(why) = fatal {
        anyhow::bail!("IPAM state cannot be persisted under {}: {why}", daemon.config.data_dir.display());
    }
    tracing::info!("stopped");
    Ok(())
}

/// Brings the kernel to the persisted policies, starts reading drops, and follows targets from
/// now on (before the replay, so replayed attaches reach policy). Failures are logged: the
/// daemon runs on without enforcement rather than not at all.
async fn start_policy(daemon: &Arc<Daemon>) {
    let policy = daemon.policy.clone();
    policy.clone().follow(daemon.attach.clone(), daemon.shutdown.clone());
    if let Err(e) = policy.blocking(|s| s.sync_kernel()).await {
        tracing::error!("network policy is not enforced: {e}");
    }
    if let Err(e) = policy.spawn_drop_reader() {
        tracing::warn!("policy drops will not be shown: {e}");
    }
}

/// The peers to connect to: the persisted ones on `--resume` or after an unclean stop, else
/// the command line's (as Weave).
fn initial_peers(config: &Config, store: &Store) -> anyhow::Result<Vec<String>> {
    if let Some(file) = &config.peers_file {
        let peers = crate::peers_file::read(file).map_err(|e| anyhow::anyhow!(e))?;
        tracing::info!(?peers, file = %file.display(), "using the peers of the peers file");
        return Ok(peers);
    }
    if config.resume || sentinel_path(config).exists() {
        let stored = store.targets()?.unwrap_or_default();
        tracing::info!(?stored, "restart/resume detected - using persisted peer list");
        return Ok(stored);
    }
    tracing::info!(peers = ?config.peers, "launch detected - using supplied peer list");
    Ok(config.peers.clone())
}

/// The largest MTU a TAP device takes.
const TAP_MAX_MTU: u32 = 65521;

/// The overlay MTU: `--mtu`, else Weave's defaults (1376 where fastdp may be used; for sleeve
/// only, Weave's 65535 lowered to what our TAP port takes).
pub fn overlay_mtu(config: &Config) -> u32 {
    config.mtu.unwrap_or(if config.no_fastdp { TAP_MAX_MTU } else { 1376 })
}

/// Plugs the sleeve's TAP port into the bridge and starts the sleeve datapath.
fn start_sleeve(nl: &mut Netlink, config: &Config, name: PeerName, mtu: u32) -> anyhow::Result<Arc<Sleeve>> {
    let port = TapPort::create()?;
    let bridge = nl.link_by_name(BRIDGE)?.context("the bridge is missing")?;
    let tap = nl.link_by_name(TAP_NAME)?.context("the TAP port vanished right after it was created")?;
    if mtu > TAP_MAX_MTU {
        tracing::warn!("--mtu {mtu}: the sleeve port takes at most {TAP_MAX_MTU}; larger frames are dropped");
    }
    nl.set_mtu(&tap, mtu.min(TAP_MAX_MTU))?;
    nl.set_mtu(&bridge, mtu)?;
    nl.set_master(&tap, Some(bridge.index))?;
    nl.set_up(&tap, true)?;
    let host = match config.host {
        Some(std::net::IpAddr::V4(ip)) => ip,
        _ => std::net::Ipv4Addr::UNSPECIFIED,
    };
    let bind = std::net::SocketAddrV4::new(host, config.port);
    let sleeve = Sleeve::start(name, bind, Box::new(port))
        .with_context(|| format!("listen for sleeve traffic on UDP {bind} (--port)"))?;
    Ok(Arc::new(sleeve))
}

pub async fn start_mesh(
    config: &Config,
    identity: &Identity,
    store: &Store,
    peers: Vec<String>,
    shutdown: CancellationToken,
    sleeve: Option<Arc<Sleeve>>,
) -> anyhow::Result<MeshHandle> {
    start_mesh_with_channels(config, identity, store, peers, shutdown, sleeve, vec![]).await
}

/// Starts the mesh with the subsystems' gossip channels.
pub async fn start_mesh_with_channels(
    config: &Config,
    identity: &Identity,
    store: &Store,
    peers: Vec<String>,
    shutdown: CancellationToken,
    sleeve: Option<Arc<Sleeve>>,
    channels: Vec<Channel>,
) -> anyhow::Result<MeshHandle> {
    let mesh_cfg = MeshConfig {
        name: identity.name,
        nickname: identity.nickname.clone(),
        uid: identity.uid,
        // Keeping the short id of the fastdp devices we find keeps their VNIs, so they are
        // adopted as they are.
        short_id: crate::overlay::fastdp::previous_short_id()
            .unwrap_or_else(|| rand::rng().random_range(0..1 << crate::mesh::SHORT_ID_BITS)),
        port: config.port,
        conn_limit: config.conn_limit,
        discovery: !config.no_discovery,
        gossip_interval: GOSSIP_INTERVAL,
        external_overlay: sleeve.is_some(),
    };
    let router_cfg = RouterConfig {
        mesh: mesh_cfg,
        host: config.host,
        password: config.password.clone(),
        trusted_subnets: config.trusted_subnets.clone(),
        sleeve_offer: config.sleeve_cipher.offer(),
        fastdp: match &sleeve {
            Some(s) => crate::overlay::fastdp::start::start(config, identity.name, overlay_mtu(config), s)?,
            None => None,
        },
        sleeve,
    };
    let persist_store = store.clone();
    let persist = move |targets: Vec<String>| {
        if let Err(e) = persist_store.set_targets(&targets) {
            tracing::error!("persisting connection targets: {e}");
        }
    };
    router::start(router_cfg, channels, peers, persist, shutdown)
        .await
        .with_context(|| format!("listen for peers on TCP port {} (--port)", config.port))
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

/// Removes what weave leaves on a host: the bridge, the TAP port and every `vethwe*` link, the
/// firewall rules, and the persisted data (`weave.db`, `restart.sentinel`, the DNS names) under
/// `data_dir`.
/// Carries on past failures; returns what was removed and what could not be.
pub fn reset_host(data_dir: &Path) -> (Vec<String>, Vec<String>) {
    let (mut removed, mut failures) = (Vec::new(), Vec::new());
    match Netlink::open() {
        Ok(mut nl) => match nl.links() {
            Ok(links) => {
                for l in links.iter().filter(|l| l.name == BRIDGE || l.name.starts_with("vethwe")) {
                    match nl.delete_link(l) {
                        Ok(()) => removed.push(format!("link {}", l.name)),
                        // Gone already (a veth goes with its peer).
                        Err(e) if e.errno() == Some(libc::ENODEV) => {}
                        Err(e) => failures.push(e.to_string()),
                    }
                }
            }
            Err(e) => failures.push(e.to_string()),
        },
        Err(e) => failures.push(e.to_string()),
    }
    match crate::firewall::remove() {
        Ok(()) => removed.push("firewall rules".into()),
        Err(e) => failures.push(format!("firewall rules: {e}")),
    }
    if let Err(e) = crate::attach::nat::remove_nat() {
        failures.push(format!("NAT rules of exposed addresses: {e}"));
    }
    if crate::services::kernel::host_table_present() {
        match crate::services::kernel::remove_host() {
            Ok(()) => removed.push("services' NAT rules".into()),
            Err(e) => failures.push(format!("services' NAT rules: {e}")),
        }
    }
    crate::peer_filter::remove();
    match crate::policy::enforce::Enforcer::remove() {
        Ok(()) => {}
        Err(e) => failures.push(format!("network policy rules: {e}")),
    }
    for file in [
        "weave.db",
        "restart.sentinel",
        crate::dns::persist::FILE,
        crate::dns::persist::DAMAGED,
        crate::dns::persist::LOG,
        crate::dns::persist::LOG_DAMAGED,
        crate::attach::nat::FILE,
    ] {
        let p = data_dir.join(file);
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failures.push(format!("remove {}: {e}", p.display())),
        }
    }
    (removed, failures)
}

/// Hands what the allocator freed back to the kernel now and then: a mesh forming (or a burst
/// of attaches) frees far more than the daemon keeps, and glibc would hold on to it.
async fn release_free_memory() {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(30);
    loop {
        tokio::time::sleep(EVERY).await;
        let _ = tokio::task::spawn_blocking(weave_netdev::memory::release_free).await;
    }
}
