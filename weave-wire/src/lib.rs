//! Weave Net 2.8 wire formats. Everything here is pure: bytes in, values out, no I/O and no clock.
#![forbid(unsafe_code)]

/// The cipher code lives in `weave-crypto`; the TCP and sleeve formats here are defined with it.
pub use weave_crypto as crypto;
pub mod gob;
pub mod gojson;
pub mod peer_name;
pub mod protocol;
pub mod sleeve;
pub mod topology;

pub use compact_str::CompactString;
pub use peer_name::{PeerName, PeerNameError, PEER_NAME_FLAVOUR};
pub use topology::{ConnectionSummary, PeerSummary, ShortBytes};
