//! Poly1305 (RFC 8439 section 2.5) with three 44/44/42-bit limbs and 64x64->128 multiplies.
//! Every sleeve packet is a separate message of ~1.4 kB, so setup cost matters as much as the
//! rate: this needs no precomputed powers of r beyond r^2 (the `poly1305` crate's AVX2 backend
//! spends about a microsecond on them per message here), and runs at about 1 cycle per byte.
//!
//! # Why nothing overflows
//!
//! Limbs have weights 2^0, 2^44 and 2^88 and the arithmetic is mod p = 2^130 - 5. All bounds
//! below are strict upper bounds.
//!
//! - Clamped r: r0, r1 < 2^44 and r2 < 2^36 (the clamp leaves key bytes 8..16 below 2^60, and
//!   r2 is that word shifted right by 24). So 20 r1 < 2^48.33 and 20 r2 < 2^40.33.
//! - Every [`carry`] output (h, and r^2) is below (2^44, 2^44 + 2^7, 2^42): see there. So for
//!   r^2: 20 R1 < 2^48.33 and 20 R2 < 2^46.33.
//! - A message block: m0, m1 < 2^44, m2 < 2^41 (40 bits of message and the 2^128 bit, 2^40).
//! - h + m: below (2^45, 2^45.01, 2^42.59).
//!
//! [`products`] of a = (h + m1) and r^2, plus those of m2 and r (the two-block step, the
//! worst case; one block with r alone is smaller):
//!
//! - d0 = a0 R0 + a1 20R2 + a2 20R1 + m0 r0 + m1 20r2 + m2 20r1
//!   < 2^89 + 2^91.34 + 2^90.92 + 2^88 + 2^84.33 + 2^89.33 < 2^93
//! - d1 = a0 R1 + a1 R0 + a2 20R2 + m0 r1 + m1 r0 + m2 20r2 < 2^91
//! - d2 = a0 R2 + a1 R1 + a2 R0 + m0 r2 + m1 r1 + m2 r0 < 2^90
//!
//! all far below 2^128. In [`carry`]: d1 + (d0 >> 44) < 2^91.01, d2 + that >> 44 < 2^90.01, so
//! the top carry c = d2 >> 42 < 2^48.01 and 5c < 2^50.4 fit a u64; h0 + 5c < 2^50.5 carries
//! at most 2^6.5 into h1, which ends below 2^44 + 2^7 with h0 < 2^44 and h2 < 2^42: the bound
//! assumed above, so it holds for every block by induction. Debug builds assert the bounds at
//! each carry.

const M44: u64 = (1 << 44) - 1;
const M42: u64 = (1 << 42) - 1;

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn mul(a: u64, b: u64) -> u128 {
    a as u128 * b as u128
}

/// Three limbs of 44, 44 and 42 bits.
type Limbs = [u64; 3];

/// A block (or the key's r) as limbs, `hibit` being 2^128's place in the top limb.
#[inline(always)]
fn limbs(b: &[u8], hibit: u64) -> Limbs {
    let m0 = le64(&b[0..]);
    let m1 = le64(&b[8..]);
    [m0 & M44, ((m0 >> 44) | (m1 << 20)) & M44, ((m1 >> 24) & M42) | hibit]
}

/// The products of `a` and `r` mod 2^130 - 5, unreduced; `s` = r1 * 20, r2 * 20 folds the
/// reduction in (limb weights 2^44 and 2^88: a product landing at 2^132 is 4 * 5 = 20 times 2^0).
#[inline(always)]
fn products(a: &Limbs, r: &Limbs, s: &[u64; 2]) -> [u128; 3] {
    [
        mul(a[0], r[0]) + mul(a[1], s[1]) + mul(a[2], s[0]),
        mul(a[0], r[1]) + mul(a[1], r[0]) + mul(a[2], s[1]),
        mul(a[0], r[2]) + mul(a[1], r[1]) + mul(a[2], r[0]),
    ]
}

/// Bounds of [`carry`]'s input and output (see the module's comment).
const PRODUCT_BOUND: u128 = 1 << 93;
const LIMB_BOUND: Limbs = [1 << 44, (1 << 44) + (1 << 7), 1 << 42];

/// Carries products back into limbs (the top limb's overflow wraps round times 5).
#[inline(always)]
fn carry(d: [u128; 3]) -> Limbs {
    debug_assert!(d.iter().all(|&x| x < PRODUCT_BOUND), "poly1305 products out of bounds: {d:x?}");
    let [d0, mut d1, mut d2] = d;
    d1 += d0 >> 44;
    d2 += d1 >> 44;
    let mut h0 = d0 as u64 & M44;
    let mut h1 = d1 as u64 & M44;
    let h2 = d2 as u64 & M42;
    h0 += (d2 >> 42) as u64 * 5;
    h1 += h0 >> 44;
    h0 &= M44;
    let h = [h0, h1, h2];
    debug_assert!(h.iter().zip(LIMB_BOUND).all(|(&x, b)| x < b), "poly1305 limbs out of bounds: {h:x?}");
    h
}

/// The one-time authenticator of `msg` under the 32-byte one-time `key` (r || s).
pub fn tag(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
    // Clamp r.
    let t0 = le64(&key[0..]) & 0x0fff_fffc_0fff_ffff;
    let t1 = le64(&key[8..]) & 0x0fff_fffc_0fff_fffc;
    let r = [t0 & M44, ((t0 >> 44) | (t1 << 20)) & M44, t1 >> 24];
    let s = [r[1] * 20, r[2] * 20];
    // r^2, so that two blocks go in per step: h = (h + m1) r^2 + m2 r. The second product
    // does not wait for h, which keeps the multiplier busy.
    let r2 = carry(products(&r, &r, &s));
    let s2 = [r2[1] * 20, r2[2] * 20];
    let mut h: Limbs = [0; 3];

    let mut pairs = msg.chunks_exact(32);
    for p in &mut pairs {
        let m1 = limbs(&p[..16], 1 << 40);
        let m2 = limbs(&p[16..], 1 << 40);
        let a = [h[0] + m1[0], h[1] + m1[1], h[2] + m1[2]];
        let x = products(&a, &r2, &s2);
        let y = products(&m2, &r, &s);
        h = carry([x[0] + y[0], x[1] + y[1], x[2] + y[2]]);
    }
    let mut absorb = |block: &[u8; 16], hibit: u64| {
        let m = limbs(block, hibit);
        h = carry(products(&[h[0] + m[0], h[1] + m[1], h[2] + m[2]], &r, &s));
    };
    let mut blocks = pairs.remainder().chunks_exact(16);
    for b in &mut blocks {
        absorb(b.try_into().expect("16 bytes"), 1 << 40);
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 16];
        last[..rest.len()].copy_from_slice(rest);
        last[rest.len()] = 1;
        absorb(&last, 0);
    }
    let [mut h0, mut h1, mut h2] = h;

    // Carry fully (twice round: the wrap into h0 can carry again), then subtract
    // p = 2^130 - 5 when h >= p, in constant time.
    let mut c;
    for _ in 0..2 {
        c = h1 >> 44;
        h1 &= M44;
        h2 += c;
        c = h2 >> 42;
        h2 &= M42;
        h0 += c * 5;
        c = h0 >> 44;
        h0 &= M44;
        h1 += c;
    }
    // Now canonical: h < 2^130 in limbs of 44, 44 and 42 bits.
    debug_assert!(h0 <= M44 && h1 <= M44 && h2 <= M42);
    let mut g0 = h0 + 5;
    c = g0 >> 44;
    g0 &= M44;
    let mut g1 = h1 + c;
    c = g1 >> 44;
    g1 &= M44;
    let g2 = (h2 + c).wrapping_sub(1 << 42);
    // g2's top bit is set when h < p: keep h then, else take g.
    let take_g = (g2 >> 63).wrapping_sub(1);
    h0 = (h0 & !take_g) | (g0 & take_g);
    h1 = (h1 & !take_g) | (g1 & take_g);
    h2 = (h2 & !take_g) | (g2 & take_g);

    let h = (h0 as u128) | ((h1 as u128) << 44) | ((h2 as u128) << 88);
    let s = u128::from_le_bytes(key[16..].try_into().expect("16 bytes"));
    h.wrapping_add(s).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use poly1305::universal_hash::KeyInit;

    #[test]
    fn rfc8439_vector() {
        let key: [u8; 32] = [
            0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5, 0x06, 0xa8,
            0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf, 0x41, 0x49, 0xf5, 0x1b,
        ];
        let want =
            [0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01, 0x27, 0xa9];
        assert_eq!(tag(&key, b"Cryptographic Forum Research Group"), want);
    }

    #[test]
    fn matches_the_reference_on_random_and_extreme_inputs() {
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15u64);
        for case in 0..3000usize {
            let len = case % 300;
            // Every third case is all 0xff (the largest limbs, h close to p after reduction).
            let extreme = case % 3 == 0;
            let key: [u8; 32] = std::array::from_fn(|_| if extreme { 0xff } else { next() as u8 });
            let msg: Vec<u8> = (0..len).map(|_| if extreme { 0xff } else { next() as u8 }).collect();
            let want: [u8; 16] = poly1305::Poly1305::new(&key.into()).compute_unpadded(&msg).into();
            assert_eq!(tag(&key, &msg), want, "case {case}, length {len}");
        }
    }
}
