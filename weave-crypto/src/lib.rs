//! Weave Net 2.8's cryptography (mesh's `protocol_crypto.go`, weave's `router/frame_crypto.go`):
//! ephemeral Curve25519 key pairs, the session key, and NaCl secretbox (XSalsa20-Poly1305)
//! with Weave's nonce layouts for the TCP control connection ([`tcp`]) and the sleeve UDP
//! datapath ([`sleeve`]). Both use the same session key; the nonces keep them apart.

pub mod poly1305;
pub mod replay;
pub mod secretbox;
pub mod sleeve;
pub mod tcp;

pub use replay::ReplayWindow;
pub use sleeve::{SleeveDecryptor, SleeveEncryptor, DF_BIT, SEALED_PREFIX_LEN, SEQ_LEN};
pub use tcp::{TcpReceiver, TcpSender};

use std::fmt;

use secretbox::SecretBox;
use sha2::{Digest, Sha256};

/// Curve25519 key and session key length.
pub const KEY_LEN: usize = 32;
/// Poly1305 tag length; NaCl puts the tag in front of the ciphertext.
pub const TAG_LEN: usize = 16;
/// Secretbox nonce length.
pub const NONCE_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("cannot generate a key pair: no randomness from the OS ({0})")]
    Random(String),
    /// Weave's text; the connection must be closed.
    #[error("Unable to decrypt TCP msg")]
    TcpDecrypt,
    /// Weave's text (`PacketDecodingError`).
    #[error("Failed to decode packet: encrypted UDP packet too short; expected length >= 8, got {0}")]
    UdpTooShort(usize),
    /// Weave's text (`PacketDecodingError`).
    #[error("Failed to decode packet: UDP packet decryption failed")]
    UdpDecrypt,
    #[error("buffer of {len} bytes has no room for the {need}-byte sequence number and tag")]
    NoRoom { len: usize, need: usize },
}

/// A Curve25519 key pair (NaCl `box` keys). Weave makes a fresh one per connection.
#[derive(Clone)]
pub struct KeyPair {
    public: [u8; KEY_LEN],
    private: [u8; KEY_LEN],
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair").field("public", &Hex(&self.public)).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh ephemeral key pair from the OS's random source (as NaCl `box.GenerateKey`).
    pub fn generate() -> Result<KeyPair, CryptoError> {
        let mut private = [0u8; KEY_LEN];
        getrandom::fill(&mut private).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(KeyPair::from_private(private))
    }

    /// The pair for a given private key (clamping happens inside X25519, as in NaCl).
    pub fn from_private(private: [u8; KEY_LEN]) -> KeyPair {
        let public = x25519_dalek::x25519(private, x25519_dalek::X25519_BASEPOINT_BYTES);
        KeyPair { public, private }
    }

    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    pub fn private(&self) -> &[u8; KEY_LEN] {
        &self.private
    }
}

/// NaCl `crypto_box_beforenm` (Go's `box.Precompute`): HSalsa20 of the X25519 shared point with
/// a zero nonce. Like NaCl, a low-order public key is not rejected (it yields a fixed key).
pub fn shared_key(remote_public: &[u8; KEY_LEN], local_private: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let point = x25519_dalek::x25519(*local_private, *remote_public);
    secretbox::hsalsa20(&point, &[0u8; 16])
}

/// The key both ends use for TCP and sleeve encryption.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(pub [u8; KEY_LEN]);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// `SHA-256(crypto_box_beforenm(remote_public, local_private) || password)`.
pub fn session_key(
    local_private: &[u8; KEY_LEN],
    remote_public: &[u8; KEY_LEN],
    password: &[u8],
) -> SessionKey {
    let mut h = Sha256::new();
    h.update(shared_key(remote_public, local_private));
    h.update(password);
    SessionKey(h.finalize().into())
}

/// The secretbox cipher for a session key.
fn cipher(key: &SessionKey) -> SecretBox {
    SecretBox::new(&key.0)
}

/// Encrypts `buf` in place and returns the tag.
fn seal_detached(c: &SecretBox, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; TAG_LEN] {
    c.seal_detached(nonce, buf)
}

/// Checks `tag` and decrypts `buf` in place; `buf` is unchanged on failure.
fn open_detached(c: &SecretBox, nonce: &[u8; NONCE_LEN], buf: &mut [u8], tag: &[u8]) -> bool {
    c.open_detached(nonce, buf, tag)
}

/// A deterministic xorshift generator for the crypto tests' random inputs.
#[cfg(test)]
pub(crate) fn test_rng(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_derive_the_same_session_key() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_ne!(a.public(), b.public());
        let ka = session_key(a.private(), b.public(), b"pw");
        let kb = session_key(b.private(), a.public(), b"pw");
        assert_eq!(ka, kb);
        assert_ne!(ka, session_key(a.private(), b.public(), b"other"));
        assert!(!format!("{a:?}").contains("private"));
    }
}
