//! Encryption of sleeve UDP packets (weave's `NaClEncryptor`/`NaClDecryptor`). After the clear
//! 6-byte sender name a packet is `seq_and_DF (8, BE) | tag (16) | ciphertext`. Nonce byte 0 =
//! 0x80 if the sender dialled the TCP connection (bit 6 clear: UDP), bytes 16..24 = `seq_and_DF`
//! as sent; bit 63 of `seq_and_DF` marks the DF path. Each path has its own counter from 0.
//!
//! The APIs here work on the packet *after* the sender name, in place, without allocating.

use std::fmt;
use std::ops::Range;

use crate::replay::ReplayWindow;
use crate::secretbox::{PrefixedBox, SecretBox};
use crate::{CryptoError, SessionKey, TAG_LEN};

/// Length of the clear `seq_and_DF` field.
pub const SEQ_LEN: usize = 8;
/// Bytes in front of the plaintext: `seq_and_DF` and the tag.
pub const SEALED_PREFIX_LEN: usize = SEQ_LEN + TAG_LEN;
/// Bit 63 of `seq_and_DF`: sent on the DF path.
pub const DF_BIT: u64 = 1 << 63;

const OUTBOUND_BIT: u8 = 0x80;

/// The cipher for one direction: the first 16 nonce bytes never change, so HSalsa20 runs once.
fn prefixed(key: &SessionKey, first: u8) -> PrefixedBox {
    let mut prefix = [0u8; 16];
    prefix[0] = first;
    SecretBox::new(key.as_bytes()).with_nonce_prefix(&prefix)
}

/// Seals packets of one path (DF or non-DF). Weave has one per path and connection.
pub struct SleeveEncryptor {
    cipher: PrefixedBox,
    first: u8,
    df: bool,
    seq: u64,
}

impl fmt::Debug for SleeveEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SleeveEncryptor")
            .field("nonce0", &self.first)
            .field("df", &self.df)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl SleeveEncryptor {
    /// `outbound`: we dialled the TCP connection. `df`: this is the DF path's encryptor.
    pub fn new(key: &SessionKey, outbound: bool, df: bool) -> SleeveEncryptor {
        let first = if outbound { OUTBOUND_BIT } else { 0 };
        SleeveEncryptor { cipher: prefixed(key, first), first, df, seq: 0 }
    }

    /// The `seq_and_DF` the next packet will carry.
    pub fn next_seq_and_df(&self) -> u64 {
        self.seq | if self.df { DF_BIT } else { 0 }
    }

    /// Seals `buf` = `[8 bytes for seq_and_DF][16 bytes for the tag][plaintext]` in place: writes
    /// both fields, encrypts the plaintext, advances the counter and returns the `seq_and_DF`.
    /// Every call consumes a number, even if the packet is then never sent (as in Weave, where
    /// the refused PMTU probe uses up DF seq 1).
    pub fn seal_in_place(&mut self, buf: &mut [u8]) -> Result<u64, CryptoError> {
        if buf.len() < SEALED_PREFIX_LEN {
            return Err(CryptoError::NoRoom { len: buf.len(), need: SEALED_PREFIX_LEN });
        }
        let seq_and_df = self.next_seq_and_df();
        let (head, plaintext) = buf.split_at_mut(SEALED_PREFIX_LEN);
        let tag = self.cipher.seal_detached(&seq_and_df.to_be_bytes(), plaintext);
        head[..SEQ_LEN].copy_from_slice(&seq_and_df.to_be_bytes());
        head[SEQ_LEN..].copy_from_slice(&tag);
        // Counters stay below 2^63 in practice; wrap like Go rather than panic.
        self.seq = self.seq.wrapping_add(1) & !DF_BIT;
        Ok(seq_and_df)
    }

    /// `seq_and_DF | tag | ciphertext` of `plaintext` in a new buffer.
    pub fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; SEALED_PREFIX_LEN + plaintext.len()];
        buf[SEALED_PREFIX_LEN..].copy_from_slice(plaintext);
        // The buffer has room for the prefix by construction.
        let _ = self.seal_in_place(&mut buf);
        buf
    }
}

/// Opens packets of both paths for one connection, with Weave's replay protection per path.
pub struct SleeveDecryptor {
    cipher: PrefixedBox,
    first: u8,
    window: ReplayWindow,
    window_df: ReplayWindow,
}

impl fmt::Debug for SleeveDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SleeveDecryptor").field("nonce0", &self.first).finish_non_exhaustive()
    }
}

impl SleeveDecryptor {
    /// `outbound`: *we* dialled the TCP connection (the peer's nonces have the opposite bit).
    pub fn new(key: &SessionKey, outbound: bool) -> SleeveDecryptor {
        let first = if outbound { 0 } else { OUTBOUND_BIT };
        SleeveDecryptor {
            cipher: prefixed(key, first),
            first,
            window: ReplayWindow::new(),
            window_df: ReplayWindow::new(),
        }
    }

    /// Opens `buf` = the UDP payload after the sender name, in place.
    /// `Ok(Some(range))`: the plaintext frames are `buf[range]`. `Ok(None)`: authentic but a
    /// duplicate or too old; Weave drops it silently. Errors are Weave's, and leave the replay
    /// state untouched (Weave logs them and carries on).
    pub fn open_in_place(&mut self, buf: &mut [u8]) -> Result<Option<Range<usize>>, CryptoError> {
        let Some(seq_bytes) = buf.first_chunk::<SEQ_LEN>() else {
            return Err(CryptoError::UdpTooShort(buf.len()));
        };
        let seq_and_df = u64::from_be_bytes(*seq_bytes);
        if buf.len() < SEALED_PREFIX_LEN {
            return Err(CryptoError::UdpDecrypt);
        }
        let (head, data) = buf.split_at_mut(SEALED_PREFIX_LEN);
        if !self.cipher.open_detached(&seq_and_df.to_be_bytes(), data, &head[SEQ_LEN..]) {
            return Err(CryptoError::UdpDecrypt);
        }
        let window = if seq_and_df & DF_BIT != 0 { &mut self.window_df } else { &mut self.window };
        if !window.accept(seq_and_df & !DF_BIT) {
            return Ok(None);
        }
        Ok(Some(SEALED_PREFIX_LEN..buf.len()))
    }

    /// As [`open_in_place`](Self::open_in_place), copying: the plaintext, `None` for a replay.
    pub fn open(&mut self, packet: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        let mut buf = packet.to_vec();
        Ok(self.open_in_place(&mut buf)?.map(|r| buf[r].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_have_their_own_counters_and_replays_are_dropped() {
        let key = SessionKey::from_bytes([9; 32]);
        let mut enc = SleeveEncryptor::new(&key, false, false);
        let mut enc_df = SleeveEncryptor::new(&key, false, true);
        let mut dec = SleeveDecryptor::new(&key, true);
        let a = enc.seal(b"frames");
        let b = enc_df.seal(b"df frames");
        assert_eq!(&a[..8], &0u64.to_be_bytes());
        assert_eq!(&b[..8], &DF_BIT.to_be_bytes());
        assert_eq!(enc_df.next_seq_and_df(), DF_BIT | 1);
        assert_eq!(dec.open(&b).unwrap().unwrap(), b"df frames");
        assert_eq!(dec.open(&a).unwrap().unwrap(), b"frames");
        assert_eq!(dec.open(&a), Ok(None));
        let mut bad = a.clone();
        bad[0] ^= 0x80; // claims the DF path: the nonce changes, so authentication fails
        assert_eq!(dec.open(&bad), Err(CryptoError::UdpDecrypt));
        assert_eq!(dec.open(&a[..7]), Err(CryptoError::UdpTooShort(7)));
        assert_eq!(dec.open(&a[..20]), Err(CryptoError::UdpDecrypt));
        let mut small = [0u8; 23];
        assert!(enc.seal_in_place(&mut small).is_err());
        // Our own polarity does not open our own packets.
        let mut mirror = SleeveDecryptor::new(&key, false);
        assert_eq!(mirror.open(&enc.seal(b"x")), Err(CryptoError::UdpDecrypt));
    }
}
