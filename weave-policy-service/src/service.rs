//! The policy service: owns this host's policy model, the replicated state it is built from,
//! the enforcer and the drop log, behind one lock. Everything that changes policy goes through
//! here: `apply`/`delete` from the API, targets from attach, namespace labels, gossip from
//! peers. Each change updates the replicated state, persists it, updates the model and brings
//! the kernel along, and returns the delta to broadcast on the policy gossip channel.
//!
//! Calls that reach the kernel block (an `nft` run): call them off the async runtime.

use super::drops::{self, DropLog, DropRecord};
use super::enforce::Enforcer;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use weave_policy::gossip::{GossipError, State, Writer};
use weave_policy::{Model, Policy, PolicyError, PolicyId, Target, Verdict};
use weave_store::Store;

/// The store key of the replicated state.
const STORE_KEY: &str = "policy-state";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] PolicyError),
    #[error("no policy {0}")]
    NotFound(String),
    #[error("{0}")]
    Gossip(#[from] GossipError),
    #[error("{0}")]
    Label(String),
    /// The kernel refused the rules; the previous rules stay in force.
    #[error("updating the kernel's policy rules: {0} (the previous rules stay in force)")]
    Kernel(#[from] weave_netdev::NetdevError),
}

struct Inner {
    model: Model,
    state: State,
    writer: Writer,
    enforcer: Enforcer,
    drops: DropLog,
    store: Option<Store>,
    /// Target and namespace changes not yet persisted (see [`PolicyService::flush`]).
    dirty: bool,
    /// Kernel work gossip left for [`PolicyService::sync_pending`].
    pending: Vec<weave_policy::ElemChange>,
    pending_full: bool,
    /// The kernel's counters by policy, as last read ([`PolicyService::refresh_counters`]).
    counters: Vec<weave_api::PolicyCounter>,
    /// Drops recorded since start.
    drops_logged: u64,
}

/// A cheap handle on the service.
#[derive(Clone)]
pub struct PolicyService(Arc<Mutex<Inner>>);

/// One policy in a listing.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PolicySummary {
    pub id: PolicyId,
    pub selector: String,
    pub ingress_rules: Option<usize>,
    pub egress_rules: Option<usize>,
    /// Targets it selects, cluster-wide.
    pub selected: usize,
    pub source: serde_json::Value,
}

impl PolicyService {
    /// A service for peer `peer`, with the state persisted in `store` (read back now).
    pub fn new(peer: &str, store: Option<Store>) -> PolicyService {
        let mut state = State::default();
        if let Some(s) = &store {
            match s.meta(STORE_KEY) {
                Ok(Some(bytes)) => match State::decode(&bytes) {
                    Ok(st) => state = st,
                    Err(e) => {
                        tracing::error!("ignoring the stored policy state in {}: {e}", s.path().display())
                    }
                },
                Ok(None) => {}
                Err(e) => tracing::error!("reading the stored policy state: {e}"),
            }
        }
        let mut inner = Inner {
            model: Model::new(peer),
            state,
            writer: Writer { peer: peer.to_string() },
            enforcer: Enforcer::new(),
            drops: DropLog::default(),
            store,
            dirty: false,
            pending: Vec::new(),
            pending_full: false,
            counters: Vec::new(),
            drops_logged: 0,
        };
        inner.rebuild_model();
        PolicyService(Arc::new(Mutex::new(inner)))
    }

    /// For a router on UDP `port` (`--port`, sleeve) and the one above it (fastdp): their
    /// packets stay out of connection tracking. Call before the kernel worker starts.
    pub fn set_overlay_port(&self, port: u16) {
        self.lock().enforcer = Enforcer::with_overlay_port(port);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the kernel to the model (at start, and when our table went missing).
    pub fn sync_kernel(&self) -> Result<(), ServiceError> {
        let mut g = self.lock();
        let view = g.model.kernel_view();
        g.enforcer.invalidate();
        g.enforcer.sync(&view)?;
        Ok(())
    }

    /// Adds or replaces the policies in `text` (all or none). Returns their ids and the delta
    /// to broadcast.
    pub fn apply(&self, text: &str) -> Result<(Vec<PolicyId>, Vec<u8>), ServiceError> {
        let policies = weave_policy::parse(text)?;
        let mut g = self.lock();
        let before = g.state.clone();
        let writer = g.writer.clone();
        let delta = writer.put_policies(&mut g.state, &policies);
        if let Err(e) = g.commit_policies() {
            g.state = before;
            g.rebuild_model();
            return Err(e);
        }
        Ok((policies.into_iter().map(|p| p.id).collect(), delta.encode()))
    }

    /// Deletes a policy; returns the delta to broadcast.
    pub fn delete(&self, id: &PolicyId) -> Result<Vec<u8>, ServiceError> {
        let mut g = self.lock();
        let before = g.state.clone();
        let writer = g.writer.clone();
        let delta =
            writer.delete_policy(&mut g.state, id).ok_or_else(|| ServiceError::NotFound(id.to_string()))?;
        if let Err(e) = g.commit_policies() {
            g.state = before;
            g.rebuild_model();
            return Err(e);
        }
        Ok(delta.encode())
    }

    pub fn list(&self) -> Vec<PolicySummary> {
        let g = self.lock();
        g.model
            .policies()
            .map(|p| PolicySummary {
                id: p.id.clone(),
                selector: p.selector.to_string(),
                ingress_rules: p.ingress.as_ref().map(Vec::len),
                egress_rules: p.egress.as_ref().map(Vec::len),
                selected: g
                    .model
                    .targets()
                    .filter(|t| t.namespace == p.id.namespace && p.selector.matches(&t.labels))
                    .count(),
                source: p.source.clone(),
            })
            .collect()
    }

    pub fn why(
        &self,
        src: std::net::Ipv4Addr,
        dst: std::net::Ipv4Addr,
        proto: u8,
        port: Option<u16>,
    ) -> Verdict {
        self.lock().model.why(src, dst, proto, port)
    }

    /// A target's address, by target id or address.
    pub fn resolve(&self, what: &str) -> Option<std::net::Ipv4Addr> {
        if let Ok(a) = what.parse() {
            return Some(a);
        }
        self.lock().model.target(what).and_then(|t| t.addrs.first().copied())
    }

    /// The targets of this host, as the model has them.
    pub fn local_targets(&self) -> Vec<Target> {
        let g = self.lock();
        let here = g.model.local_host().to_string();
        g.model.targets().filter(|t| t.host == here).cloned().collect()
    }

    /// A target, as the model has it (any host's).
    pub fn target(&self, id: &str) -> Option<Target> {
        self.lock().model.target(id).cloned()
    }

    pub fn drops(&self) -> Vec<DropRecord> {
        self.lock().drops.recent().cloned().collect()
    }

    /// A target of this host attached or changed (labels, namespace, ports, addresses).
    /// Returns the delta to broadcast.
    pub fn target_up(&self, t: Target) -> Result<Vec<u8>, ServiceError> {
        validate_target(&t)?;
        let mut g = self.lock();
        let writer = g.writer.clone();
        let id = t.id.clone();
        let delta = writer.put_target(&mut g.state, &id, Some(t.clone()));
        let changes = g.model.upsert_target(t);
        g.dirty = true;
        g.enforcer.apply(&changes)?;
        Ok(delta.encode())
    }

    /// A target of this host went. Returns the delta to broadcast.
    pub fn target_down(&self, id: &str) -> Result<Vec<u8>, ServiceError> {
        let mut g = self.lock();
        let writer = g.writer.clone();
        let delta = writer.put_target(&mut g.state, id, None);
        let changes = g.model.remove_target(id);
        g.dirty = true;
        g.enforcer.apply(&changes)?;
        Ok(delta.encode())
    }

    /// Sets a namespace's labels (cluster-wide). Returns the delta to broadcast.
    pub fn set_namespace(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<u8>, ServiceError> {
        weave_policy::validate::dns_label(name)
            .map_err(|why| ServiceError::Label(format!("namespace {name:?} {why}")))?;
        for (k, v) in &labels {
            weave_policy::validate::label_key(k, "").map_err(|e| ServiceError::Label(e.reason))?;
            weave_policy::validate::label_value(v, "").map_err(|e| ServiceError::Label(e.reason))?;
        }
        let mut g = self.lock();
        let writer = g.writer.clone();
        let delta = writer.put_namespace(&mut g.state, name, labels.clone());
        let changes = g.model.set_namespace(name, labels);
        g.dirty = true;
        g.enforcer.apply(&changes)?;
        Ok(delta.encode())
    }

    /// Gossip from a peer: merges it and brings the kernel along. Returns what was new (to
    /// relay), `None` when nothing.
    pub fn on_gossip(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>, ServiceError> {
        let new = self.merge_gossip(bytes)?;
        self.sync_pending()?;
        Ok(new)
    }

    /// Gossip from a peer, without touching the kernel (the mesh calls this on its own task):
    /// merges it into the state and the model and leaves the kernel work for
    /// [`PolicyService::sync_pending`]. Returns what was new, to relay.
    pub fn merge_gossip(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(self.merge_state(State::decode(bytes)?).map(|new| new.encode()))
    }

    /// Merges decoded gossip; returns what was new to us (to relay), if anything.
    pub fn merge_state(&self, incoming: State) -> Option<State> {
        let mut g = self.lock();
        let new = g.state.merge(incoming);
        if new.is_empty() {
            return None;
        }
        g.dirty = true;
        if !new.policies.is_empty() {
            g.persist();
            g.rebuild_model();
            g.pending_full = true;
        } else {
            for (name, v) in &new.namespaces {
                let c = g.model.set_namespace(name, v.value.clone().unwrap_or_default());
                g.pending.extend(c);
            }
            for (id, v) in &new.targets {
                let c = match &v.value {
                    Some(t) => g.model.upsert_target(t.clone()),
                    None => g.model.remove_target(id),
                };
                g.pending.extend(c);
            }
        }
        Some(new)
    }

    /// Brings the kernel up to the model after gossip (blocking: an nft run).
    pub fn sync_pending(&self) -> Result<(), ServiceError> {
        let mut g = self.lock();
        let changes = std::mem::take(&mut g.pending);
        if std::mem::take(&mut g.pending_full) {
            let view = g.model.kernel_view();
            g.enforcer.sync(&view)?;
        } else {
            g.enforcer.apply(&changes)?;
        }
        Ok(())
    }

    /// Peers that left the cluster: their targets go with them.
    pub fn peers_gone(&self, peers: &[String]) {
        let mut g = self.lock();
        for p in peers {
            for id in g.state.peer_gone(p) {
                let c = g.model.remove_target(&id);
                g.pending.extend(c);
            }
        }
        g.dirty = true;
    }

    /// Persists target and namespace changes made since the last call. Policy changes are
    /// persisted at once; targets change often (every attach, cluster-wide) and writing the
    /// whole state each time would put a database write on the attach path, so the daemon
    /// calls this every second and at shutdown.
    pub fn flush(&self) {
        let mut g = self.lock();
        if g.dirty {
            g.persist();
        }
    }

    /// The full state, for periodic gossip and new connections.
    pub fn gossip(&self) -> Vec<u8> {
        self.lock().state.encode()
    }

    /// Records a packet the kernel logged as dropped.
    pub fn record_drop(&self, prefix: &str, packet: &[u8], now: u64) -> Option<DropRecord> {
        let mut g = self.lock();
        let r = drops::record(&g.model, prefix, packet, now)?;
        g.drops.push(r.clone());
        g.drops_logged += 1;
        Some(r)
    }

    /// The kernel's counters, per policy: (allowed packets per rule counter, dropped packets).
    pub fn counters(&self) -> Vec<weave_netdev::nft::CounterValue> {
        Enforcer::counters().unwrap_or_default()
    }

    /// Reads the kernel's drop log on a thread of its own, in the calling thread's network
    /// namespace, for as long as the process lives; `on_drop` sees every record.
    pub fn spawn_drop_reader(
        &self,
        on_drop: impl Fn(&DropRecord) + Send + 'static,
    ) -> Result<(), ServiceError> {
        let mut log = weave_netdev::nflog::Nflog::bind(super::nft::LOG_GROUP, super::nft::LOG_SNAPLEN)?;
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("policy-drops".into()).spawn(move || loop {
            match log.recv() {
                Ok(packets) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    for p in packets {
                        if let Some(r) = me.record_drop(&p.prefix, &p.payload, now) {
                            on_drop(&r);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("reading the policy drop log stopped: {e}");
                    return;
                }
            }
        });
        spawned.map_err(|e| {
            ServiceError::Kernel(weave_netdev::NetdevError::new("start the policy drop reader", e))
        })?;
        Ok(())
    }

    pub fn policy_count(&self) -> usize {
        self.lock().model.policies().count()
    }

    /// Reads the kernel's counters (blocking: runs `nft`) and keeps them by policy and rule for
    /// [`PolicyService::status`]. The kernel worker calls it every few seconds.
    pub fn refresh_counters(&self) {
        if !self.lock().enforcer.active() {
            self.lock().counters.clear();
            return;
        }
        let read = match Enforcer::counters() {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("reading the policy counters: {e}");
                return;
            }
        };
        let mut g = self.lock();
        let Some(view) = g.enforcer.applied() else { return };
        let by_name: std::collections::HashMap<&str, (u64, u64)> =
            read.iter().map(|c| (c.name.as_str(), (c.packets, c.bytes))).collect();
        let mut out = Vec::new();
        for r in &view.rules {
            if let Some(&(packets, bytes)) = by_name.get(r.counter.as_str()) {
                let (policy, direction) = (r.policy.to_string(), r.dir.as_str().to_string());
                out.push(weave_api::PolicyCounter { policy, direction, rule: Some(r.rule), packets, bytes });
            }
        }
        for p in &view.policies {
            let dirs =
                [(p.ingress, weave_policy::Direction::Ingress), (p.egress, weave_policy::Direction::Egress)];
            for (_, dir) in dirs.into_iter().filter(|(on, _)| *on) {
                if let Some(&(packets, bytes)) = by_name.get(p.drop_counter(dir).as_str()) {
                    let (policy, direction) = (p.id.to_string(), dir.as_str().to_string());
                    out.push(weave_api::PolicyCounter { policy, direction, rule: None, packets, bytes });
                }
            }
        }
        g.counters = out;
    }

    /// Policy on this host, for the report and `weave status`; `None` while no policy exists.
    pub fn status(&self) -> Option<weave_api::PolicyStatus> {
        let g = self.lock();
        let policies = g.model.policies().count();
        if policies == 0 {
            return None;
        }
        let here = g.model.local_host();
        Some(weave_api::PolicyStatus {
            policies,
            targets: g.model.targets().count(),
            local_targets: g.model.targets().filter(|t| t.host == here).count(),
            drops_logged: g.drops_logged,
            counters: g.counters.clone(),
        })
    }
}

impl Inner {
    /// Brings the model's targets, namespaces and policies in line with the replicated state
    /// (a surviving policy keeps its tag, so its sets and counters keep their names).
    fn rebuild_model(&mut self) {
        self.resync_targets_from_state();
        let policies: Vec<Policy> = self.state.live_policies();
        self.model.set_policies(policies);
    }

    /// Targets and namespaces as the replicated state has them.
    fn resync_targets_from_state(&mut self) {
        let wanted: BTreeMap<String, Target> =
            self.state.targets.iter().filter_map(|(k, v)| v.value.clone().map(|t| (k.clone(), t))).collect();
        let present: Vec<String> = self.model.targets().map(|t| t.id.clone()).collect();
        for id in present {
            if !wanted.contains_key(&id) {
                self.model.remove_target(&id);
            }
        }
        for t in wanted.into_values() {
            if self.model.target(&t.id) != Some(&t) {
                self.model.upsert_target(t);
            }
        }
        let names: Vec<String> = self.model.namespaces().keys().cloned().collect();
        for n in names {
            if self.state.namespaces.get(&n).and_then(|v| v.value.as_ref()).is_none() {
                self.model.set_namespace(&n, BTreeMap::new());
            }
        }
        for (n, v) in self.state.namespaces.clone() {
            if let Some(l) = v.value {
                if self.model.namespaces().get(&n) != Some(&l) {
                    self.model.set_namespace(&n, l);
                }
            }
        }
    }

    /// Policies changed: persist, recompile, bring the kernel along.
    fn commit_policies(&mut self) -> Result<(), ServiceError> {
        self.rebuild_model();
        let view = self.model.kernel_view();
        self.enforcer.sync(&view)?;
        self.persist();
        Ok(())
    }

    fn persist(&mut self) {
        self.dirty = false;
        if let Some(s) = &self.store {
            if let Err(e) = s.set_meta(STORE_KEY, &self.state.encode()) {
                tracing::error!("persisting the policy state: {e}");
            }
        }
    }
}

fn validate_target(t: &Target) -> Result<(), ServiceError> {
    weave_policy::validate::dns_label(&t.namespace)
        .map_err(|why| ServiceError::Label(format!("namespace {:?} {why}", t.namespace)))?;
    for (k, v) in &t.labels {
        weave_policy::validate::label_key(k, "").map_err(|e| ServiceError::Label(e.reason))?;
        weave_policy::validate::label_value(v, "").map_err(|e| ServiceError::Label(e.reason))?;
    }
    for p in &t.ports {
        weave_policy::validate::port_name(&p.name)
            .map_err(|why| ServiceError::Label(format!("port name {:?} {why}", p.name)))?;
    }
    Ok(())
}
