//! What IPAM needs of the mesh: which peers are in the topology, their comings and goings,
//! and sending on the `IPallocation` channel. The daemon implements it for its mesh handle.

use std::future::Future;
use std::pin::Pin;
use tokio::sync::broadcast;
use weave_ipam::PeerName;
use weave_mesh::{GossipData, MeshEvent};

/// A future the mesh completes once it has queued what it was given.
pub type Sending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Mesh: Send + Sync + 'static {
    /// The peers in the mesh's topology now, ourselves included.
    fn peer_names(&self) -> Vec<PeerName>;

    /// The mesh's events (IPAM follows peers joining and leaving the topology).
    fn events(&self) -> broadcast::Receiver<MeshEvent>;

    /// Broadcasts `data` on `channel`.
    fn gossip_broadcast<'a>(&'a self, channel: &'a str, data: Box<dyn GossipData>) -> Sending<'a, ()>;

    /// Sends `payload` to `dst` on `channel`; an error says why it could not be sent.
    fn gossip_unicast<'a>(
        &'a self,
        channel: &'a str,
        dst: PeerName,
        payload: Vec<u8>,
    ) -> Sending<'a, Result<(), String>>;
}
