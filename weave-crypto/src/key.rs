//! The secrets of a connection: a fresh X25519 key pair per connection, NaCl's
//! `crypto_box_beforenm` of our private and the peer's public key (Go's `box.Precompute`:
//! X25519, then HSalsa20 with a zero input), and the session key
//! `SHA-256(beforenm || password)` that the control connection and the sleeve both use.
//!
//! X25519 is x25519-dalek's and HSalsa20 the `salsa20` crate's (the pieces RustCrypto's
//! `crypto_box` is built from; the tests check we agree with it). `crypto_box` itself cannot
//! serve here: it keeps the precomputed key inside its cipher, and Weave hashes it with the
//! password.
//!
//! Every secret here is zeroized when dropped and prints as `..` in Debug output. Copies
//! the compiler makes in registers or on the stack on the way are beyond reach.

use std::fmt;
use std::ops::Deref;

use salsa20::cipher::consts::U10;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, KEY_LEN};

/// HSalsa20 of a 32-byte key and a 16-byte input (NaCl's `crypto_core_hsalsa20`).
pub fn hsalsa20(key: &[u8; KEY_LEN], input: &[u8; 16]) -> Zeroizing<[u8; KEY_LEN]> {
    Zeroizing::new(salsa20::hsalsa::<U10>(key.into(), input.into()).into())
}

/// An X25519 key pair (NaCl `box` keys). Weave makes a fresh one per connection.
#[derive(Clone)]
pub struct KeyPair {
    public: [u8; KEY_LEN],
    secret: StaticSecret,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair").field("public", &Hex(&self.public)).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh key pair from the OS's random source (as NaCl's `box.GenerateKey`).
    pub fn generate() -> Result<KeyPair, CryptoError> {
        let mut private = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(private.as_mut()).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(KeyPair::from_private(*private))
    }

    /// The pair for a given private key (clamping happens inside X25519, as in NaCl).
    pub fn from_private(private: [u8; KEY_LEN]) -> KeyPair {
        let secret = StaticSecret::from(private);
        KeyPair { public: PublicKey::from(&secret).to_bytes(), secret }
    }

    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// NaCl's `crypto_box_beforenm(remote_public, our_private)`. A low-order `remote_public`
    /// (one that makes the X25519 result all zeros whatever our key) is refused, as libsodium
    /// refuses it; Go's `box.Precompute` accepts it, but an honest peer never sends one.
    pub fn precompute(&self, remote_public: &[u8; KEY_LEN]) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*remote_public));
        // Constant time: true unless all 32 bytes are zero.
        if !shared.was_contributory() {
            return Err(CryptoError::LowOrderKey);
        }
        Ok(hsalsa20(shared.as_bytes(), &[0; 16]))
    }

    /// The session key with the peer whose public key is `remote_public`:
    /// `SHA-256(crypto_box_beforenm(remote_public, our_private) || password)`.
    pub fn session_key(
        &self,
        remote_public: &[u8; KEY_LEN],
        password: &[u8],
    ) -> Result<SessionKey, CryptoError> {
        let mut h = Sha256::new();
        h.update(self.precompute(remote_public)?.as_slice());
        h.update(password);
        Ok(SessionKey(h.finalize().into()))
    }
}

/// The key both ends use for the TCP control connection and the sleeve.
#[derive(Clone)]
pub struct SessionKey([u8; KEY_LEN]);

impl SessionKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SessionKey {
        SessionKey(bytes)
    }

    /// The key's bytes, to key a cipher or derive further keys with.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SessionKey {}

impl PartialEq for SessionKey {
    fn eq(&self, other: &SessionKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SessionKey {}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// The network password (`--password`, `WEAVE_PASSWORD` or `--password-file`).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    pub fn new(bytes: Vec<u8>) -> Password {
        Password(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Password {
    /// Takes the string's buffer as it is (no copy is left behind).
    fn from(s: String) -> Password {
        Password::new(s.into_bytes())
    }
}

impl Deref for Password {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl ZeroizeOnDrop for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
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
    use crypto_box::aead::AeadInPlace;

    #[test]
    fn both_ends_derive_the_same_session_key() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_ne!(a.public(), b.public());
        let ka = a.session_key(b.public(), b"pw").unwrap();
        let kb = b.session_key(a.public(), b"pw").unwrap();
        assert_eq!(ka, kb);
        assert_ne!(ka, a.session_key(b.public(), b"other").unwrap());
    }

    /// Our beforenm keys a secretbox exactly as RustCrypto's `crypto_box` keys its own.
    #[test]
    fn precompute_agrees_with_crypto_box() {
        let mut next = crate::test_rng(0x5eed_0fba_5e00);
        for _ in 0..64 {
            let ours: [u8; 32] = std::array::from_fn(|_| next() as u8);
            let theirs: [u8; 32] = std::array::from_fn(|_| next() as u8);
            let nonce: [u8; 24] = std::array::from_fn(|_| next() as u8);
            let msg: Vec<u8> = (0..(next() % 200) as usize).map(|_| next() as u8).collect();
            let pair = KeyPair::from_private(ours);
            let their_public = crypto_box::SecretKey::from(theirs).public_key();
            let reference = crypto_box::SalsaBox::new(&their_public, &crypto_box::SecretKey::from(ours));
            let mut want = msg.clone();
            let want_tag = reference.encrypt_in_place_detached((&nonce).into(), b"", &mut want).unwrap();

            let key = pair.precompute(their_public.as_bytes()).unwrap();
            let mut got = msg.clone();
            let tag = crate::secretbox::SecretBox::new(&key).seal_detached(&nonce, &mut got);
            assert_eq!((got, &tag[..]), (want, &want_tag[..]));
        }
    }

    /// The points of order 1, 2, 4 and 8 (libsodium's blocklist in
    /// testdata/crypto/x25519_low_order.txt), with and without bit 255 set (X25519 ignores it).
    #[test]
    fn low_order_public_keys_are_refused() {
        let points = crate::kat_tests::records("x25519_low_order.txt");
        assert_eq!(points.len(), 7);
        let pair = KeyPair::generate().unwrap();
        for p in points {
            let mut point: [u8; 32] = p.bytes("point").try_into().unwrap();
            for _ in 0..2 {
                assert_eq!(pair.precompute(&point).unwrap_err(), CryptoError::LowOrderKey, "{point:02x?}");
                assert_eq!(pair.session_key(&point, b"pw").unwrap_err(), CryptoError::LowOrderKey);
                point[31] ^= 0x80;
            }
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output_and_are_zeroized_on_drop() {
        fn zeroized_on_drop<T: ZeroizeOnDrop>() {}
        zeroized_on_drop::<SessionKey>();
        zeroized_on_drop::<Password>();
        zeroized_on_drop::<StaticSecret>();

        let pair = KeyPair::from_private([0x42; 32]);
        let shown = format!("{pair:?}");
        assert!(shown.contains(&format!("{:?}", Hex(pair.public()))), "{shown}");
        assert!(!shown.contains(&"42".repeat(32)), "{shown}");
        assert_eq!(format!("{:?}", SessionKey::from_bytes([0x42; 32])), "SessionKey(..)");
        let password = Password::from("correct horse".to_string());
        assert_eq!(&*password, b"correct horse");
        assert_eq!(format!("{password:?}"), "Password(..)");
    }
}
