//! What weaveDNS needs of the rest of the daemon: sending on the `nameserver` channel (the
//! daemon implements [`Mesh`] for its mesh handle) and whether a target still exists.

use std::future::Future;
use std::pin::Pin;
use weave_mesh::GossipData;

/// A future the mesh completes once it has queued what it was given.
pub type Sending<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Mesh: Send + Sync + 'static {
    /// Broadcasts `data` on `channel`.
    fn gossip_broadcast<'a>(&'a self, channel: &'a str, data: Box<dyn GossipData>) -> Sending<'a>;
}

/// Whether the target a container id names still exists (`None` for ids whose kind does not
/// say where the target is: containers, `weave:expose`); the daemon's attach targets answer.
pub type TargetExists = fn(&str) -> Option<bool>;
