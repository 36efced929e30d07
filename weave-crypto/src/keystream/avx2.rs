//! Eight Salsa20 blocks at once, one block per 32-bit lane of sixteen AVX2 registers. The
//! crate's only unsafe code: the intrinsics need a CPU with AVX2, which [`Token::detect`]
//! checks; a [`Token`] exists only where it found it.

use std::arch::x86_64::*;

/// Made only by [`Token::detect`], on a CPU with AVX2.
#[derive(Clone, Copy, Debug)]
pub struct Token(());

impl Token {
    pub fn detect() -> Option<Token> {
        std::is_x86_feature_detected!("avx2").then_some(Token(()))
    }

    /// Eight consecutive keystream blocks starting at `init`'s counter.
    pub fn blocks8(self, init: &[u32; 16], out: &mut [u8; 512]) {
        // SAFETY: a Token exists only where `detect` found AVX2 on this CPU; `blocks8` needs
        // nothing else (it reads `init` and writes `out` through references).
        unsafe { blocks8(init, out) }
    }
}

// Helpers carry the feature too, or the intrinsics become calls instead of instructions. They are
// safe functions: only code with AVX2 enabled (blocks8) can call them, so no caller can misuse them.
#[target_feature(enable = "avx2")]
#[inline]
fn add(a: __m256i, b: __m256i) -> __m256i {
    _mm256_add_epi32(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn xor(a: __m256i, b: __m256i) -> __m256i {
    _mm256_xor_si256(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn rotl<const N: i32>(a: __m256i) -> __m256i {
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
/// The CPU must support AVX2. Memory is touched only through `init` and `out`: the loads
/// and stores below are unaligned ones within them.
#[target_feature(enable = "avx2")]
unsafe fn blocks8(init: &[u32; 16], out: &mut [u8; 512]) {
    // The 64-bit block counter of each lane, carried from word 8 into word 9.
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
    // Unaligned 32-byte loads of the 8-word arrays `lo` and `hi`.
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
            // Unaligned stores of vector (block * 2 + half) < 16, so within the 512 bytes of
            // `out` (16 vectors of 32 bytes).
            _mm256_storeu_si256(o.add(b * 2 + half), lo);
            _mm256_storeu_si256(o.add((b + 4) * 2 + half), hi);
        }
    }
}
