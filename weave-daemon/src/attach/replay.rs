//! At start, before the API serves: every operation a kill -9 cut short is finished or undone,
//! then veths only an interrupted attach leaves are removed.
//!
//! * An attach whose addresses are all on weave's interface in the target finished its
//!   plumbing: its names are registered and it counts as done. Any other attach is undone:
//!   the addresses it put on the interface (or the interface it made, and its host veth),
//!   the names of those addresses, and what IPAM gained since it began.
//! * Expose likewise, with the bridge.
//! * Detach and hide are finished (they are idempotent).
//! * The Docker plugin's endpoints: see [`super::endpoint`].
//!
//! A namespace found where the intent says but with another inode is another namespace: the
//! target is gone. An intent that cannot be replayed stays for the next start.

use super::endpoint::EndpointOutcome;
use super::journal::{AttachIntent, ExposeIntent, Intent, Namespace, Op};
use super::nat::ID;
use super::{blocking, minus, AttachError, AttachService, Ports, TargetMeta};
use super::{Journal, Kernel, Names, TargetEvent};
use std::sync::Arc;
use weave_netdev::Netns;

/// What replay did, for the log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replayed {
    /// Target ids whose operation was completed.
    pub finished: Vec<String>,
    /// Target ids whose attach or expose was undone.
    pub undone: Vec<String>,
    /// Target ids whose intent could not be replayed (kept for the next start), with why.
    pub failed: Vec<(String, String)>,
    /// Leftover veths removed.
    pub swept: Vec<String>,
}

enum Outcome {
    Finished,
    Undone,
}

impl<P: Ports> AttachService<P> {
    /// Finishes or undoes every recorded operation, then sweeps leftover veths. Run it before
    /// serving requests. Fails only when the intents cannot be read.
    pub async fn replay(&self) -> Result<Replayed, AttachError> {
        let j = self.journal.clone();
        let intents = blocking(move || {
            j.pending().map_err(|source| AttachError::Journal {
                op: "replay",
                id: "every target".into(),
                source,
            })
        })
        .await?;
        let mut out = Replayed::default();
        for intent in intents {
            tracing::info!(target = %intent.id, op = ?intent.op, "replaying an interrupted operation");
            let _lock = self.lock(&intent.id).await;
            match self.replay_one(&intent).await {
                Ok(o) => {
                    self.clear(&intent.id).await;
                    match o {
                        Outcome::Finished => out.finished.push(intent.id),
                        Outcome::Undone => out.undone.push(intent.id),
                    }
                }
                Err(e) => {
                    tracing::error!(target = %intent.id, "replaying an interrupted operation: {e}");
                    out.failed.push((intent.id, e.to_string()));
                }
            }
        }
        let k = self.kernel.clone();
        match blocking(move || k.sweep()).await {
            Ok(swept) => out.swept = swept,
            Err(e) => tracing::warn!("removing leftover veths: {e}"),
        }
        Ok(out)
    }

    /// Before a new operation on `id` (its lock held): an earlier one whose failure left its
    /// intent (its undo, or a detach, failed part-way) is finished or undone first, so the new
    /// intent does not replace one still owed.
    pub(super) async fn settle(&self, id: &str) {
        let (j, i) = (self.journal.clone(), id.to_string());
        let pending = blocking(move || j.get(&i).map_err(|e| AttachError::Internal(e.to_string()))).await;
        match pending {
            Ok(Some(intent)) => {
                tracing::info!(target = %id, op = ?intent.op, "completing an earlier operation first");
                match self.replay_one(&intent).await {
                    Ok(_) => self.clear(id).await,
                    Err(e) => tracing::warn!(target = %id, "completing an earlier operation: {e}"),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(target = %id, "reading the intent left by an earlier operation: {e}"),
        }
    }

    async fn replay_one(&self, intent: &Intent) -> Result<Outcome, AttachError> {
        let id = intent.id.as_str();
        match &intent.op {
            Op::Attach(a) => self.replay_attach(id, a).await,
            Op::Detach { ns, ifname, addrs, all } => {
                let ns = match ns {
                    Some(ns) => reopen(ns, id).await,
                    None => None,
                };
                match self.finish_detach(id, ns, ifname, addrs, *all).await {
                    Ok(removed) => self.announce(TargetEvent::Detached { id: id.into(), removed }),
                    Err(AttachError::NothingToDetach { .. }) => {}
                    Err(e) => return Err(e),
                }
                Ok(Outcome::Finished)
            }
            Op::Expose(e) => self.replay_expose(e).await,
            Op::Hide { addrs, all } => self.finish_hide(addrs, *all).await.map(|_| Outcome::Finished),
            op @ (Op::CreateEndpoint { .. } | Op::DeleteEndpoint { .. }) => {
                Ok(match self.replay_endpoint(op).await? {
                    EndpointOutcome::Finished => Outcome::Finished,
                    EndpointOutcome::Undone => Outcome::Undone,
                })
            }
        }
    }

    async fn replay_attach(&self, id: &str, a: &AttachIntent) -> Result<Outcome, AttachError> {
        let ns = reopen(&a.ns, id).await;
        let now = match &ns {
            Some(ns) => {
                let (k, n, ifname) = (self.kernel.clone(), ns.clone(), a.ifname.clone());
                blocking(move || k.inspect(&n, &ifname)).await?
            }
            None => None,
        };
        if let (Some(want), Some(iface)) = (&a.addrs, &now) {
            if iface.ours && want.iter().all(|x| iface.addrs.contains(x)) {
                if let Some(fqdn) = &a.fqdn {
                    for x in want {
                        self.names.add(fqdn, id, *x).await?;
                    }
                }
                tracing::info!(target = %id, "finished an attach a restart had interrupted");
                let addrs = iface.addrs.clone();
                self.announce(TargetEvent::Attached { id: id.into(), addrs, meta: TargetMeta::default() });
                return Ok(Outcome::Finished);
            }
        }
        let want = a.addrs.clone().unwrap_or_default();
        let added = minus(&want, a.prior_if.as_deref().unwrap_or_default());
        self.undo_attach(id, ns, &a.ifname, &a.prior_ipam, &added, a.prior_if.is_none()).await?;
        tracing::info!(target = %id, "undid an attach a restart had interrupted");
        Ok(Outcome::Undone)
    }

    async fn replay_expose(&self, e: &ExposeIntent) -> Result<Outcome, AttachError> {
        let k = self.kernel.clone();
        let bridge = blocking(move || k.bridge()).await?;
        if let Some(want) = &e.addrs {
            if want.iter().all(|x| bridge.addrs.contains(x)) {
                // The masquerade setting may not have been recorded yet.
                let (k, w, m) = (self.kernel.clone(), want.clone(), e.masquerade);
                blocking(move || k.expose(&w, m).map(drop)).await?;
                if let Some(fqdn) = &e.fqdn {
                    for x in want {
                        self.names.add(fqdn, ID, *x).await?;
                    }
                }
                return Ok(Outcome::Finished);
            }
        }
        let want = e.addrs.clone().unwrap_or_default();
        let added: Vec<_> =
            minus(&want, &e.prior_bridge).into_iter().filter(|x| bridge.addrs.contains(x)).collect();
        self.undo_expose(&e.prior_ipam, &added).await?;
        Ok(Outcome::Undone)
    }
}

/// The recorded namespace, if it is still the same one.
async fn reopen(ns: &Namespace, id: &str) -> Option<Arc<Netns>> {
    match super::service::open(ns.at.clone(), id).await {
        Ok(n) if n.inode() == ns.inode => Some(n),
        Ok(_) => {
            tracing::info!(target = %id, "the namespace at {:?} is another one now: the target is gone", ns.at);
            None
        }
        Err(e) => {
            tracing::info!(target = %id, "the target is gone: {e}");
            None
        }
    }
}
