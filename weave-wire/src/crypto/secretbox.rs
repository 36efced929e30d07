//! NaCl's `secretbox` (XSalsa20 + Poly1305), the cipher Weave uses on both the control
//! connection and the sleeve. The packet path encrypts every byte it sends, so the Salsa20
//! keystream is generated eight blocks at a time with AVX2 where the CPU has it (a portable
//! one-block version otherwise); Poly1305 is the `poly1305` crate's (AVX2 too).
//! Written from the Salsa20/XSalsa20 specifications; checked against the captured Weave
//! traffic and against the RustCrypto implementation in tests.

use poly1305::universal_hash::KeyInit;
use poly1305::Poly1305;

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
        let mut lanes = [0u32; 8];
        let o = out.as_mut_ptr() as *mut u32;
        for w in 0..16 {
            let v = _mm256_add_epi32(x[w], orig[w]);
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, v);
            for (b, word) in lanes.iter().enumerate() {
                // SAFETY: b * 16 + w < 128 words = 512 bytes; unaligned writes.
                o.add(b * 16 + w).write_unaligned(word.to_le());
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

    /// XORs `data` with the XSalsa20 keystream from byte 32 on, and returns the first 32
    /// keystream bytes (the Poly1305 key).
    fn stream(&self, nonce: &[u8; 24], data: &mut [u8]) -> [u8; 32] {
        let sub = hsalsa(&self.key, &nonce[..16]);
        let n: [u32; 2] = words(&nonce[16..]);
        let mut init = state(&sub, n, 0);
        let mut poly_key = [0u8; 32];
        if has_avx2() && data.len() > 32 {
            let mut ks = [0u8; 512];
            let mut pos = 0;
            let mut first = true;
            while first || pos < data.len() {
                // SAFETY: AVX2 was detected above.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    avx2::blocks8(&init, &mut ks)
                };
                let start = if first { 32 } else { 0 };
                if first {
                    poly_key.copy_from_slice(&ks[..32]);
                    first = false;
                }
                let n = (512 - start).min(data.len() - pos);
                xor_in(&mut data[pos..pos + n], &ks[start..start + n]);
                pos += n;
                let c = ((init[8] as u64) | ((init[9] as u64) << 32)).wrapping_add(8);
                init[8] = c as u32;
                init[9] = (c >> 32) as u32;
            }
            return poly_key;
        }
        let mut ks = [0u8; 64];
        block(&init, &mut ks);
        poly_key.copy_from_slice(&ks[..32]);
        let n = data.len().min(32);
        xor_in(&mut data[..n], &ks[32..32 + n]);
        for (counter, chunk) in (1u64..).zip(data[n..].chunks_mut(64)) {
            let init = state(&sub, words(&nonce[16..]), counter);
            block(&init, &mut ks);
            xor_in(chunk, &ks[..chunk.len()]);
        }
        poly_key
    }

    /// Encrypts `buf` in place and returns the tag (NaCl's `crypto_secretbox` detached).
    pub fn seal_detached(&self, nonce: &[u8; 24], buf: &mut [u8]) -> [u8; 16] {
        let poly_key = self.stream(nonce, buf);
        Poly1305::new(&poly_key.into()).compute_unpadded(buf).into()
    }

    /// Checks `tag` and decrypts `buf` in place; `buf` is unchanged when the tag is wrong.
    pub fn open_detached(&self, nonce: &[u8; 24], buf: &mut [u8], tag: &[u8]) -> bool {
        if tag.len() != 16 {
            return false;
        }
        // The Poly1305 key is the first 32 keystream bytes: derive it without touching buf.
        let sub = hsalsa(&self.key, &nonce[..16]);
        let mut ks = [0u8; 64];
        block(&state(&sub, words(&nonce[16..]), 0), &mut ks);
        let mut poly_key = [0u8; 32];
        poly_key.copy_from_slice(&ks[..32]);
        let expect: [u8; 16] = Poly1305::new(&poly_key.into()).compute_unpadded(buf).into();
        // Constant time: every byte is compared whatever the others hold.
        if expect.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return false;
        }
        self.stream(nonce, buf);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_secretbox::aead::AeadInPlace;
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
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
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
}
