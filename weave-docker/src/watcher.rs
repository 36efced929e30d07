//! Docker's container lifecycle driving weave: on start, a container on a weave network gets its
//! addresses (taken over from the plugin's anonymous allocation), its DNS names
//! (`hostname.domainname`, the container name and its network aliases, in the weave domain) and
//! Weave's ARP settings; on die its names go and its addresses are freed after Weave's grace
//! period unless it starts again; on destroy they go at once. Connecting (at daemon start and
//! after Docker comes back) reconciles: running containers are registered again, names and
//! addresses of containers that no longer run are dropped.

use crate::client::{Container, ContainerEvent, DockerClient, DockerError};
use crate::Shared;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use weave_netdev::{sysctl, Netlink, Netns};

/// Events waiting to be handled; beyond that the stream waits (Docker buffers).
const EVENT_QUEUE: usize = 256;

/// Follows Docker until it goes away; returns why.
pub async fn run(shared: Arc<Shared>, client: DockerClient) -> DockerError {
    // Subscribed before reconciling, so nothing that happens meanwhile is missed.
    let (tx, mut rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
    let stream = client.events();
    let forward = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(e) = stream.next().await {
            let end = e.is_err();
            if tx.send(e).await.is_err() || end {
                return;
            }
        }
    });
    // The forwarder ends with this function, however it ends.
    let _forward = AbortOnDrop(forward);
    if shared.config.plugin {
        ensure_network(&shared, &client).await;
    }
    if let Err(e) = reconcile(&shared, &client).await {
        return e;
    }
    while let Some(e) = rx.recv().await {
        match e {
            Ok(ContainerEvent::Start(id)) => match client.container(&id).await {
                Ok(c) => started(&shared, &c).await,
                Err(e) => tracing::warn!(container = %id, "inspecting a started container: {e}"),
            },
            Ok(ContainerEvent::Die(id)) => died(&shared, &id).await,
            Ok(ContainerEvent::Destroy(id)) => destroyed(&shared, &id).await,
            Err(e) => return e,
        }
    }
    DockerError::Unreachable { addr: client.addr().to_string(), why: "Docker's event stream ended".into() }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The Docker network `weave` (driver weavemesh, the default subnet, multicast on), as Weave's
/// launch makes it.
async fn ensure_network(shared: &Shared, client: &DockerClient) {
    let Some(ipam) = &shared.ipam else {
        tracing::info!("IPAM is disabled: not creating the Docker network {}", super::DEFAULT_NETWORK);
        return;
    };
    let subnet = ipam.default_subnet().to_string();
    let [_, mesh] = shared.driver_names();
    let options = HashMap::from([(super::driver::MULTICAST_OPTION.to_string(), "true".to_string())]);
    match client.ensure_network(super::DEFAULT_NETWORK, &mesh, &subnet, options).await {
        Ok(()) => {
            tracing::info!(network = super::DEFAULT_NETWORK, driver = %mesh, %subnet, "Docker network ready")
        }
        Err(e) => {
            tracing::warn!(network = super::DEFAULT_NETWORK, "could not create the Docker network: {e}")
        }
    }
}

/// Registers what runs and drops what does not.
async fn reconcile(shared: &Arc<Shared>, client: &DockerClient) -> Result<(), DockerError> {
    let running = client.running().await?;
    let alive: HashSet<String> = running.iter().map(|c| c.id.clone()).collect();
    for c in &running {
        started(shared, c).await;
    }
    if let Some(dns) = &shared.dns {
        for id in dns.our_container_ids() {
            if super::is_container_id(&id) && !alive.contains(&id) {
                tracing::info!(container = %id, "container no longer runs: removing its DNS names");
                dns.forget_target(&id).await;
            }
        }
    }
    if let Some(ipam) = &shared.ipam {
        for ident in ipam.owners() {
            if super::is_container_id(&ident) && !alive.contains(&ident) {
                if let Err(e) = ipam.container_died(&ident).await {
                    tracing::warn!(container = %ident, "IPAM: {e}");
                }
            }
        }
    }
    tracing::info!(running = running.len(), "reconciled with Docker");
    Ok(())
}

/// A container runs: take over its weave addresses, name it, tune ARP, label its veths.
pub async fn started(shared: &Arc<Shared>, c: &Container) {
    if !c.running {
        return;
    }
    if let Some(ipam) = &shared.ipam {
        let _ = ipam.container_started(&c.id).await;
    }
    if let Some(cidrs) = shared.proxy().and_then(|p| p.proxied(c)) {
        // Off the event loop: weavewait holds the container until this is done.
        let (shared, id) = (shared.clone(), c.id.clone());
        tokio::spawn(async move { super::proxy::attach(&shared, &id, cidrs).await });
    }
    let mut ours = Vec::new();
    for e in &c.endpoints {
        if shared.is_ours(&e.network_id).await {
            ours.push(e.clone());
        }
    }
    if ours.is_empty() {
        return;
    }
    shared.remember(c);
    for e in &ours {
        let Some(ip) = e.ip else { continue };
        if let Some(ipam) = &shared.ipam {
            match ipam.owner_of(ip) {
                Some(owner) if owner == c.id => {}
                Some(_) => {
                    if let Err(err) = ipam.transfer(ip, &c.id).await {
                        tracing::warn!(container = %c.id, address = %ip, "taking over the address: {err}");
                    }
                }
                None => {
                    let cidr = ipnet::Ipv4Net::new(ip, e.prefix_len).unwrap_or(ip.into());
                    if let Err(err) = ipam.claim(&c.id, cidr, true, true).await {
                        tracing::warn!(container = %c.id, address = %ip, "claiming the address: {err}");
                    }
                }
            }
        }
        register_names(shared, c, e.aliases.as_slice(), ip).await;
    }
    // Network policy selects it by its labels like any attached target.
    shared.attach.announce_attached(&c.id, endpoint_addrs(&ours), &c.labels);
    let (id, pid, endpoints) =
        (c.id.clone(), c.pid, ours.iter().map(|e| e.endpoint_id.clone()).collect::<Vec<_>>());
    let r = tokio::task::spawn_blocking(move || plumb(&id, pid, &endpoints)).await;
    if let Ok(Err(e)) = r {
        tracing::warn!(container = %c.id, "configuring the container's weave interfaces: {e}");
    }
    tracing::info!(container = %c.short_id(), name = %c.name, "container on the weave network");
}

/// The names a container gets on a weave network, as Weave's watcher (aliases qualified with
/// the domain when they are single labels; Docker's automatic short-id alias skipped).
pub fn names(c: &Container, aliases: &[String], domain: &str) -> Vec<String> {
    let domain = domain.trim_end_matches('.');
    let mut out = Vec::new();
    if !c.hostname.is_empty() {
        if !c.domainname.is_empty() {
            out.push(format!("{}.{}", c.hostname, c.domainname));
        } else if c.hostname.contains('.') {
            out.push(c.hostname.clone());
        }
    }
    if !c.name.is_empty() {
        out.push(format!("{}.{domain}", c.name));
    }
    for a in aliases {
        if a != c.short_id() && !a.is_empty() {
            out.push(if a.contains('.') { a.clone() } else { format!("{a}.{domain}") });
        }
    }
    let mut seen = HashSet::new();
    out.retain(|n| seen.insert(n.trim_end_matches('.').to_ascii_lowercase()));
    out
}

async fn register_names(shared: &Shared, c: &Container, aliases: &[String], ip: Ipv4Addr) {
    let Some(dns) = &shared.dns else { return };
    let domain = dns.domain();
    for name in names(c, aliases, &domain) {
        match dns.name_in_domain(&name) {
            Ok(fqdn) => {
                dns.add(&fqdn, &c.id, ip).await;
            }
            Err(why) => tracing::debug!(container = %c.id, "not registering {name}: {why}"),
        }
    }
}

/// Weave's ARP settings on the container's weave interfaces, and the container's id on the
/// host ends of its plugin veths (so `weave ps` finds it).
fn plumb(id: &str, pid: u32, endpoints: &[String]) -> Result<(), String> {
    let mut nl = Netlink::open().map_err(|e| e.to_string())?;
    for ep in endpoints {
        let (host, _) = super::driver::veth_pair(ep);
        if let Some(l) = nl.link_by_name(&host).map_err(|e| e.to_string())? {
            nl.set_alias(&l, id).map_err(|e| e.to_string())?;
        }
    }
    let ns = Netns::pid(pid).map_err(|e| e.to_string())?;
    let mut inner = Netlink::open_in(&ns).map_err(|e| e.to_string())?;
    let names: Vec<String> = inner
        .links()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n.starts_with(super::driver::DST_PREFIX))
        .collect();
    ns.run(move || -> Result<(), String> {
        for ifname in &names {
            for (k, v) in
                [("base_reachable_time", "5"), ("delay_first_probe_time", "2"), ("ucast_solicit", "1")]
            {
                sysctl::write(&format!("net/ipv4/neigh/{ifname}/{k}"), v).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?
}

/// The weave addresses of a container's endpoints.
fn endpoint_addrs(endpoints: &[super::client::Endpoint]) -> Vec<ipnet::Ipv4Net> {
    endpoints
        .iter()
        .filter_map(|e| Some(ipnet::Ipv4Net::new(e.ip?, e.prefix_len).unwrap_or(e.ip?.into())))
        .collect()
}

/// Forgets a container we knew on the weave network, and tells policy it went.
fn forget(shared: &Shared, id: &str) {
    if let Some(c) = shared.known_container(id) {
        shared.attach.announce_detached(&c.id, endpoint_addrs(&c.endpoints));
    }
    shared.forget(id);
}

/// A container stopped: names go now, addresses after the grace period.
async fn died(shared: &Shared, id: &str) {
    forget(shared, id);
    if let Some(dns) = &shared.dns {
        dns.forget_target(id).await;
    }
    if let Some(ipam) = &shared.ipam {
        if let Err(e) = ipam.container_died(id).await {
            tracing::warn!(container = %id, "IPAM: {e}");
        }
    }
}

/// A container was removed: everything goes now.
async fn destroyed(shared: &Shared, id: &str) {
    forget(shared, id);
    if let Some(dns) = &shared.dns {
        dns.forget_target(id).await;
    }
    if let Some(ipam) = &shared.ipam {
        if let Err(e) = ipam.container_destroyed(id).await {
            tracing::warn!(container = %id, "IPAM: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_weaves_watcher() {
        let c = Container {
            id: "a".repeat(64),
            name: "web".into(),
            hostname: "h1".into(),
            domainname: "weave.local".into(),
            ..Default::default()
        };
        let aliases = vec!["aaaaaaaaaaaa".to_string(), "db".to_string(), "x.weave.local".to_string()];
        assert_eq!(
            names(&c, &aliases, "weave.local."),
            ["h1.weave.local", "web.weave.local", "db.weave.local", "x.weave.local"]
        );
        // A bare hostname (Docker's default, the short id) gets no name of its own.
        let bare = Container { domainname: String::new(), ..c.clone() };
        assert_eq!(names(&bare, &[], "weave.local."), ["web.weave.local"]);
        let fqdn = Container { hostname: "c1.weave.local".into(), domainname: String::new(), ..c };
        assert_eq!(names(&fqdn, &[], "weave.local."), ["c1.weave.local", "web.weave.local"]);
    }
}
