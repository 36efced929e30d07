//! The Docker plugin's endpoints: the veth pair libnetwork's CreateEndpoint asks for
//! (`vethwl<id>` on the bridge, `vethwg<id>` for Docker to move into the container as
//! `ethwe<N>`) and DeleteEndpoint removes. Addresses are Docker's business (through the IPAM
//! driver), so this is the kernel step alone, journaled like every other operation: a create
//! a kill -9 cut short is undone at the next start unless its pair is whole, a cut delete is
//! finished. Docker repeats a call the daemon did not answer for 30 s, so both are idempotent:
//! a whole pair is reused, a pair already gone is no error.
//!
//! Join and Leave change nothing in the kernel (Docker moves and renames the interface), so
//! they need no journal.

use super::journal::Op;
use super::target::endpoint_veths;
use super::{blocking, AttachError, AttachService, Kernel, Ports};
use std::sync::Arc;

/// Journal ids of endpoints: no target id starts so (targets with a colon are `netns:`,
/// `pid:` and `weave:expose`).
pub const ENDPOINT_ID: &str = "docker-endpoint:";

/// Endpoint ids name interfaces: Docker's are hex.
fn check(endpoint: &str) -> Result<(), AttachError> {
    if endpoint.is_empty() || endpoint.len() > 128 || !endpoint.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AttachError::BadTarget {
            target: endpoint.chars().take(80).collect(),
            why: "an endpoint id is Docker's hex id".into(),
        });
    }
    Ok(())
}

/// What replaying an endpoint's intent did.
pub(super) enum EndpointOutcome {
    Finished,
    Undone,
}

impl<P: Ports> AttachService<P> {
    /// Makes the endpoint's veth pair (reusing a whole one); returns the MAC of the container
    /// end.
    pub async fn create_endpoint(self: &Arc<Self>, endpoint: String) -> Result<[u8; 6], AttachError> {
        check(&endpoint)?;
        let me = self.clone();
        tokio::spawn(async move { me.run_create_endpoint(&endpoint).await })
            .await
            .map_err(|e| AttachError::Internal(format!("endpoint task failed: {e}")))?
    }

    /// Removes the endpoint's veth pair; `false` when there was none.
    pub async fn delete_endpoint(self: &Arc<Self>, endpoint: String) -> Result<bool, AttachError> {
        check(&endpoint)?;
        let me = self.clone();
        tokio::spawn(async move { me.run_delete_endpoint(&endpoint).await })
            .await
            .map_err(|e| AttachError::Internal(format!("endpoint task failed: {e}")))?
    }

    /// Host ends of endpoints whose container end never left the host (created, not joined).
    pub async fn unjoined_endpoints(&self) -> Result<Vec<String>, AttachError> {
        let k = self.kernel.clone();
        blocking(move || k.unjoined_endpoints()).await
    }

    async fn run_create_endpoint(&self, endpoint: &str) -> Result<[u8; 6], AttachError> {
        let id = format!("{ENDPOINT_ID}{endpoint}");
        let (host, peer) = endpoint_veths(endpoint);
        let _lock = self.lock(&id).await;
        self.settle(&id).await;
        self.record(&id, Op::CreateEndpoint { host: host.clone(), peer: peer.clone() }, "create endpoint")
            .await?;
        let (k, h, p) = (self.kernel.clone(), host.clone(), peer.clone());
        match blocking(move || k.create_endpoint(&h, &p)).await {
            Ok(mac) => {
                self.clear(&id).await;
                Ok(mac)
            }
            Err(e) => {
                // The kernel step undoes its own partial work; this is for a failure of that.
                let k = self.kernel.clone();
                match blocking(move || k.delete_endpoint(&host, &peer)).await {
                    Ok(_) => self.clear(&id).await,
                    Err(u) => tracing::error!(
                        endpoint = %endpoint,
                        "removing the veths of a failed CreateEndpoint failed too ({u}); the daemon's next start does it"
                    ),
                }
                Err(e)
            }
        }
    }

    async fn run_delete_endpoint(&self, endpoint: &str) -> Result<bool, AttachError> {
        let id = format!("{ENDPOINT_ID}{endpoint}");
        let (host, peer) = endpoint_veths(endpoint);
        let _lock = self.lock(&id).await;
        self.settle(&id).await;
        self.record(&id, Op::DeleteEndpoint { host: host.clone() }, "delete endpoint").await?;
        let k = self.kernel.clone();
        let existed = blocking(move || k.delete_endpoint(&host, &peer)).await?;
        self.clear(&id).await;
        Ok(existed)
    }

    /// Finishes or undoes an endpoint operation a restart cut short: a create whose pair is
    /// whole counts as done (Docker may have its answer, or repeats the call and gets the same
    /// pair), any other is undone; a delete is finished.
    pub(super) async fn replay_endpoint(&self, op: &Op) -> Result<EndpointOutcome, AttachError> {
        let k = self.kernel.clone();
        match op.clone() {
            Op::CreateEndpoint { host, peer } => {
                blocking(move || {
                    if k.endpoint_whole(&host)? {
                        return Ok(EndpointOutcome::Finished);
                    }
                    k.delete_endpoint(&host, &peer)?;
                    Ok(EndpointOutcome::Undone)
                })
                .await
            }
            Op::DeleteEndpoint { host } => {
                let peer = host.replacen(super::target::PLUGIN_VETH, super::target::PLUGIN_PEER_VETH, 1);
                blocking(move || k.delete_endpoint(&host, &peer).map(|_| EndpointOutcome::Finished)).await
            }
            other => Err(AttachError::Internal(format!("not an endpoint operation: {other:?}"))),
        }
    }

    /// Removes the pairs of `hosts` whose container end is still on the host, each through
    /// the journal as a DeleteEndpoint. Returns those removed.
    pub async fn remove_unjoined(self: &Arc<Self>, hosts: &[String]) -> Vec<String> {
        let still = self.unjoined_endpoints().await.unwrap_or_default();
        let mut out = Vec::new();
        for h in hosts.iter().filter(|h| still.contains(h)) {
            let Some(tag) = h.strip_prefix(super::target::PLUGIN_VETH) else { continue };
            match self.delete_endpoint(tag.to_string()).await {
                Ok(_) => out.push(h.clone()),
                Err(e) => tracing::warn!(veth = %h, "removing an endpoint Docker never joined: {e}"),
            }
        }
        out
    }
}
