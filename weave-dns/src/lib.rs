//! weaveDNS core, wire-compatible with Weave Net 2.8: the replicated name → address entries,
//! their gossip on mesh channel `nameserver`, and the DNS answering logic. Pure: no sockets, no
//! clock (times are unix seconds passed in), no threads.
//!
//! How a daemon drives it:
//! * Start: `Nameserver::new(our_peer_name, domain)`, `Responder::new(domain, ttl)`, upstream
//!   servers from [`resolv::nameservers`] (re-read every [`resolv::RESOLV_RECHECK`] if changed).
//! * DNS query (UDP or TCP): from a client [`ClientNets`] allows (else [`message::refused`]) and,
//!   over UDP, within its [`RateLimiter`] share (else nothing);
//!   `responder.answer(bytes, transport, ns.entries(), rng)`:
//!   `Reply` → send; `Drop` → nothing; `Forward(f)` → for each upstream in turn:
//!   `q = f.query(rng)`, send `q.bytes` over the same transport, wait up to
//!   [`upstream::UPSTREAM_TIMEOUT`], `f.accept(&q, reply)` → `Some` = send to client and stop;
//!   after the last server `f.servfail()`.
//! * Local change (HTTP `PUT/DELETE /name`, container death): `add_entry_fqdn`, `delete`,
//!   `container_died` return the `GossipData` to broadcast on channel `nameserver` (tag 6,
//!   payload `encode()`).
//! * Gossip received: `on_gossip` (tag 4) / `on_gossip_broadcast` (tag 6) with the payload, now
//!   and the known-peer test; relay `reply.relay` (encoded) as mesh does, broadcast
//!   `reply.broadcast` as our own; an `Err` is what Weave hands mesh (which drops the connection).
//! * Periodic gossip (every 30 s) and new connections: `gossip(now).encode()`.
//! * Every [`PURGE_INTERVAL_SECS`]: `purge_tombstones(now)`. Peer removed from the topology:
//!   `peer_gone(peer)`.
#![forbid(unsafe_code)]

pub mod answer;
pub mod clients;
pub mod entries;
pub mod entry;
mod fast;
mod fuzz;
pub mod gossip;
pub mod json;
pub mod message;
pub mod names;
pub mod nameserver;
pub mod resolv;
pub mod upstream;

pub use answer::{Action, Responder, DEFAULT_TTL};
pub use clients::{ClientNets, Rate, RateLimiter};
pub use entries::Entries;
pub use entry::Entry;
pub use fuzz::{fuzz_answer, fuzz_gossip};
pub use gossip::GossipData;
pub use message::Transport;
pub use names::DEFAULT_DOMAIN;
pub use nameserver::{
    GossipError, GossipReply, Nameserver, CHANNEL, GOSSIP_WINDOW_SECS, PURGE_INTERVAL_SECS,
    TOMBSTONE_TIMEOUT_SECS,
};
pub use upstream::{Forward, UpstreamQuery, UPSTREAM_TIMEOUT};
