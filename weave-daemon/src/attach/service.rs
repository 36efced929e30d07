//! Attach and detach: the pipelines, and the undo of an attach that is shared with replay.

use super::addrs::{parse_specs, parse_specs_or_default, AddrSpec};
use super::journal::{AttachIntent, Intent, Namespace, Op};
use super::kernel::{Plumb, CONTAINER_IF};
use super::target::{Located, NsRef, Target};
use super::{blocking, minus, union, AttachError, AttachService, AttachSpec, Attached, Detached, Ports};
use super::{AddressBook, Journal, Kernel, Names, TargetEvent};
use crate::ipam::to_net;
use ipnet::Ipv4Net;
use std::sync::Arc;
use weave_netdev::Netns;

/// What the steps of an attach completed, for undoing them.
#[derive(Default)]
struct Done {
    /// The interface was made by this attach.
    created: bool,
    /// Addresses this attach put on the interface.
    added: Vec<Ipv4Net>,
}

fn join_error(e: tokio::task::JoinError) -> AttachError {
    AttachError::Internal(format!("attach task failed: {e}"))
}

/// Interface names the kernel takes (IFNAMSIZ) and that are safe in /proc/sys paths.
fn check_ifname(name: &str) -> Result<(), AttachError> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AttachError::BadTarget {
            target: name.to_string(),
            why: "an interface name has 1 to 15 letters, digits, '_', '.' or '-'".into(),
        })
    }
}

impl<P: Ports> AttachService<P> {
    /// Connects a target to the weave network (idempotent) and returns it as attached.
    pub async fn attach(self: &Arc<Self>, spec: AttachSpec) -> Result<Attached, AttachError> {
        let me = self.clone();
        tokio::spawn(async move { me.run_attach(spec).await }).await.map_err(join_error)?
    }

    /// Removes addresses (all when none given) from a target and releases them; its interface
    /// goes with the last. A target that no longer exists still has its addresses released.
    pub async fn detach(
        self: &Arc<Self>,
        target: String,
        addrs: Vec<String>,
    ) -> Result<Detached, AttachError> {
        let me = self.clone();
        tokio::spawn(async move { me.run_detach(&target, &addrs).await }).await.map_err(join_error)?
    }

    async fn run_attach(&self, spec: AttachSpec) -> Result<Attached, AttachError> {
        let target = Target::parse(&spec.target)?;
        let specs = parse_specs_or_default(&spec.addrs)?;
        check_ifname(&spec.ifname)?;
        let loc = match &spec.at {
            Some(at) => {
                Located { id: target.id(), ns: at.clone(), hostname: None, labels: Default::default() }
            }
            None => target.locate(self.containers()).await?,
        };
        let id = loc.id.clone();
        let _lock = self.lock(&id).await;
        self.settle(&id).await;
        // The namespace is opened here, once, for every step.
        let (k, at, i, ifname) = (self.kernel.clone(), loc.ns.clone(), id.clone(), spec.ifname.clone());
        let (ns, prior_if) = blocking(move || {
            let ns = at.open(&i)?;
            let iface = k.inspect(&ns, &ifname)?;
            Ok((Arc::new(ns), iface))
        })
        .await?;
        if spec.fresh && prior_if.is_some() {
            return Err(AttachError::AlreadyAttached { id, ifname: spec.ifname.clone() });
        }
        let hostname = spec.hostname.as_deref().or(loc.hostname.as_deref());
        let fqdn = hostname.filter(|_| spec.dns).and_then(|h| self.names.target_name(h));
        let mut intent = AttachIntent {
            ns: Namespace { at: loc.ns.clone(), inode: ns.inode() },
            ifname: spec.ifname.clone(),
            prior_ipam: self.addresses.owned(&id),
            prior_if: prior_if.map(|i| i.addrs),
            explicit: explicit(&specs),
            fqdn,
            addrs: None,
        };
        self.record(&id, Op::Attach(intent.clone()), "attach").await?;
        let mut done = Done::default();
        match self.attach_steps(&id, &specs, &spec, &ns, &mut intent, &mut done).await {
            Ok(attached) => {
                self.clear(&id).await;
                self.announce(TargetEvent::Attached {
                    id: id.clone(),
                    addrs: attached.addrs.clone(),
                    meta: spec.meta.with_container_labels(&loc.labels),
                });
                Ok(attached)
            }
            Err(e) => {
                tracing::info!(target = %id, "attach failed, undoing what it did: {e}");
                let undone = self
                    .undo_attach(&id, Some(ns), &spec.ifname, &intent.prior_ipam, &done.added, done.created)
                    .await;
                match undone {
                    Ok(()) => self.clear(&id).await,
                    Err(u) => tracing::error!(
                        target = %id,
                        "undoing the failed attach failed too ({u}); the daemon's next start finishes undoing it"
                    ),
                }
                Err(e)
            }
        }
    }

    /// Allocate -> plumb -> name. `done` says how far it got.
    async fn attach_steps(
        &self,
        id: &str,
        specs: &[AddrSpec],
        spec: &AttachSpec,
        ns: &Arc<Netns>,
        intent: &mut AttachIntent,
        done: &mut Done,
    ) -> Result<Attached, AttachError> {
        let addrs = self.allocate_all(id, specs).await?;
        tracing::debug!(target = %id, addrs = ?addrs, "attach: allocated");
        // The next daemon must know exactly what was to be plumbed.
        intent.addrs = Some(addrs.clone());
        self.record(id, Op::Attach(intent.clone()), "attach").await?;

        let plumb = Plumb {
            id: id.to_string(),
            ifname: spec.ifname.clone(),
            addrs,
            multicast_route: spec.multicast_route,
            link: spec.link.clone(),
        };
        let (k, n) = (self.kernel.clone(), ns.clone());
        let plumbed = blocking(move || k.plumb(&n, &plumb)).await?;
        done.created = plumbed.created;
        done.added = plumbed.added.clone();
        tracing::debug!(target = %id, created = plumbed.created, added = ?plumbed.added, "attach: plumbed");

        if let Some(fqdn) = &intent.fqdn {
            for a in &plumbed.target.addrs {
                self.names.add(fqdn, id, *a).await?;
            }
        }
        // A target that died meanwhile (a container stopping) took the interface with it;
        // what IPAM and weaveDNS gained must not outlive it. Checked after naming, so a
        // death from now on is the lifecycle's to clean up (the Docker watcher's die event).
        let (at, inode) = (intent.ns.at.clone(), intent.ns.inode);
        if !blocking(move || Ok(at.is(inode))).await? {
            return Err(AttachError::TargetGone { id: id.to_string() });
        }
        Ok(plumbed.target)
    }

    /// What a TARGET names: its id and default DNS name (a container that does not run
    /// resolves to its id, without a name).
    pub async fn resolve(&self, target: &str) -> Result<(String, Option<String>), AttachError> {
        let t = Target::parse(target)?;
        match t.locate(self.containers()).await {
            Ok(l) => Ok((l.id, l.hostname)),
            Err(AttachError::ContainerNotRunning { id, .. }) => Ok((id, None)),
            Err(e) => Err(e),
        }
    }

    /// Addresses for `specs`: allocated (`net:`) or claimed (explicit), in order, once each.
    pub(super) async fn allocate_all(
        &self,
        id: &str,
        specs: &[AddrSpec],
    ) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut out = Vec::new();
        for s in specs {
            let a = match *s {
                AddrSpec::Ip(c) => {
                    let n = to_net(c);
                    self.addresses.claim(id, n).await?;
                    n
                }
                AddrSpec::Default => self.addresses.allocate(id, None).await?,
                AddrSpec::Net(subnet) => self.addresses.allocate(id, Some(subnet)).await?,
            };
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Undoes an attach, last step first: the names and the interface's new addresses (or the
    /// interface, when the attach made it), then what IPAM gained since `prior_ipam`. Carries
    /// on past failures and reports the first.
    pub(super) async fn undo_attach(
        &self,
        id: &str,
        ns: Option<Arc<Netns>>,
        ifname: &str,
        prior_ipam: &[Ipv4Net],
        added: &[Ipv4Net],
        delete_if: bool,
    ) -> Result<(), AttachError> {
        for a in added {
            self.names.remove(id, *a).await;
        }
        let (k, i, ifn, add) = (self.kernel.clone(), id.to_string(), ifname.to_string(), added.to_vec());
        let unplumbed = blocking(move || k.undo_plumb(ns.as_deref(), &i, &ifn, &add, delete_if)).await;
        let gained = minus(&self.addresses.owned(id), prior_ipam);
        let released = self.addresses.release(id, &gained).await;
        unplumbed.and(released.map(drop))
    }

    /// Removes the interface `ifname` of the target `id` whose namespace the caller knows (or
    /// knew: `None` when it is gone) and releases every address of `id`: CNI's DEL. A target
    /// with nothing left is fine.
    pub async fn detach_at(
        self: &Arc<Self>,
        id: String,
        at: Option<NsRef>,
        ifname: String,
    ) -> Result<Detached, AttachError> {
        let me = self.clone();
        tokio::spawn(async move { me.run_detach_at(id, at, ifname).await }).await.map_err(join_error)?
    }

    async fn run_detach_at(
        &self,
        id: String,
        at: Option<NsRef>,
        ifname: String,
    ) -> Result<Detached, AttachError> {
        Target::parse(&id)?;
        check_ifname(&ifname)?;
        let _lock = self.lock(&id).await;
        self.settle(&id).await;
        let ns = match at {
            None => None,
            Some(at) => match open(at.clone(), &id).await {
                Ok(ns) => Some((at, ns)),
                Err(AttachError::NoNamespace { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        let recorded = ns.as_ref().map(|(at, ns)| Namespace { at: at.clone(), inode: ns.inode() });
        self.record(
            &id,
            Op::Detach { ns: recorded, ifname: ifname.clone(), addrs: vec![], all: true },
            "detach",
        )
        .await?;
        let result = self.finish_detach(&id, ns.map(|(_, ns)| ns), &ifname, &[], true).await;
        let removed = match result {
            Ok(r) => r,
            Err(AttachError::NothingToDetach { .. }) => vec![],
            Err(e) => return Err(e),
        };
        self.clear(&id).await;
        self.announce(TargetEvent::Detached { id: id.clone(), removed: removed.clone() });
        Ok(Detached { id, removed })
    }

    async fn run_detach(&self, target: &str, addrs: &[String]) -> Result<Detached, AttachError> {
        let t = Target::parse(target)?;
        let specs = parse_specs(addrs)?;
        let (id, at) = match t.locate(self.containers()).await {
            Ok(l) => (l.id, Some(l.ns)),
            // A container that is gone may still hold addresses under the id given; one that
            // stopped, under its full id.
            Err(AttachError::UnknownTarget { .. }) if matches!(t, Target::Container(_)) => (t.id(), None),
            Err(AttachError::ContainerNotRunning { id, .. }) => (id, None),
            Err(e) => return Err(e),
        };
        let _lock = self.lock(&id).await;
        self.settle(&id).await;
        let addrs = self.detach_addresses(&id, &specs)?;
        if !specs.is_empty() && addrs.is_empty() {
            // Only net: arguments, and nothing allocated there.
            return Ok(Detached { id, removed: vec![] });
        }
        let ns = match at {
            None => None,
            Some(at) => match open(at.clone(), &id).await {
                Ok(ns) => Some((at, ns)),
                Err(AttachError::NoNamespace { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        let all = specs.is_empty();
        let ifname = CONTAINER_IF.to_string();
        let recorded = ns.as_ref().map(|(at, ns)| Namespace { at: at.clone(), inode: ns.inode() });
        let op = Op::Detach { ns: recorded, ifname: ifname.clone(), addrs: addrs.clone(), all };
        self.record(&id, op, "detach").await?;
        let result = self.finish_detach(&id, ns.map(|(_, ns)| ns), &ifname, &addrs, all).await;
        // Nothing to finish later when it failed only for want of anything to detach.
        if result.is_ok() || matches!(result, Err(AttachError::NothingToDetach { .. })) {
            self.clear(&id).await;
        }
        let removed = result?;
        self.announce(TargetEvent::Detached { id: id.clone(), removed: removed.clone() });
        Ok(Detached { id, removed })
    }

    /// `net:` arguments stand for the owner's addresses in that subnet.
    pub(super) fn detach_addresses(&self, id: &str, specs: &[AddrSpec]) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut out = Vec::new();
        for s in specs {
            match *s {
                AddrSpec::Ip(c) => out.push(to_net(c)),
                AddrSpec::Default => out.extend(self.addresses.lookup(id, None)?),
                AddrSpec::Net(n) => out.extend(self.addresses.lookup(id, Some(n))?),
            }
        }
        Ok(out)
    }

    /// Kernel, then IPAM, then names. Idempotent: replay runs it again after a cut.
    pub(super) async fn finish_detach(
        &self,
        id: &str,
        ns: Option<Arc<Netns>>,
        ifname: &str,
        addrs: &[Ipv4Net],
        all: bool,
    ) -> Result<Vec<Ipv4Net>, AttachError> {
        let gone = ns.is_none();
        let removed = match ns {
            Some(ns) => {
                let (k, ifn, a) = (self.kernel.clone(), ifname.to_string(), addrs.to_vec());
                blocking(move || k.remove_addrs(&ns, &ifn, (!all).then_some(a.as_slice()))).await?
            }
            None => vec![],
        };
        let released = if all {
            self.addresses.release_all(id).await?
        } else {
            self.addresses.release(id, addrs).await?
        };
        if gone {
            self.names.forget(id).await;
        }
        tracing::debug!(target = %id, ?removed, ?released, all, gone, "detach: removed and released");
        let removed = union(removed, &released);
        for a in &removed {
            self.names.remove(id, *a).await;
        }
        if gone && released.is_empty() {
            return Err(AttachError::NothingToDetach { id: id.to_string() });
        }
        Ok(removed)
    }

    /// Durably records the intent for `id`.
    pub(super) async fn record(&self, id: &str, op: Op, what: &'static str) -> Result<(), AttachError> {
        let (j, intent) = (self.journal.clone(), Intent { id: id.to_string(), op });
        blocking(move || {
            j.record(&intent).map_err(|source| AttachError::Journal {
                op: what,
                id: intent.id.clone(),
                source,
            })
        })
        .await
    }

    /// Forgets `id`'s intent; a failure only means the next start looks at it again.
    pub(super) async fn clear(&self, id: &str) {
        let (j, i) = (self.journal.clone(), id.to_string());
        if let Err(e) = blocking(move || j.clear(&i).map_err(|e| AttachError::Internal(e.to_string()))).await
        {
            tracing::warn!(target = %id, "clearing the finished operation's intent: {e}");
        }
    }
}

/// The explicit addresses among `specs`.
pub(super) fn explicit(specs: &[AddrSpec]) -> Vec<Ipv4Net> {
    specs
        .iter()
        .filter_map(|s| match s {
            AddrSpec::Ip(c) => Some(to_net(*c)),
            _ => None,
        })
        .collect()
}

/// Opens a namespace off the runtime.
pub(super) async fn open(at: NsRef, id: &str) -> Result<Arc<Netns>, AttachError> {
    let id = id.to_string();
    blocking(move || at.open(&id).map(Arc::new)).await
}
