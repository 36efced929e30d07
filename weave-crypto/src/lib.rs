//! Weave Net 2.8's cryptography (mesh's `protocol_crypto.go`, weave's `router/frame_crypto.go`).
//!
//! - [`key`]: the ephemeral X25519 key pair of each connection, NaCl's `crypto_box_beforenm`
//!   (Go's `box.Precompute`), the session key, and the password. Low-order public keys are
//!   refused; every secret is zeroized on drop and never shows in Debug output.
//! - [`secretbox`]: NaCl's secretbox (XSalsa20-Poly1305). Its Salsa20 keystream ([`keystream`],
//!   with AVX2) and [`poly1305`] are this crate's own: they are the sleeve's measured hot path.
//!   Everything else comes from maintained crates (x25519-dalek, salsa20's HSalsa20, sha2,
//!   subtle, zeroize), and the tests hold ours against RustCrypto's `crypto_box` and
//!   `crypto_secretbox` and against libsodium's and RFC 8439's known answers.
//! - [`tcp`] and [`sleeve`]: Weave's nonce layouts for the TCP control connection and the sleeve
//!   UDP datapath, with [`ReplayWindow`]. Both use the same session key; the nonces keep them
//!   apart.
//!
//! - [`aead`]: the sleeve suite weave peers negotiate between themselves (ring's AES-256-GCM or
//!   ChaCha20-Poly1305, HKDF keys per direction, path and epoch), beside [`sleeve`]'s NaCl, with
//!   the same packet layout and [`ReplayWindow`]; [`suite`] puts the two behind one seal/open.
//!
//! Unsafe code lives only in `keystream::avx2` (SIMD intrinsics), each block with its reason.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod aead;
pub mod key;
pub mod keystream;
pub mod poly1305;
pub mod replay;
pub mod secretbox;
pub mod sleeve;
pub mod suite;
pub mod tcp;

#[cfg(test)]
mod kat_tests;

pub use aead::{SleeveCipher, Suite};
pub use key::{KeyPair, Password, SessionKey};
pub use replay::ReplayWindow;
pub use sleeve::{SleeveDecryptor, SleeveEncryptor, DF_BIT, SEALED_PREFIX_LEN, SEQ_LEN};
pub use suite::{PacketOpener, PacketSealer};
pub use tcp::{TcpReceiver, TcpSender};

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
    /// The X25519 result would be all zeros, whatever our key: with the password, every such
    /// connection would share one session key, with nonce counters from zero.
    #[error(
        "the peer sent a low-order public key (the shared secret would be all zeros); honest peers never do"
    )]
    LowOrderKey,
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
    /// 2^63 packets sealed on one path: no nonce is left (never reached in practice).
    #[error("the sleeve packet counter is exhausted; the connection must be remade")]
    Exhausted,
    #[error("the AEAD refused to seal {0} bytes")]
    AeadSeal(usize),
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
