//! The negotiated sleeve AEAD between weave peers: AES-256-GCM or ChaCha20-Poly1305, both
//! ring's (maintained, audited, with run-time CPU dispatch: AES-NI/VAES with carry-less
//! multiply where the CPU has them, constant-time software otherwise).
//!
//! - Negotiation: each weave peer offers its suites, best for its CPU first, in the features
//!   key [`FEATURE_KEY`]; [`negotiate`] picks the same suite at both ends, or NaCl when the
//!   peer offers none (a Weave Net peer, or `--sleeve-cipher nacl`). Protocol version 2 sends
//!   the features map sealed under the session key and weave refuses version 1, so the offer
//!   cannot be stripped without the password; [`Binding`] also feeds both offers into the key
//!   derivation, so ends that saw different offers derive different keys and never establish.
//! - Keys: HKDF-SHA256 of the session key, one key per direction (sender and receiver names in
//!   the info), path (`sleeve-udp`) and epoch.
//! - Packet (after the clear sender name), the same 24 bytes of overhead as NaCl:
//!   `header (8, BE) | tag (16) | ciphertext`. Header bit 63 = DF path, bits 0..63 = that
//!   path's counter. Nonce = 4 zero bytes | header, so it never repeats under one key.
//! - Rekeying: the epoch is the counter's bits above [`EPOCH_BITS`], so a new key every 2^24
//!   packets per path: AES-GCM then stays under 2^36 blocks per key even with 64 KiB packets
//!   (adversarial advantage about 2^-57), far ahead of the 63-bit counter wrapping. Receivers
//!   keep the previous epoch's key for packets reordered across the switch.
//! - Replay: [`ReplayWindow`] per path, as for NaCl; packets more than one epoch old are
//!   dropped unopened (with 2^24-packet epochs they are far outside the window anyway).

use std::fmt;
use std::ops::Range;

use ring::aead::{self, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use ring::hkdf;
use sha2::{Digest, Sha256};

use crate::replay::ReplayWindow;
use crate::sleeve::{DF_BIT, SEALED_PREFIX_LEN, SEQ_LEN};
use crate::{CryptoError, SessionKey};

/// The features key of the offer: suite names in the sender's preference order.
pub const FEATURE_KEY: &str = "SleeveCiphers";
/// Packets per key (per direction and path) = 2^EPOCH_BITS.
pub const EPOCH_BITS: u32 = 24;
/// HKDF info label of the sleeve UDP path.
const PATH_SLEEVE_UDP: &[u8] = b"weave sleeve-udp v1";

/// An AEAD suite weave peers can agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Suite {
    pub const ALL: [Suite; 2] = [Suite::Aes256Gcm, Suite::ChaCha20Poly1305];

    /// The name on the wire, in status and in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "aes-256-gcm",
            Suite::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }

    pub fn from_name(s: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|x| x.name() == s)
    }

    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Suite::Aes256Gcm => &aead::AES_256_GCM,
            Suite::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

/// What a connection's sleeve encrypts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SleeveCipher {
    /// Weave Net's NaCl secretbox (XSalsa20-Poly1305).
    Nacl,
    Aead(Suite),
}

impl SleeveCipher {
    pub fn name(self) -> &'static str {
        match self {
            SleeveCipher::Nacl => "nacl",
            SleeveCipher::Aead(s) => s.name(),
        }
    }
}

/// Whether this CPU runs AES-GCM in hardware (AES rounds and carry-less multiply), which is
/// what ring dispatches on at run time. Measured (bench `aead`, a Xeon with VAES, 1400-byte
/// packets): AES-256-GCM 3.8 GB/s, ChaCha20-Poly1305 1.4 GB/s, NaCl 1.0 GB/s per core. Without
/// those instructions ring's AES-GCM is constant-time software, slower than its ChaCha20 (which
/// needs only SIMD): not measurable on machines that all have AES-NI, hence the rule rather
/// than a run-time race.
pub fn hardware_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes") && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Our offer, best for this CPU first.
pub fn local_offer() -> Vec<Suite> {
    if hardware_aes() {
        vec![Suite::Aes256Gcm, Suite::ChaCha20Poly1305]
    } else {
        vec![Suite::ChaCha20Poly1305, Suite::Aes256Gcm]
    }
}

/// The features value of an offer.
pub fn offer_value(offer: &[Suite]) -> String {
    offer.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ")
}

/// Parses a peer's offer; names we do not know are skipped (a later version may add some).
pub fn parse_offer(value: &str) -> Vec<Suite> {
    value.split(' ').filter_map(Suite::from_name).collect()
}

/// The cipher both ends of a connection arrive at from the two offers (`None`: that side
/// offered nothing). The common suite with the best summed preference wins; on a tie (the two
/// CPUs disagree) ChaCha20-Poly1305, which is fast in software everywhere. Preferences count
/// only the suites both know, so a name one side skips (a later version's suite) cannot make
/// the two ends rank differently.
pub fn negotiate(ours: Option<&[Suite]>, theirs: Option<&[Suite]>) -> SleeveCipher {
    let (Some(ours), Some(theirs)) = (ours, theirs) else { return SleeveCipher::Nacl };
    let common = |s: &Suite| ours.contains(s) && theirs.contains(s);
    let rank = |list: &[Suite], s: Suite| list.iter().filter(|x| common(x)).position(|x| *x == s);
    Suite::ALL
        .into_iter()
        .filter(common)
        .filter_map(|s| Some((rank(ours, s)? + rank(theirs, s)?, s != Suite::ChaCha20Poly1305, s)))
        .min_by_key(|(rank, not_chacha, _)| (*rank, *not_chacha))
        .map_or(SleeveCipher::Nacl, |(_, _, s)| SleeveCipher::Aead(s))
}

/// What ties the keys to the connection's negotiation: a hash of both peers' names and offers
/// in a fixed order (lower name first), the HKDF salt.
#[derive(Clone, PartialEq, Eq)]
pub struct Binding([u8; 32]);

impl Binding {
    /// `a` and `b` are the two peers' names and offer values, in either order.
    pub fn new(a: ([u8; 6], &str), b: ([u8; 6], &str)) -> Binding {
        let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
        let mut h = Sha256::new();
        for (name, offer) in [lo, hi] {
            h.update(name);
            h.update((offer.len() as u32).to_be_bytes());
            h.update(offer.as_bytes());
        }
        Binding(h.finalize().into())
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Binding(..)")
    }
}

/// Derives the keys of one direction: the HKDF pseudo-random key and the info parts.
struct Deriver {
    prk: hkdf::Prk,
    suite: Suite,
    from: [u8; 6],
    to: [u8; 6],
}

impl Deriver {
    fn new(key: &SessionKey, binding: &Binding, suite: Suite, from: [u8; 6], to: [u8; 6]) -> Deriver {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &binding.0).extract(key.as_bytes());
        Deriver { prk, suite, from, to }
    }

    fn key(&self, epoch: u64) -> LessSafeKey {
        let epoch = epoch.to_be_bytes();
        let info: [&[u8]; 5] = [PATH_SLEEVE_UDP, self.suite.name().as_bytes(), &self.from, &self.to, &epoch];
        // The algorithm's key length (32) is far below HKDF's limit of 255 * 32 bytes, and a
        // key of the algorithm's own length is always accepted.
        let okm = self.prk.expand(&info, self.suite.algorithm()).expect("HKDF output of a key's length");
        LessSafeKey::new(UnboundKey::from(okm))
    }
}

fn nonce(header: u64) -> Nonce {
    let mut n = [0u8; aead::NONCE_LEN];
    n[4..].copy_from_slice(&header.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Seals packets of one path (DF or non-DF) in one direction.
pub struct AeadEncryptor {
    keys: Deriver,
    df: bool,
    seq: u64,
    epoch_bits: u32,
    epoch: u64,
    key: LessSafeKey,
}

impl fmt::Debug for AeadEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AeadEncryptor")
            .field("suite", &self.keys.suite)
            .field("df", &self.df)
            .field("seq", &self.seq)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl AeadEncryptor {
    /// The sealer of packets from `us` to `peer` on one path.
    pub fn new(
        key: &SessionKey,
        binding: &Binding,
        suite: Suite,
        us: [u8; 6],
        peer: [u8; 6],
        df: bool,
    ) -> Self {
        Self::with_epoch_bits(key, binding, suite, us, peer, df, EPOCH_BITS)
    }

    /// As [`new`](Self::new) with 2^`epoch_bits` packets per key (tests force small epochs).
    pub fn with_epoch_bits(
        key: &SessionKey,
        binding: &Binding,
        suite: Suite,
        us: [u8; 6],
        peer: [u8; 6],
        df: bool,
        epoch_bits: u32,
    ) -> Self {
        let keys = Deriver::new(key, binding, suite, us, peer);
        let key = keys.key(0);
        AeadEncryptor { keys, df, seq: 0, epoch_bits, epoch: 0, key }
    }

    /// The current key's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Seals `buf` = `[8 bytes for the header][16 for the tag][plaintext]` in place and returns
    /// the header. Moves to the next epoch's key when the counter enters it.
    pub fn seal_in_place(&mut self, buf: &mut [u8]) -> Result<u64, CryptoError> {
        if buf.len() < SEALED_PREFIX_LEN {
            return Err(CryptoError::NoRoom { len: buf.len(), need: SEALED_PREFIX_LEN });
        }
        if self.seq & DF_BIT != 0 {
            // 2^63 packets: unreachable, but a nonce must never repeat.
            return Err(CryptoError::Exhausted);
        }
        let epoch = self.seq >> self.epoch_bits;
        if epoch != self.epoch {
            self.key = self.keys.key(epoch);
            self.epoch = epoch;
        }
        let header = self.seq | if self.df { DF_BIT } else { 0 };
        let (head, plaintext) = buf.split_at_mut(SEALED_PREFIX_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(header), Aad::empty(), plaintext)
            .map_err(|_| CryptoError::AeadSeal(plaintext.len()))?;
        head[..SEQ_LEN].copy_from_slice(&header.to_be_bytes());
        head[SEQ_LEN..].copy_from_slice(tag.as_ref());
        self.seq += 1;
        Ok(header)
    }
}

/// A receiver's keys and replay window for one path.
struct PathState {
    window: ReplayWindow,
    cur: (u64, LessSafeKey),
    prev: Option<(u64, LessSafeKey)>,
    /// The next epoch's key, derived once when a packet first claims it.
    next: Option<(u64, LessSafeKey)>,
}

/// Opens packets of both paths from one peer.
pub struct AeadDecryptor {
    keys: Deriver,
    epoch_bits: u32,
    paths: [PathState; 2],
}

impl fmt::Debug for AeadDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AeadDecryptor")
            .field("suite", &self.keys.suite)
            .field("epochs", &[self.paths[0].cur.0, self.paths[1].cur.0])
            .finish_non_exhaustive()
    }
}

impl AeadDecryptor {
    /// The opener of packets from `peer` to `us`.
    pub fn new(key: &SessionKey, binding: &Binding, suite: Suite, us: [u8; 6], peer: [u8; 6]) -> Self {
        Self::with_epoch_bits(key, binding, suite, us, peer, EPOCH_BITS)
    }

    /// As [`new`](Self::new) with 2^`epoch_bits` packets per key.
    pub fn with_epoch_bits(
        key: &SessionKey,
        binding: &Binding,
        suite: Suite,
        us: [u8; 6],
        peer: [u8; 6],
        epoch_bits: u32,
    ) -> Self {
        let keys = Deriver::new(key, binding, suite, peer, us);
        let path =
            || PathState { window: ReplayWindow::new(), cur: (0, keys.key(0)), prev: None, next: None };
        let paths = [path(), path()];
        AeadDecryptor { keys, epoch_bits, paths }
    }

    /// The epoch of the newest key in use on a path.
    pub fn epoch(&self, df: bool) -> u64 {
        self.paths[df as usize].cur.0
    }

    /// Opens `buf` = the UDP payload after the sender name, in place; the same contract as
    /// [`SleeveDecryptor::open_in_place`](crate::SleeveDecryptor::open_in_place).
    pub fn open_in_place(&mut self, buf: &mut [u8]) -> Result<Option<Range<usize>>, CryptoError> {
        let Some(head) = buf.first_chunk::<SEQ_LEN>() else {
            return Err(CryptoError::UdpTooShort(buf.len()));
        };
        let header = u64::from_be_bytes(*head);
        if buf.len() < SEALED_PREFIX_LEN {
            return Err(CryptoError::UdpDecrypt);
        }
        let seq = header & !DF_BIT;
        let epoch = seq >> self.epoch_bits;
        let p = &mut self.paths[(header & DF_BIT != 0) as usize];
        // The key of the packet's epoch: the current or previous one, the next one (derived
        // once), or one derived for this packet alone (an epoch beyond the next: only after
        // 2^24 packets lost in a row, or forged), kept only if the packet is genuine.
        let fresh;
        let key = if epoch == p.cur.0 {
            &p.cur.1
        } else if let Some((_, k)) = p.prev.as_ref().filter(|(e, _)| *e == epoch) {
            k
        } else if epoch < p.cur.0 {
            return Ok(None);
        } else if epoch == p.cur.0 + 1 {
            let keys = &self.keys;
            &p.next.get_or_insert_with(|| (epoch, keys.key(epoch))).1
        } else {
            fresh = self.keys.key(epoch);
            &fresh
        };
        let (head, data) = buf.split_at_mut(SEALED_PREFIX_LEN);
        let tag: [u8; 16] = head[SEQ_LEN..].try_into().map_err(|_| CryptoError::UdpDecrypt)?;
        key.open_in_place_separate_tag(nonce(header), Aad::empty(), Tag::from(tag), data, 0..)
            .map_err(|_| CryptoError::UdpDecrypt)?;
        if !p.window.accept(seq) {
            return Ok(None);
        }
        if epoch > p.cur.0 {
            // Authentic: this epoch's key becomes current, the old one stays for stragglers.
            let key = match p.next.take() {
                Some((e, k)) if e == epoch => k,
                _ => self.keys.key(epoch),
            };
            let old = std::mem::replace(&mut p.cur, (epoch, key));
            p.prev = (old.0 + 1 == epoch).then_some(old);
        }
        Ok(Some(SEALED_PREFIX_LEN..buf.len()))
    }
}

#[cfg(test)]
mod tests;
