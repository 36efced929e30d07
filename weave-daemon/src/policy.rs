//! Network policy's wiring: the runtime is the crate `weave-policy-service` (re-exported here
//! under its module names); the daemon gives it the mesh to gossip on and the attach service's
//! targets to follow.

pub use weave_policy_service::{drops, enforce, gossip, handle, nft, service, targets};

use crate::attach::AttachService;
use crate::mesh::router::MeshHandle;
use ipnet::Ipv4Net;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::broadcast;
use weave_mesh::GossipData;

impl gossip::Mesh for MeshHandle {
    fn gossip_broadcast(
        &self,
        channel: &'static str,
        data: Box<dyn GossipData>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(MeshHandle::gossip_broadcast(self, channel, data))
    }
}

impl targets::Targets for AttachService {
    type Error = crate::attach::AttachError;

    fn subscribe(&self) -> broadcast::Receiver<targets::TargetEvent> {
        AttachService::subscribe(self)
    }

    async fn list(&self) -> Result<Vec<(String, Vec<Ipv4Net>)>, Self::Error> {
        Ok(AttachService::list(self).await?.into_iter().map(|a| (a.id, a.addrs)).collect())
    }

    fn is_container(&self, id: &str) -> bool {
        crate::docker::is_container_id(id)
    }
}
