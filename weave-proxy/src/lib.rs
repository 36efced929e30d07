//! Weave's Docker API proxy: a Docker endpoint in front of dockerd that forwards every call
//! unchanged (streams stream, hijacked connections are spliced) and rewrites the few that put
//! containers on the weave network (see [`rewrite`]). What joins a container to weave is the
//! daemon's: it comes in through [`Hooks`].
//!
//! * [`rewrite`]: pure body rewrites and eligibility.
//! * [`route`]: which calls are intercepted (any `/vX.Y` prefix).
//! * [`forward`]: the hyper server and the forwarding to dockerd.
//! * [`listen`]: `-H` addresses (`unix://`, `tcp://`).
//! * [`weavewait`]: the waiter shipped into containers.

pub mod forward;
pub mod listen;
pub mod rewrite;
pub mod route;
pub mod weavewait;

pub use forward::{serve, Proxy};
pub use listen::{DockerAddr, ListenAddr};
pub use rewrite::Rules;

use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The weave interface of a container, for `--rewrite-inspect`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeaveIf {
    pub mac: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

/// What the proxy asks of the daemon.
pub trait Hooks: Send + Sync + 'static {
    /// Puts a started container of the proxy (full id) on weave with its `WEAVE_CIDR` words;
    /// does nothing when it is attached already. On failure the container has been stopped
    /// and the error says why.
    fn attach(&self, id: String, cidrs: Vec<String>) -> BoxFuture<Result<(), String>>;
    /// The container's weave interface, if it has one.
    fn weave_if(&self, id: String) -> BoxFuture<Option<WeaveIf>>;
    /// weaveDNS's address for the containers, now (`None`: leave their DNS alone).
    fn dns_server(&self) -> Option<Ipv4Addr>;
}
