//! NaCl's `secretbox` (XSalsa20 + Poly1305), the cipher Weave uses on both the control
//! connection and the sleeve. The packet path encrypts every byte it sends, so the Salsa20
//! keystream is generated eight blocks at a time with AVX2 where the CPU has it (a portable
//! one-block version otherwise); Poly1305 is ours too (see `poly1305`).
//! Written from the Salsa20/XSalsa20 specifications; checked against the captured Weave
//! traffic and against the RustCrypto implementation in tests.

use crate::poly1305;

const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// A secretbox key, expanded for the keystream.
#[derive(Clone)]
pub struct SecretBox {
    key: [u32; 8],
}

fn words<const N: usize>(b: &[u8]) -> [u32; N] {
    let mut w = [0u32; N];
    for (i, c) in b.chunks_exact(4).take(N).enumerate() {
        w[i] = u32::from_le_bytes(c.try_into().expect("4 bytes"));
    }
    w
}

macro_rules! quarter {
    ($x:ident, $a:expr, $b:expr, $c:expr, $d:expr, $add:ident, $xor:ident, $rotl:ident) => {
        $x[$b] = $xor($x[$b], $rotl::<7>($add($x[$a], $x[$d])));
        $x[$c] = $xor($x[$c], $rotl::<9>($add($x[$b], $x[$a])));
        $x[$d] = $xor($x[$d], $rotl::<13>($add($x[$c], $x[$b])));
        $x[$a] = $xor($x[$a], $rotl::<18>($add($x[$d], $x[$c])));
    };
}

macro_rules! double_round {
    ($x:ident, $add:ident, $xor:ident, $rotl:ident) => {
        quarter!($x, 0, 4, 8, 12, $add, $xor, $rotl);
        quarter!($x, 5, 9, 13, 1, $add, $xor, $rotl);
        quarter!($x, 10, 14, 2, 6, $add, $xor, $rotl);
        quarter!($x, 15, 3, 7, 11, $add, $xor, $rotl);
        quarter!($x, 0, 1, 2, 3, $add, $xor, $rotl);
        quarter!($x, 5, 6, 7, 4, $add, $xor, $rotl);
        quarter!($x, 10, 11, 8, 9, $add, $xor, $rotl);
        quarter!($x, 15, 12, 13, 14, $add, $xor, $rotl);
    };
}

#[inline(always)]
fn add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}
#[inline(always)]
fn xor(a: u32, b: u32) -> u32 {
    a ^ b
}
#[inline(always)]
fn rotl<const N: u32>(a: u32) -> u32 {
    a.rotate_left(N)
}

fn rounds(x: &mut [u32; 16]) {
    for _ in 0..10 {
        double_round!(x, add, xor, rotl);
    }
}

/// The Salsa20 state for `key`, 8-byte `nonce` and block `counter`.
fn state(key: &[u32; 8], nonce: [u32; 2], counter: u64) -> [u32; 16] {
    [
        SIGMA[0],
        key[0],
        key[1],
        key[2],
        key[3],
        SIGMA[1],
        nonce[0],
        nonce[1],
        counter as u32,
        (counter >> 32) as u32,
        SIGMA[2],
        key[4],
        key[5],
        key[6],
        key[7],
        SIGMA[3],
    ]
}

/// One keystream block.
fn block(init: &[u32; 16], out: &mut [u8; 64]) {
    let mut x = *init;
    rounds(&mut x);
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&x[i].wrapping_add(init[i]).to_le_bytes());
    }
}

/// HSalsa20: the XSalsa20 subkey for the first 16 nonce bytes.
fn hsalsa(key: &[u32; 8], n: &[u8]) -> [u32; 8] {
    let nw: [u32; 4] = words(n);
    let mut x = [
        SIGMA[0], key[0], key[1], key[2], key[3], SIGMA[1], nw[0], nw[1], nw[2], nw[3], SIGMA[2], key[4],
        key[5], key[6], key[7], SIGMA[3],
    ];
    rounds(&mut x);
    [x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]]
}

/// HSalsa20 of a 32-byte key and 16-byte input, as bytes (NaCl's `crypto_core_hsalsa20`).
pub fn hsalsa20(key: &[u8; 32], input: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(hsalsa(&words(key), input)) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    // Helpers carry the feature too, or the intrinsics become calls instead of instructions.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn add(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn xor(a: __m256i, b: __m256i) -> __m256i {
        _mm256_xor_si256(a, b)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn rotl<const N: i32>(a: __m256i) -> __m256i {
        // _mm256_slli_epi32 takes its count as a const; 32 - N is spelled out per N below.
        match N {
            7 => _mm256_or_si256(_mm256_slli_epi32::<7>(a), _mm256_srli_epi32::<25>(a)),
            9 => _mm256_or_si256(_mm256_slli_epi32::<9>(a), _mm256_srli_epi32::<23>(a)),
            13 => _mm256_or_si256(_mm256_slli_epi32::<13>(a), _mm256_srli_epi32::<19>(a)),
            _ => _mm256_or_si256(_mm256_slli_epi32::<18>(a), _mm256_srli_epi32::<14>(a)),
        }
    }

    /// Eight consecutive keystream blocks starting at `init`'s counter.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn blocks8(init: &[u32; 16], out: &mut [u8; 512]) {
        let counter = (init[8] as u64) | ((init[9] as u64) << 32);
        let mut lo = [0i32; 8];
        let mut hi = [0i32; 8];
        for (i, (l, h)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
            let c = counter.wrapping_add(i as u64);
            *l = c as u32 as i32;
            *h = (c >> 32) as u32 as i32;
        }
        let mut x = [_mm256_setzero_si256(); 16];
        for (i, v) in x.iter_mut().enumerate() {
            *v = _mm256_set1_epi32(init[i] as i32);
        }
        x[8] = _mm256_loadu_si256(lo.as_ptr() as *const __m256i);
        x[9] = _mm256_loadu_si256(hi.as_ptr() as *const __m256i);
        let orig = x;
        for _ in 0..10 {
            double_round!(x, add, xor, rotl);
        }
        let mut w = [_mm256_setzero_si256(); 16];
        for i in 0..16 {
            w[i] = _mm256_add_epi32(x[i], orig[i]);
        }
        // Transpose each 8x8 half so that every vector holds 32 consecutive bytes of one block.
        let o = out.as_mut_ptr() as *mut __m256i;
        for half in 0..2 {
            let a = &w[half * 8..half * 8 + 8];
            let t0 = _mm256_unpacklo_epi32(a[0], a[1]);
            let t1 = _mm256_unpackhi_epi32(a[0], a[1]);
            let t2 = _mm256_unpacklo_epi32(a[2], a[3]);
            let t3 = _mm256_unpackhi_epi32(a[2], a[3]);
            let t4 = _mm256_unpacklo_epi32(a[4], a[5]);
            let t5 = _mm256_unpackhi_epi32(a[4], a[5]);
            let t6 = _mm256_unpacklo_epi32(a[6], a[7]);
            let t7 = _mm256_unpackhi_epi32(a[6], a[7]);
            let u = [
                _mm256_unpacklo_epi64(t0, t2),
                _mm256_unpackhi_epi64(t0, t2),
                _mm256_unpacklo_epi64(t1, t3),
                _mm256_unpackhi_epi64(t1, t3),
                _mm256_unpacklo_epi64(t4, t6),
                _mm256_unpackhi_epi64(t4, t6),
                _mm256_unpacklo_epi64(t5, t7),
                _mm256_unpackhi_epi64(t5, t7),
            ];
            for b in 0..4 {
                // Blocks b and b + 4 share u[b] (words 0-3) and u[b + 4] (words 4-7).
                let lo = _mm256_permute2x128_si256::<0x20>(u[b], u[b + 4]);
                let hi = _mm256_permute2x128_si256::<0x31>(u[b], u[b + 4]);
                // SAFETY: (block * 2 + half) < 16 vectors = 512 bytes; unaligned stores.
                _mm256_storeu_si256(o.add(b * 2 + half), lo);
                _mm256_storeu_si256(o.add((b + 4) * 2 + half), hi);
            }
        }
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

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
        SecretBox { key: words(key) }
    }

    /// The cipher for nonces that start with `prefix`: HSalsa20 runs once here instead of once
    /// per message (the sleeve's nonces differ only in their last 8 bytes).
    pub fn with_nonce_prefix(&self, prefix: &[u8; 16]) -> PrefixedBox {
        PrefixedBox { sub: hsalsa(&self.key, prefix), avx2: has_avx2() }
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
    sub: [u32; 8],
    avx2: bool,
}

/// Keystream bytes made per step: eight blocks with AVX2, one without.
const BATCH: usize = 512;

impl PrefixedBox {
    /// Keystream from block `counter` into `ks`; returns how many bytes it made.
    fn keystream(&self, n: [u32; 2], counter: u64, ks: &mut [u8; BATCH]) -> usize {
        let init = state(&self.sub, n, counter);
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: AVX2 was detected when this was made.
            unsafe { avx2::blocks8(&init, ks) };
            return BATCH;
        }
        block(&init, (&mut ks[..64]).try_into().expect("64"));
        64
    }

    /// XORs `data` with the keystream from byte 32 of block 0 on; `ks[..made]` already holds
    /// the keystream from block 0.
    fn xor_stream(&self, n: [u32; 2], data: &mut [u8], ks: &mut [u8; BATCH], mut made: usize) {
        let mut counter = (made / 64) as u64;
        let (mut at, mut pos) = (32, 0);
        loop {
            let take = (made - at).min(data.len() - pos);
            xor_in(&mut data[pos..pos + take], &ks[at..at + take]);
            pos += take;
            if pos == data.len() {
                return;
            }
            made = self.keystream(n, counter, ks);
            counter += (made / 64) as u64;
            at = 0;
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_detached(&self, tail: &[u8; 8], buf: &mut [u8]) -> [u8; 16] {
        let n = words(tail);
        let mut ks = [0u8; BATCH];
        let made = self.keystream(n, 0, &mut ks);
        let poly_key: [u8; 32] = ks[..32].try_into().expect("32");
        self.xor_stream(n, buf, &mut ks, made);
        poly1305::tag(&poly_key, buf)
    }

    /// Checks `tag` and decrypts `buf` in place; `buf` is unchanged when the tag is wrong.
    pub fn open_detached(&self, tail: &[u8; 8], buf: &mut [u8], tag: &[u8]) -> bool {
        if tag.len() != 16 {
            return false;
        }
        let n = words(tail);
        let mut ks = [0u8; BATCH];
        let made = self.keystream(n, 0, &mut ks);
        let poly_key: [u8; 32] = ks[..32].try_into().expect("32");
        let expect = poly1305::tag(&poly_key, buf);
        // Constant time: every byte is compared whatever the others hold.
        if expect.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return false;
        }
        self.xor_stream(n, buf, &mut ks, made);
        true
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
        let mut b = SecretBox::new(&key).with_nonce_prefix(&prefix);
        b.avx2 = false;
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
