//! Encryption of the TCP control connection (mesh's `encryptedTCPSender/Receiver`): every
//! message body is `secretbox(plaintext)` = tag (16) || ciphertext, with nonce byte 0 =
//! 0x80 if the sender dialled the connection | 0x40 (TCP), bytes 16..24 = big-endian per-direction
//! message number from 0. The features message is number 0.

use std::fmt;

use crate::secretbox::SecretBox;
use crate::{CryptoError, SessionKey, NONCE_LEN, TAG_LEN};

const OUTBOUND_BIT: u8 = 0x80;
const TCP_BIT: u8 = 0x40;

fn nonce(first: u8, seq: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[0] = first;
    n[16..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// Seals outgoing message bodies.
pub struct TcpSender {
    cipher: SecretBox,
    first: u8,
    seq: u64,
}

impl fmt::Debug for TcpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSender")
            .field("nonce0", &self.first)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl TcpSender {
    /// `outbound`: we dialled this connection.
    pub fn new(key: &SessionKey, outbound: bool) -> TcpSender {
        TcpSender {
            cipher: SecretBox::new(key.as_bytes()),
            first: TCP_BIT | if outbound { OUTBOUND_BIT } else { 0 },
            seq: 0,
        }
    }

    /// The number the next message will use.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Appends `tag || ciphertext` of `plaintext` to `out` and advances the sequence.
    pub fn seal_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + TAG_LEN, 0);
        out.extend_from_slice(plaintext);
        let tag = self.cipher.seal_detached(&nonce(self.first, self.seq), &mut out[start + TAG_LEN..]);
        out[start..start + TAG_LEN].copy_from_slice(&tag);
        self.seq = self.seq.wrapping_add(1);
    }

    /// `tag || ciphertext` of `plaintext`; the sequence advances.
    pub fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(TAG_LEN + plaintext.len());
        self.seal_into(plaintext, &mut out);
        out
    }
}

/// Opens incoming message bodies, strictly in sequence.
pub struct TcpReceiver {
    cipher: SecretBox,
    first: u8,
    seq: u64,
}

impl fmt::Debug for TcpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpReceiver")
            .field("nonce0", &self.first)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl TcpReceiver {
    /// `outbound`: *we* dialled this connection (the peer's nonces carry the opposite bit).
    pub fn new(key: &SessionKey, outbound: bool) -> TcpReceiver {
        TcpReceiver {
            cipher: SecretBox::new(key.as_bytes()),
            first: TCP_BIT | if outbound { 0 } else { OUTBOUND_BIT },
            seq: 0,
        }
    }

    /// The number the next message must have.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Decrypts one message body (`tag || ciphertext`). Any failure (too short, wrong key,
    /// tampering, a replayed or reordered message) is "Unable to decrypt TCP msg"; the sequence
    /// only advances on success, and Weave closes the connection on failure.
    pub fn open(&mut self, body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut buf = body.to_vec();
        let range = self.open_in_place(&mut buf)?;
        buf.truncate(range.end);
        buf.drain(..range.start);
        Ok(buf)
    }

    /// Decrypts in place; the plaintext is `body[TAG_LEN..]` afterwards (returned as a range).
    pub fn open_in_place(&mut self, body: &mut [u8]) -> Result<std::ops::Range<usize>, CryptoError> {
        if body.len() < TAG_LEN {
            return Err(CryptoError::TcpDecrypt);
        }
        let (tag, data) = body.split_at_mut(TAG_LEN);
        if !self.cipher.open_detached(&nonce(self.first, self.seq), data, tag) {
            return Err(CryptoError::TcpDecrypt);
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(TAG_LEN..body.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_interoperate_and_sequence_is_strict() {
        let key = SessionKey::from_bytes([3; 32]);
        let mut out_send = TcpSender::new(&key, true);
        let mut in_recv = TcpReceiver::new(&key, false);
        let a = out_send.seal(b"hello");
        let b = out_send.seal(b"");
        assert_eq!(a.len(), 16 + 5);
        assert_eq!(in_recv.open(&b), Err(CryptoError::TcpDecrypt));
        assert_eq!(in_recv.open(&a).unwrap(), b"hello");
        assert_eq!(in_recv.open(&a), Err(CryptoError::TcpDecrypt));
        assert_eq!(in_recv.open(&b).unwrap(), b"");
        assert_eq!(in_recv.open(&[0; 15]), Err(CryptoError::TcpDecrypt));
        // Same polarity on both ends never decrypts: the nonces differ.
        let mut wrong = TcpReceiver::new(&key, true);
        assert!(wrong.open(&TcpSender::new(&key, true).seal(b"x")).is_err());
        let mut tampered = TcpSender::new(&key, false).seal(b"abc");
        tampered[17] ^= 1;
        assert!(TcpReceiver::new(&key, true).open(&tampered).is_err());
    }
}
