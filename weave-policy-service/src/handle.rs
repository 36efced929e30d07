//! The policy service as the daemon holds it: runs its blocking calls off the async runtime,
//! spreads every change on the policy gossip channel, and follows the attach service's
//! targets (an attach brings the target's namespace, labels and named ports; a detach takes
//! it away when its last address goes).

use super::gossip::{Mesh, PolicyData};
use super::service::{PolicyService, ServiceError};
use super::targets::{TargetEvent, TargetMeta, Targets};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use weave_policy::{NamedPort, Protocol, Target};

/// Kubernetes' namespace for what names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// At most this many `policy_drop` events a second (a flood is summed up in `suppressed`).
pub const DROP_EVENTS_PER_SECOND: u32 = 20;

/// How often target changes are persisted (see [`PolicyService::flush`]).
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The policy service of a running daemon, with the mesh its changes spread on.
#[derive(Clone)]
pub struct PolicyHandle {
    pub service: PolicyService,
    mesh: Arc<dyn Mesh>,
    /// This peer's name: targets attached here carry it.
    host: String,
    /// `policy_drop` events.
    events: broadcast::Sender<weave_api::Event>,
}

/// What a target's labels change asks for (`None`: keep).
#[derive(Debug, Clone, Default)]
pub struct LabelChange {
    pub namespace: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub ports: Option<Vec<NamedPort>>,
}

impl PolicyHandle {
    pub fn new(service: PolicyService, mesh: Arc<dyn Mesh>, host: String) -> PolicyHandle {
        PolicyHandle { service, mesh, host, events: broadcast::channel(256).0 }
    }

    /// `policy_drop` events from now on.
    /// Policy on this host, for the report; `None` while no policy exists.
    pub fn status(&self) -> Option<weave_api::PolicyStatus> {
        self.service.status()
    }

    pub fn events(&self) -> broadcast::Receiver<weave_api::Event> {
        self.events.subscribe()
    }

    /// Starts reading the kernel's drop log: each drop is kept for `weave policy drops` and
    /// told as a `policy_drop` event, at most [`DROP_EVENTS_PER_SECOND`] a second.
    pub fn spawn_drop_reader(&self) -> Result<(), ServiceError> {
        let events = self.events.clone();
        let limit = std::sync::Mutex::new(super::drops::RateLimit::new(DROP_EVENTS_PER_SECOND));
        self.service.spawn_drop_reader(move |r| {
            let admitted = limit.lock().unwrap_or_else(|p| p.into_inner()).admit(r.time);
            if let Some(suppressed) = admitted {
                let _ = events.send(weave_api::Event::PolicyDrop { dropped: drop_view(r), suppressed });
            }
        })
    }

    /// Runs `f` on the blocking pool (it may run `nft`), then spreads the delta it returns.
    async fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&PolicyService) -> Result<(T, Vec<u8>), ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let service = self.service.clone();
        let (out, delta) = tokio::task::spawn_blocking(move || f(&service))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        if let Some(data) = PolicyData::boxed(&delta) {
            self.mesh.gossip_broadcast(weave_policy::gossip::CHANNEL, data).await;
        }
        Ok(out)
    }

    /// Runs a blocking read or kernel call off the async runtime.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&PolicyService) -> T + Send + 'static,
    ) -> T {
        let service = self.service.clone();
        tokio::task::spawn_blocking(move || f(&service))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    pub async fn apply(&self, text: String) -> Result<Vec<weave_policy::PolicyId>, ServiceError> {
        self.change(move |s| s.apply(&text)).await
    }

    pub async fn delete(&self, id: weave_policy::PolicyId) -> Result<(), ServiceError> {
        self.change(move |s| s.delete(&id).map(|d| ((), d))).await
    }

    pub async fn set_namespace(
        &self,
        name: String,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<(), ServiceError> {
        self.change(move |s| s.set_namespace(&name, labels).map(|d| ((), d))).await
    }

    /// Changes the namespace, labels or named ports of a target attached on this host.
    pub async fn set_labels(&self, id: String, change: LabelChange) -> Result<Target, ServiceError> {
        let host = self.host.clone();
        self.change(move |s| {
            let mut t = s
                .target(&id)
                .filter(|t| t.host == host)
                .ok_or_else(|| ServiceError::NotFound(format!("target {id} attached on this host")))?;
            if let Some(ns) = change.namespace {
                t.namespace = ns;
            }
            t.labels = change.labels;
            if let Some(p) = change.ports {
                t.ports = p;
            }
            let delta = s.target_up(t.clone())?;
            Ok((t, delta))
        })
        .await
    }

    /// A target attached here (again): its addresses join those it had; a bare re-attach (no
    /// namespace, labels or ports, as after a restart's replay) keeps what it was given before.
    async fn attached(&self, id: String, addrs: Vec<Ipv4Addr>, meta: TargetMeta) -> Result<(), ServiceError> {
        let host = self.host.clone();
        self.change(move |s| {
            let prior = s.target(&id);
            let mut t = match prior {
                Some(p) if meta == TargetMeta::default() => p,
                prior => Target {
                    id: id.clone(),
                    namespace: meta.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
                    labels: meta.labels.clone(),
                    ports: named_ports(&meta),
                    addrs: prior.map(|p| p.addrs).unwrap_or_default(),
                    host: host.clone(),
                },
            };
            t.host = host;
            for a in addrs {
                if !t.addrs.contains(&a) {
                    t.addrs.push(a);
                }
            }
            Ok(((), s.target_up(t)?))
        })
        .await
    }

    /// Addresses of a target went; the target goes with its last.
    async fn detached(&self, id: String, removed: Vec<Ipv4Addr>) -> Result<(), ServiceError> {
        self.change(move |s| {
            let Some(mut t) = s.target(&id) else { return Ok(((), Vec::new())) };
            t.addrs.retain(|a| !removed.contains(a));
            let delta = if t.addrs.is_empty() { s.target_down(&id)? } else { s.target_up(t)? };
            Ok(((), delta))
        })
        .await
    }

    /// After missed target events: every target attached here now is (re)announced with its
    /// addresses (a missed attach keeps the labels it had, or gets none), and namespace and
    /// pid targets policy has here that are no longer attached go. Containers stay: Docker's
    /// watcher reports their going, and listing them needs Docker.
    async fn resync(&self, attach: &impl Targets) {
        let listed = match attach.list().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("network policy cannot relist the targets after missed changes: {e}");
                return;
            }
        };
        for (id, addrs) in &listed {
            let addrs = addrs.iter().map(|n| n.addr()).collect();
            if let Err(e) = self.attached(id.clone(), addrs, TargetMeta::default()).await {
                tracing::warn!(target = %id, "network policy of a target: {e}");
            }
        }
        let here: Vec<Target> = self.blocking(|s| s.local_targets()).await;
        for t in here {
            let gone = !listed.iter().any(|(id, _)| *id == t.id) && !attach.is_container(&t.id);
            if gone {
                if let Err(e) = self.detached(t.id.clone(), t.addrs.clone()).await {
                    tracing::warn!(target = %t.id, "network policy of a target: {e}");
                }
            }
        }
        tracing::info!(targets = listed.len(), "network policy relisted the targets after missed changes");
    }

    /// Follows the attach service's targets and persists their changes every second, until
    /// `stop`; then persists what is left. Missed changes (a burst the channel could not hold)
    /// are made up by relisting the targets.
    pub fn follow(self, attach: Arc<impl Targets>, stop: CancellationToken) {
        let mut targets = attach.subscribe();
        tokio::spawn(async move {
            let mut flush = tokio::time::interval(FLUSH_INTERVAL);
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = flush.tick() => {
                        self.blocking(|s| s.flush()).await;
                        continue;
                    }
                    e = targets.recv() => e,
                };
                let done = match event {
                    Ok(TargetEvent::Attached { id, addrs, meta }) => {
                        let addrs = addrs.iter().map(|n| n.addr()).collect();
                        self.attached(id.clone(), addrs, meta).await.map_err(|e| (id, e))
                    }
                    Ok(TargetEvent::Detached { id, removed }) => {
                        let removed = removed.iter().map(|n| n.addr()).collect();
                        self.detached(id.clone(), removed).await.map_err(|e| (id, e))
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "network policy missed target changes; relisting the targets"
                        );
                        self.resync(&*attach).await;
                        Ok(())
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if let Err((target, e)) = done {
                    tracing::warn!(%target, "network policy of a target: {e}");
                }
            }
            self.blocking(|s| s.flush()).await;
        });
    }
}

/// Checks labels a target is given before it is attached: Kubernetes' rules for keys and
/// values, so policy can select on every one. The error names the label.
pub fn check_labels(labels: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in labels {
        weave_policy::validate::label_key(k, "").map_err(|e| e.reason)?;
        weave_policy::validate::label_value(v, "").map_err(|e| e.reason)?;
    }
    Ok(())
}

/// The attach request's named ports, as policy sees them (protocols it does not know are left
/// out: the API refuses them before).
fn named_ports(meta: &TargetMeta) -> Vec<NamedPort> {
    meta.ports
        .iter()
        .filter_map(|(name, (port, proto))| {
            Some(NamedPort { name: name.clone(), port: *port, protocol: protocol(proto)? })
        })
        .collect()
}

/// `tcp`, `udp` or `sctp`, in either case.
pub fn protocol(s: &str) -> Option<Protocol> {
    Protocol::parse(&s.to_ascii_uppercase())
}

/// A drop as the API shows it.
pub fn drop_view(d: &super::drops::DropRecord) -> weave_api::PolicyDrop {
    weave_api::PolicyDrop {
        time: d.time,
        src: d.src.to_string(),
        dst: d.dst.to_string(),
        protocol: protocol_name(d.protocol),
        port: d.port,
        direction: d.direction.as_str().into(),
        isolating: d.isolating.iter().map(|i| i.to_string()).collect(),
    }
}

/// `tcp`, `udp`, `sctp`, `icmp`, or the IP protocol number.
fn protocol_name(n: u8) -> String {
    match Protocol::from_number(n) {
        Some(p) => p.as_str().to_ascii_lowercase(),
        None if n == 1 => "icmp".into(),
        None => n.to_string(),
    }
}
