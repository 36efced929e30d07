//! Expose and hide: the host's own addresses on the weave network, owned by `weave:expose`
//! in IPAM and weaveDNS. The same pipeline as attach, with the bridge as the interface.

use super::addrs::{parse_specs, parse_specs_or_default};
use super::journal::{ExposeIntent, Op};
use super::nat::ID;
use super::service::explicit;
use super::{blocking, minus, union, AttachError, AttachService, Attached, Detached, Ports};
use super::{AddressBook, Kernel, Names};
use ipnet::Ipv4Net;
use std::sync::Arc;

impl<P: Ports> AttachService<P> {
    /// Gives the host addresses on the weave network (idempotent): on the bridge, `net:` ones
    /// allocated for `weave:expose`, explicit ones claimed; masqueraded unless asked not to;
    /// named `fqdn` when given. Answers with the addresses of this request.
    pub async fn expose(
        self: &Arc<Self>,
        addrs: Vec<String>,
        fqdn: Option<String>,
        masquerade: bool,
    ) -> Result<Attached, AttachError> {
        let me = self.clone();
        tokio::spawn(async move { me.run_expose(&addrs, fqdn, masquerade).await })
            .await
            .map_err(|e| AttachError::Internal(format!("expose task failed: {e}")))?
    }

    /// Takes exposed addresses away (all when none given), releasing them and their names.
    pub async fn hide(self: &Arc<Self>, addrs: Vec<String>) -> Result<Detached, AttachError> {
        let me = self.clone();
        tokio::spawn(async move { me.run_hide(&addrs).await })
            .await
            .map_err(|e| AttachError::Internal(format!("hide task failed: {e}")))?
    }

    /// Weave's `POST /expose/{ip}/{prefixlen}`: only the bridge and the NAT (allocating the
    /// address is the caller's business, as in Weave).
    pub async fn expose_address(&self, cidr: Ipv4Net, masquerade: bool) -> Result<(), AttachError> {
        let _lock = self.lock(ID).await;
        let k = self.kernel.clone();
        blocking(move || k.expose(&[cidr], masquerade).map(drop)).await
    }

    async fn run_expose(
        &self,
        addrs: &[String],
        fqdn: Option<String>,
        masquerade: bool,
    ) -> Result<Attached, AttachError> {
        let specs = parse_specs_or_default(addrs)?;
        // The name is checked before anything changes.
        let fqdn = fqdn.map(|n| self.names.check_name(&n)).transpose()?;
        let _lock = self.lock(ID).await;
        self.settle(ID).await;
        let k = self.kernel.clone();
        let bridge = blocking(move || k.bridge()).await?;
        let mut intent = ExposeIntent {
            prior_ipam: self.addresses.owned(ID),
            prior_bridge: bridge.addrs.clone(),
            explicit: explicit(&specs),
            masquerade,
            fqdn,
            addrs: None,
        };
        self.record(ID, Op::Expose(intent.clone()), "expose").await?;
        let mut added = Vec::new();
        let result = async {
            let addrs = self.allocate_all(ID, &specs).await?;
            intent.addrs = Some(addrs.clone());
            self.record(ID, Op::Expose(intent.clone()), "expose").await?;
            let (k, a) = (self.kernel.clone(), addrs.clone());
            added = blocking(move || k.expose(&a, masquerade)).await?;
            if let Some(fqdn) = &intent.fqdn {
                for a in &addrs {
                    self.names.add(fqdn, ID, *a).await?;
                }
            }
            Ok::<_, AttachError>(addrs)
        }
        .await;
        match result {
            Ok(addrs) => {
                self.clear(ID).await;
                Ok(Attached { addrs, ..bridge })
            }
            Err(e) => {
                tracing::info!("expose failed, undoing what it did: {e}");
                match self.undo_expose(&intent.prior_ipam, &added).await {
                    Ok(()) => self.clear(ID).await,
                    Err(u) => tracing::error!(
                        "undoing the failed expose failed too ({u}); the daemon's next start finishes undoing it"
                    ),
                }
                Err(e)
            }
        }
    }

    /// Undoes an expose: the names and bridge addresses it added, then what IPAM gained.
    pub(super) async fn undo_expose(
        &self,
        prior_ipam: &[Ipv4Net],
        added: &[Ipv4Net],
    ) -> Result<(), AttachError> {
        for a in added {
            self.names.remove(ID, *a).await;
        }
        let unplumbed = if added.is_empty() {
            Ok(())
        } else {
            let (k, a) = (self.kernel.clone(), added.to_vec());
            blocking(move || k.hide(Some(&a)).map(drop)).await
        };
        let gained = minus(&self.addresses.owned(ID), prior_ipam);
        let released = self.addresses.release(ID, &gained).await;
        unplumbed.and(released.map(drop))
    }

    async fn run_hide(&self, addrs: &[String]) -> Result<Detached, AttachError> {
        let specs = parse_specs(addrs)?;
        let _lock = self.lock(ID).await;
        self.settle(ID).await;
        let addrs = self.detach_addresses(ID, &specs)?;
        if !specs.is_empty() && addrs.is_empty() {
            return Ok(Detached { id: ID.into(), removed: vec![] });
        }
        let all = specs.is_empty();
        self.record(ID, Op::Hide { addrs: addrs.clone(), all }, "hide").await?;
        let removed = self.finish_hide(&addrs, all).await?;
        self.clear(ID).await;
        Ok(Detached { id: ID.into(), removed })
    }

    /// Bridge, then IPAM, then names. Idempotent: replay runs it again after a cut.
    pub(super) async fn finish_hide(
        &self,
        addrs: &[Ipv4Net],
        all: bool,
    ) -> Result<Vec<Ipv4Net>, AttachError> {
        let (k, a) = (self.kernel.clone(), addrs.to_vec());
        let removed = blocking(move || k.hide((!all).then_some(a.as_slice()))).await?;
        let released = if all {
            self.addresses.release_all(ID).await?
        } else {
            self.addresses.release(ID, addrs).await?
        };
        let removed = union(removed, &released);
        for a in &removed {
            self.names.remove(ID, *a).await;
        }
        Ok(removed)
    }
}
