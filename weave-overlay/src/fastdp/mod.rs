//! fastdp's pure parts: the heartbeat frame ([`heartbeat`]), what a peer's VXLAN device is
//! made from ([`spec`]) and the forwarder's control core ([`control`]). The daemon makes the
//! devices and sends the heartbeats.

pub mod control;
pub mod heartbeat;
pub mod spec;
