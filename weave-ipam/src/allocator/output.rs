//! What the allocator asks its caller to do, and the errors of requests and of received gossip.
//! Error texts are Weave's, since they reach HTTP clients and logs.

use weave_wire::PeerName;

use crate::address::{Address, Cidr};
use crate::messages::MessageError;
use crate::persist::PersistDelta;
use crate::ring::RingError;
use crate::space::SpaceError;

/// Identifies a request (allocate, claim, prime) until its [`Output::Completed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// One thing for the caller to do. Execute a batch strictly in order: a `Persist` must be durable
/// before anything after it is sent or answered, which is how an address is never handed out
/// (nor space given away) before it is on disk.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Store this change durably (applied to what was stored) before going on.
    Persist(PersistDelta),
    /// A GossipBroadcast on channel `IPallocation` with this payload.
    Broadcast(Vec<u8>),
    /// A GossipUnicast on channel `IPallocation` to `dst` with this payload.
    Unicast { dst: PeerName, payload: Vec<u8> },
    /// A request finished. Answer whoever made it.
    Completed { id: RequestId, result: Result<Outcome, OpError> },
}

/// A successful request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `allocate`: the address (its prefix length is the requested subnet's).
    Allocated(Address),
    /// `claim`: the address is recorded for the ident (or, with `no_error_on_unknown`, the owner
    /// was not known yet and the claim goes on in the background).
    Claimed,
    /// `prime`: the ring exists.
    Primed,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("range {subnet} out of bounds: {universe}")]
    OutOfBounds { subnet: Cidr, universe: Cidr },
    #[error("invalid subnet - bits after network prefix are not all zero: {0}")]
    NotASubnet(Cidr),
    #[error("invalid subnet - smaller than minimum size 4: {0}")]
    SubnetTooSmall(Cidr),
    #[error("{kind} request for {ident} cancelled")]
    Cancelled { kind: &'static str, ident: String },
    #[error("address {cidr} already in use by {owner}")]
    InUseBy { cidr: Cidr, owner: String },
    #[error("address {0} already in use")]
    InUse(Cidr),
    #[error("address {cidr} is already owned by {owner}")]
    OwnedBy { cidr: Cidr, owner: String },
    /// `nickname` and `reason` are pre-formatted as Weave prints them (` (nick)`, ` - why`).
    #[error("address {cidr} is owned by other peer {owner}{nickname}{reason}")]
    OwnedByOtherPeer { cidr: Cidr, owner: PeerName, nickname: String, reason: String },
    #[error(transparent)]
    Space(#[from] SpaceError),
    #[error("Delete: no addresses for {0}")]
    NoAddresses(String),
    #[error("Free: address {addr} not found for {ident}")]
    NotFound { addr: Address, ident: String },
}

/// Why received gossip was rejected. Weave's gossip layer drops the connection on such an error
/// (it is retried later); the caller should do the same.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GossipError {
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("IP allocation was seeded by different peers (received: {received}, ours: {ours})")]
    DifferentSeeds { received: String, ours: String },
    #[error("Incompatible IP allocation ranges (received: {received}, ours: {ours})")]
    DifferentRange { received: String, ours: String },
    #[error(transparent)]
    Ring(#[from] RingError),
}

/// The configuration cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "invalid IP allocation range {0}: must be a subnet of at least 4 addresses below 255.255.255.255"
    )]
    Universe(Cidr),
}
