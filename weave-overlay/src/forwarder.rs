//! What every overlay forwarder (sleeve, fastdp) and the overlay switch say to each other:
//! one forwarder per overlay per connection, driven by [`Ctl`] and reporting with [`Up`].

use std::collections::BTreeMap;

/// From the overlay switch to a forwarder's task.
#[derive(Debug, Clone, PartialEq)]
pub enum Ctl {
    /// The mesh confirmed the connection: start heartbeats.
    Confirm,
    /// A control message from the peer's forwarder of the same overlay.
    Control { tag: u8, payload: Vec<u8> },
}

/// From a forwarder's task to the overlay switch.
#[derive(Debug, Clone, PartialEq)]
pub enum Up {
    /// Frames reach the peer (it acknowledged our heartbeats).
    Established,
    /// The forwarder cannot carry traffic any more; the switch drops it.
    Failed(String),
    /// A control message for the peer's forwarder of the same overlay.
    SendControl { tag: u8, payload: Vec<u8> },
    /// Weave's connection attributes (`name`, `mtu`, ...).
    Attrs(BTreeMap<String, serde_json::Value>),
    /// The forwarder stopped (or resumed) carrying traffic, and why; it may come back.
    Health { healthy: bool, reason: String },
}
