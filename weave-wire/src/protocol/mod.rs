//! The mesh TCP control protocol (port 6783), as mesh's `protocol.go` speaks it: the 7-byte
//! header and version negotiation, the version 2 intro (encryption flag and public key), and the
//! submodules for framing, the features map and the tagged messages that follow.
//!
//! Handshake order on a connection (both sides send concurrently, then read):
//! 1. header `"weave" min max` ([`Header`]); negotiate with [`negotiate`];
//! 2. v2 intro: flag byte, plus a 32-byte Curve25519 public key when a password is set
//!    ([`Intro`]); the session key comes from [`crate::crypto::session_key`];
//! 3. length-prefixed messages ([`framing`]), encrypted when the intro was; the first one is the
//!    features map ([`features`]), every later one `tag | payload` ([`message`]).
//!
//! Only protocol version 2 is implemented. Version 1 (a single gob stream carrying the
//! features map in clear and `[]byte` messages) is not: a caller that negotiates 1 must refuse
//! the connection. Every Weave Net release since 1.2 offers 2.

pub mod features;
pub mod framing;
pub mod message;

pub use features::{connection_uid, Features, FeaturesError, MAX_FEATURES_FRAME};
pub use framing::{encode_frame, encode_frame_into, FrameDecoder, FrameError, MAX_MSG_SIZE};
pub use message::{GossipMsg, Message, MessageError, Tag, UnicastMsg};

use std::fmt;

/// The protocol name at the start of every connection.
pub const PROTOCOL: &[u8; 5] = b"weave";
/// Lowest version Weave Net 2.8 offers by default (`--min-protocol-version`).
pub const PROTOCOL_MIN_VERSION: u8 = 1;
/// Highest version Weave Net 2.8 speaks; the only one implemented here.
pub const PROTOCOL_MAX_VERSION: u8 = 2;
/// Length of the header: name, min version, max version.
pub const HEADER_LEN: usize = 7;
/// Length of a Curve25519 public key in the v2 intro.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Errors of the header exchange and the v2 intro. Texts are Weave's, so logs read the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("received incomplete remote protocol header ({} octets instead of {HEADER_LEN}): {}", .0.len(), GoBytes(.0))]
    IncompleteHeader(Vec<u8>),
    #[error("remote protocol header not recognised: {}", GoBytes(.0))]
    NotWeave(Vec<u8>),
    #[error(
        "remote version range [{their_min},{their_max}] is incompatible with ours [{our_min},{our_max}]"
    )]
    IncompatibleVersions { their_min: u8, their_max: u8, our_min: u8, our_max: u8 },
    #[error("password specified, but peer requested an unencrypted connection")]
    ExpectedCrypto,
    /// Weave's text, including its spelling.
    #[error("no password specificed, but peer requested an encrypted connection")]
    ExpectedNoCrypto,
    #[error("Bad encryption flag {0}")]
    BadEncryptionFlag(u8),
}

/// Formats bytes as Go's `%v` does for a `[]byte`: `[119 101 97]`.
struct GoBytes<'a>(&'a [u8]);

impl fmt::Display for GoBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b}")?;
        }
        f.write_str("]")
    }
}

/// The 7-byte protocol header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub min_version: u8,
    pub max_version: u8,
}

impl Default for Header {
    /// What weaver sends by default: `weave 1 2`.
    fn default() -> Self {
        Header { min_version: PROTOCOL_MIN_VERSION, max_version: PROTOCOL_MAX_VERSION }
    }
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..5].copy_from_slice(PROTOCOL);
        out[5] = self.min_version;
        out[6] = self.max_version;
        out
    }

    /// Parses the first 7 bytes of `bytes` (extra bytes are not looked at).
    pub fn decode(bytes: &[u8]) -> Result<Header, HandshakeError> {
        let Some(h) = bytes.get(..HEADER_LEN) else {
            return Err(HandshakeError::IncompleteHeader(bytes.to_vec()));
        };
        if &h[..5] != PROTOCOL {
            return Err(HandshakeError::NotWeave(h[..5].to_vec()));
        }
        Ok(Header { min_version: h[5], max_version: h[6] })
    }
}

/// Weave's rule: the highest version both offer, i.e. `min(our_max, their_max)`, which must not
/// be below `max(our_min, their_min)`.
pub fn negotiate(our_min: u8, our_max: u8, their_min: u8, their_max: u8) -> Result<u8, HandshakeError> {
    let lo = our_min.max(their_min);
    let hi = our_max.min(their_max);
    if lo > hi {
        return Err(HandshakeError::IncompatibleVersions { their_min, their_max, our_min, our_max });
    }
    Ok(hi)
}

/// The v2 intro after the header: whether the sender has a password, and if so its ephemeral
/// public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intro {
    /// Flag byte 0.
    Plain,
    /// Flag byte 1 followed by the sender's ephemeral Curve25519 public key.
    Encrypted { public_key: [u8; PUBLIC_KEY_LEN] },
}

impl Intro {
    pub const FLAG_PLAIN: u8 = 0;
    pub const FLAG_ENCRYPTED: u8 = 1;

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Intro::Plain => vec![Self::FLAG_PLAIN],
            Intro::Encrypted { public_key } => {
                let mut out = Vec::with_capacity(1 + PUBLIC_KEY_LEN);
                out.push(Self::FLAG_ENCRYPTED);
                out.extend_from_slice(public_key);
                out
            }
        }
    }

    /// Parses the peer's intro from the bytes received after its header. `password_set` says
    /// whether we have a password: as in Weave, a mismatch is an error as soon as the flag byte
    /// is known. `Ok(None)`: more bytes are needed (1 for the flag, then 32 for the key).
    /// On success also returns how many bytes the intro took (1 or 33).
    pub fn decode(bytes: &[u8], password_set: bool) -> Result<Option<(Intro, usize)>, HandshakeError> {
        let Some(&flag) = bytes.first() else {
            return Ok(None);
        };
        match flag {
            Self::FLAG_PLAIN if password_set => Err(HandshakeError::ExpectedCrypto),
            Self::FLAG_PLAIN => Ok(Some((Intro::Plain, 1))),
            Self::FLAG_ENCRYPTED if !password_set => Err(HandshakeError::ExpectedNoCrypto),
            Self::FLAG_ENCRYPTED => {
                let Some(key) = bytes.get(1..1 + PUBLIC_KEY_LEN) else {
                    return Ok(None);
                };
                let mut public_key = [0u8; PUBLIC_KEY_LEN];
                public_key.copy_from_slice(key);
                Ok(Some((Intro::Encrypted { public_key }, 1 + PUBLIC_KEY_LEN)))
            }
            other => Err(HandshakeError::BadEncryptionFlag(other)),
        }
    }

    /// The peer's public key, if it sent one.
    pub fn public_key(&self) -> Option<&[u8; PUBLIC_KEY_LEN]> {
        match self {
            Intro::Plain => None,
            Intro::Encrypted { public_key } => Some(public_key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_errors() {
        let h = Header::default();
        assert_eq!(&h.encode(), b"weave\x01\x02");
        assert_eq!(Header::decode(b"weave\x01\x02"), Ok(h));
        assert_eq!(
            Header::decode(b"wea").unwrap_err().to_string(),
            "received incomplete remote protocol header (3 octets instead of 7): [119 101 97]"
        );
        assert_eq!(
            Header::decode(b"WEAVE\x01\x02").unwrap_err().to_string(),
            "remote protocol header not recognised: [87 69 65 86 69]"
        );
    }

    #[test]
    fn negotiation_follows_weave() {
        assert_eq!(negotiate(1, 2, 1, 2), Ok(2));
        assert_eq!(negotiate(1, 2, 1, 1), Ok(1));
        assert_eq!(negotiate(2, 2, 1, 3), Ok(2));
        assert_eq!(
            negotiate(2, 2, 1, 1).unwrap_err().to_string(),
            "remote version range [1,1] is incompatible with ours [2,2]"
        );
        assert!(negotiate(1, 2, 3, 4).is_err());
    }

    #[test]
    fn intro_flags_and_mismatches() {
        let key = [7u8; 32];
        let enc = Intro::Encrypted { public_key: key }.encode();
        assert_eq!(enc.len(), 33);
        assert_eq!(Intro::decode(&enc[..10], true), Ok(None));
        assert_eq!(Intro::decode(&[], true), Ok(None));
        assert_eq!(Intro::decode(&enc, true), Ok(Some((Intro::Encrypted { public_key: key }, 33))));
        assert_eq!(Intro::decode(&[0, 9], false), Ok(Some((Intro::Plain, 1))));
        assert_eq!(
            Intro::decode(&[0], true).unwrap_err().to_string(),
            "password specified, but peer requested an unencrypted connection"
        );
        assert_eq!(Intro::decode(&enc[..1], false).unwrap_err(), HandshakeError::ExpectedNoCrypto);
        assert_eq!(Intro::decode(&[2], false).unwrap_err().to_string(), "Bad encryption flag 2");
    }
}
