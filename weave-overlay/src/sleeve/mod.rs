//! Sleeve, Weave's userspace overlay over UDP: the connection's shared state
//! ([`forwarder`]), its control core ([`control`]), the packet path ([`datapath`]) and the
//! ports it runs over ([`port`], with in-memory ones in [`mem`]).

pub mod control;
pub mod datapath;
pub mod forwarder;
pub mod mem;
pub mod port;
