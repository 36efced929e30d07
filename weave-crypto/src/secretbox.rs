//! NaCl's `secretbox` (XSalsa20 + Poly1305), the cipher Weave uses on both the control
//! connection and the sleeve: HSalsa20 (the `salsa20` crate's) turns the key and the first 16
//! nonce bytes into a subkey, whose Salsa20 keystream ([`crate::keystream`]) from byte 32 on
//! encrypts, and whose first 32 bytes key [`poly1305`] over the ciphertext.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::key::hsalsa20;
use crate::keystream::{self, words, Simd, BATCH};
use crate::poly1305;

/// A secretbox key.
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; 32],
}

impl Drop for SecretBox {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ZeroizeOnDrop for SecretBox {}

fn xor_in(data: &mut [u8], ks: &[u8]) {
    let mut d = data.chunks_exact_mut(8);
    let mut k = ks.chunks_exact(8);
    for (a, b) in (&mut d).zip(&mut k) {
        let v = u64::from_ne_bytes(a.try_into().expect("8")) ^ u64::from_ne_bytes(b.try_into().expect("8"));
        a.copy_from_slice(&v.to_ne_bytes());
    }
    for (a, b) in d.into_remainder().iter_mut().zip(k.remainder()) {
        *a ^= b;
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> SecretBox {
        SecretBox { key: *key }
    }

    /// The cipher for nonces that start with `prefix`: HSalsa20 runs once here instead of once
    /// per message (the sleeve's nonces differ only in their last 8 bytes).
    pub fn with_nonce_prefix(&self, prefix: &[u8; 16]) -> PrefixedBox {
        PrefixedBox { sub: words(hsalsa20(&self.key, prefix).as_slice()), simd: Simd::detect() }
    }

    fn split(&self, nonce: &[u8; 24]) -> (PrefixedBox, [u8; 8]) {
        let (prefix, tail) = nonce.split_at(16);
        (self.with_nonce_prefix(prefix.try_into().expect("16")), tail.try_into().expect("8"))
    }

    /// Encrypts `buf` in place and returns the tag (NaCl's `crypto_secretbox` detached).
    pub fn seal_detached(&self, nonce: &[u8; 24], buf: &mut [u8]) -> [u8; 16] {
        let (b, tail) = self.split(nonce);
        b.seal_detached(&tail, buf)
    }

    /// Checks `tag` and decrypts `buf` in place; `buf` is unchanged when the tag is wrong.
    pub fn open_detached(&self, nonce: &[u8; 24], buf: &mut [u8], tag: &[u8]) -> bool {
        let (b, tail) = self.split(nonce);
        b.open_detached(&tail, buf, tag)
    }
}

/// XSalsa20-Poly1305 under one key and one 16-byte nonce prefix; messages give the last 8.
#[derive(Clone)]
pub struct PrefixedBox {
    /// The HSalsa20 subkey.
    sub: [u32; 8],
    simd: Option<Simd>,
}

impl Drop for PrefixedBox {
    fn drop(&mut self) {
        self.sub.zeroize();
    }
}

impl ZeroizeOnDrop for PrefixedBox {}

impl PrefixedBox {
    /// XORs `data` with the keystream of nonce tail `n` from byte `at` of block `counter` on.
    /// `ks[..made]` may already hold the keystream from block `counter` (`made` 0 if not).
    fn xor_stream(
        &self,
        n: [u32; 2],
        data: &mut [u8],
        ks: &mut [u8; BATCH],
        mut counter: u64,
        mut made: usize,
        mut at: usize,
    ) {
        let mut pos = 0;
        loop {
            let take = made.saturating_sub(at).min(data.len() - pos);
            xor_in(&mut data[pos..pos + take], &ks[at..at + take]);
            pos += take;
            if pos == data.len() {
                return;
            }
            at = at.saturating_sub(made);
            counter = counter.wrapping_add((made / 64) as u64);
            made = keystream::fill(&self.sub, n, counter, self.simd, ks);
        }
    }

    /// The keystream's first batch and, from its first 32 bytes, the Poly1305 key.
    fn start(&self, n: [u32; 2], ks: &mut [u8; BATCH]) -> (usize, [u8; 32]) {
        let made = keystream::fill(&self.sub, n, 0, self.simd, ks);
        (made, ks[..32].try_into().expect("32"))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_detached(&self, tail: &[u8; 8], buf: &mut [u8]) -> [u8; 16] {
        let n = words(tail);
        let mut ks = [0u8; BATCH];
        let (made, poly_key) = self.start(n, &mut ks);
        self.xor_stream(n, buf, &mut ks, 0, made, 32);
        poly1305::tag(&poly_key, buf)
    }

    /// Checks `tag` and decrypts `buf` in place; `buf` is unchanged when the tag is wrong.
    pub fn open_detached(&self, tail: &[u8; 8], buf: &mut [u8], tag: &[u8]) -> bool {
        let n = words(tail);
        let mut ks = [0u8; BATCH];
        let (made, poly_key) = self.start(n, &mut ks);
        // Constant time: the comparison does not stop at the first differing byte (and a tag
        // of the wrong length compares unequal).
        if !bool::from(poly1305::tag(&poly_key, buf).ct_eq(tag)) {
            return false;
        }
        self.xor_stream(n, buf, &mut ks, 0, made, 32);
        true
    }

    /// Raw XSalsa20 (no Poly1305): XORs `data` with the keystream of nonce tail `tail` from
    /// block `counter` on (libsodium's `crypto_stream_xsalsa20_xor_ic`). For the known-answer
    /// tests.
    #[cfg(test)]
    pub(crate) fn xor_ic(&self, tail: &[u8; 8], counter: u64, data: &mut [u8]) {
        self.xor_stream(words(tail), data, &mut [0u8; BATCH], counter, 0, 0);
    }

    /// The same cipher on the portable keystream, for tests and fuzzing where the CPU has AVX2.
    pub fn portable(mut self) -> PrefixedBox {
        self.simd = None;
        self
    }

    /// Whether the keystream is made with AVX2.
    pub fn has_simd(&self) -> bool {
        self.simd.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_secretbox::aead::{AeadInPlace, KeyInit};
    use crypto_secretbox::{Nonce, XSalsa20Poly1305};

    fn reference(key: &[u8; 32], nonce: &[u8; 24], data: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let mut buf = data.to_vec();
        let tag = XSalsa20Poly1305::new(key.into())
            .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", &mut buf)
            .expect("no associated data");
        (buf, tag.into())
    }

    #[test]
    fn matches_the_reference_at_every_length_up_to_a_jumbo_packet() {
        let mut next = crate::test_rng(0x1234_5678_9abc_def0u64);
        let lens = (0..700usize).chain([1400, 1438, 4096, 9000, 65000]);
        for len in lens {
            let key: [u8; 32] = std::array::from_fn(|_| next() as u8);
            let nonce: [u8; 24] = std::array::from_fn(|_| next() as u8);
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let (want_ct, want_tag) = reference(&key, &nonce, &data);
            let sb = SecretBox::new(&key);
            let mut buf = data.clone();
            let tag = sb.seal_detached(&nonce, &mut buf);
            assert_eq!(buf, want_ct, "ciphertext, length {len}");
            assert_eq!(tag, want_tag, "tag, length {len}");
            assert!(sb.open_detached(&nonce, &mut buf, &tag));
            assert_eq!(buf, data, "round trip, length {len}");
            if len > 0 {
                let mut bad = want_ct.clone();
                bad[len / 2] ^= 1;
                assert!(!sb.open_detached(&nonce, &mut bad, &tag), "a flipped bit is refused");
            }
        }
    }

    /// The one-block path, used where the CPU lacks AVX2 (this machine has it, so force it).
    #[test]
    fn the_path_without_avx2_matches_the_reference() {
        let (key, prefix, tail) = ([0x42u8; 32], [0x17u8; 16], [0x99u8; 8]);
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(&prefix);
        nonce[16..].copy_from_slice(&tail);
        let b = SecretBox::new(&key).with_nonce_prefix(&prefix).portable();
        for len in [0usize, 1, 31, 32, 33, 63, 64, 65, 100, 511, 512, 513, 1438, 4096] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let (want, want_tag) = reference(&key, &nonce, &data);
            let mut got = data.clone();
            let tag = b.seal_detached(&tail, &mut got);
            assert_eq!((got.as_slice(), tag), (want.as_slice(), want_tag), "length {len}");
            assert!(b.open_detached(&tail, &mut got, &tag), "length {len}");
            assert_eq!(got, data, "length {len}");
        }
    }
}
