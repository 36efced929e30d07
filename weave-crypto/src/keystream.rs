//! The Salsa20 keystream (XSalsa20 after its HSalsa20 subkey), the hot half of the sleeve's
//! secretbox: the packet path encrypts every byte it sends, so where the CPU has AVX2 the
//! blocks are made eight at a time ([`avx2`]); a portable one-block version serves elsewhere.
//! Written from the Salsa20 specification; the tests hold both versions to libsodium's known
//! answers and to RustCrypto's `salsa20`.

const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Keystream bytes made per step: eight blocks with AVX2, one without.
pub const BATCH: usize = 512;

/// Little-endian 32-bit words of `b`.
pub fn words<const N: usize>(b: &[u8]) -> [u32; N] {
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

/// The Salsa20 state for `key`, 8-byte `nonce` and block `counter`.
pub fn state(key: &[u32; 8], nonce: [u32; 2], counter: u64) -> [u32; 16] {
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
    for _ in 0..10 {
        double_round!(x, add, xor, rotl);
    }
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&x[i].wrapping_add(init[i]).to_le_bytes());
    }
}

/// Keystream from block `counter` of (`key`, `nonce`) into `ks`, eight blocks with AVX2
/// and one without; returns how many bytes it made.
#[inline]
pub fn fill(
    key: &[u32; 8],
    nonce: [u32; 2],
    counter: u64,
    simd: Option<Simd>,
    ks: &mut [u8; BATCH],
) -> usize {
    let init = state(key, nonce, counter);
    if let Some(simd) = simd {
        simd.blocks8(&init, ks);
        return BATCH;
    }
    block(&init, (&mut ks[..64]).try_into().expect("64"));
    64
}

/// Proof that this CPU has AVX2: made only by [`Simd::detect`].
#[derive(Clone, Copy, Debug)]
pub struct Simd(avx2::Token);

impl Simd {
    /// `Some` where the CPU has AVX2.
    pub fn detect() -> Option<Simd> {
        avx2::Token::detect().map(Simd)
    }

    fn blocks8(self, init: &[u32; 16], out: &mut [u8; BATCH]) {
        self.0.blocks8(init, out)
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2;

/// Elsewhere there is no AVX2: the token cannot be made.
#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    #[derive(Clone, Copy, Debug)]
    pub enum Token {}

    impl Token {
        pub fn detect() -> Option<Token> {
            None
        }

        pub fn blocks8(self, _: &[u32; 16], _: &mut [u8; super::BATCH]) {
            match self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salsa20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

    /// Both versions against RustCrypto's Salsa20, from block counters either side of the
    /// 32-bit boundary (the AVX2 version carries into the high word per lane).
    #[test]
    fn both_versions_match_the_reference() {
        let key_bytes: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let nonce_bytes = [0x5au8, 1, 2, 3, 4, 5, 6, 0xa5];
        let key: [u32; 8] = words(&key_bytes);
        let nonce: [u32; 2] = words(&nonce_bytes);
        let versions = [None, Simd::detect()];
        for counter in [0u64, 1, 7, (1 << 32) - 3, (1 << 32) - 1, 1 << 32] {
            let mut want = [0u8; BATCH];
            let mut reference = salsa20::Salsa20::new(&key_bytes.into(), &nonce_bytes.into());
            reference.seek(counter * 64);
            reference.apply_keystream(&mut want);
            for simd in versions {
                let mut ks = [0u8; BATCH];
                let made = fill(&key, nonce, counter, simd, &mut ks);
                assert_eq!(made, if simd.is_some() { BATCH } else { 64 });
                assert_eq!(ks[..made], want[..made], "counter {counter}, simd {}", simd.is_some());
            }
        }
    }
}
