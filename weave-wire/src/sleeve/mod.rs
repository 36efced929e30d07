//! The sleeve UDP payload (weave's `router/sleeve.go`, `frame_crypto.go`):
//!
//! ```text
//! plain:      sender name (6) | records
//! encrypted:  sender name (6) | seq_and_DF (8) | secretbox(records) = tag (16) | ciphertext
//! record:     src peer (6) | dst peer (6) | frame length (2, BE) | Ethernet frame
//! ```
//!
//! [`split_sender`] and [`frames`] parse without copying; [`PacketBuilder`] fills a caller's
//! buffer. Encryption itself is [`crate::crypto::SleeveEncryptor`] and
//! [`crate::crypto::SleeveDecryptor`], applied to the bytes after the sender name.
//! Special frames and control messages are in [`special`].

pub mod special;

pub use special::{OverlayControl, SleeveControl, SpecialFrame};

use crate::crypto::SEALED_PREFIX_LEN;
use crate::PeerName;

/// Length of a peer name on the wire.
pub const NAME_SIZE: usize = 6;
/// src + dst + length in front of every frame (`FrameOverhead`).
pub const FRAME_HEADER_LEN: usize = NAME_SIZE + NAME_SIZE + 2;
/// An Ethernet header.
pub const ETHERNET_OVERHEAD: usize = 14;
/// IPv4 + UDP headers.
pub const UDP_OVERHEAD: usize = 28;
/// Largest UDP payload weave reads or builds.
pub const MAX_UDP_PACKET_SIZE: usize = 65535;
/// Bytes before the first record of an encrypted packet: name, seq_and_DF, tag.
pub const ENCRYPTED_PREFIX_LEN: usize = NAME_SIZE + SEALED_PREFIX_LEN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SleeveError {
    #[error("UDP packet of {0} bytes is too short to hold the sender's peer name")]
    NoSender(usize),
    /// Weave's text (`PacketDecodingError`).
    #[error("Failed to decode packet: too short; expected frame of length {expected}, got {got}")]
    FrameTruncated { expected: u16, got: usize },
    /// Weave's text (`PacketDecodingError`).
    #[error("Failed to decode packet: {0} octets of trailing garbage")]
    TrailingGarbage(usize),
    #[error("Ethernet frame of {0} bytes does not fit the 16-bit length field")]
    FrameTooLong(usize),
    #[error("tag 7 overlay control message of {0} bytes lacks the forwarder index and sub-tag")]
    OverlayControlTooShort(usize),
    /// Weave logs "Received truncated MTUTestAck" and ignores the message.
    #[error("PMTUVerified control message with {0} bytes of payload instead of 2")]
    MtuAckTooShort(usize),
}

/// Splits a UDP payload into the sender's name and the rest (records, or seq + secretbox).
pub fn split_sender(udp_payload: &[u8]) -> Result<(PeerName, &[u8]), SleeveError> {
    match udp_payload.split_first_chunk::<NAME_SIZE>() {
        Some((name, rest)) => Ok((PeerName::from_bytes(*name), rest)),
        None => Err(SleeveError::NoSender(udp_payload.len())),
    }
}

/// One record: an Ethernet frame with the peers it travels between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRecord<'a> {
    pub src: PeerName,
    pub dst: PeerName,
    pub frame: &'a [u8],
}

/// The records of a (decrypted) packet body, in order; see [`frames`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    rest: &'a [u8],
    done: bool,
}

/// Iterates over the records in `body` (the bytes after the sender name, or the plaintext of
/// an encrypted packet). Like Weave, records before a damaged one are delivered; then the
/// iterator yields one error and stops.
pub fn frames(body: &[u8]) -> Frames<'_> {
    Frames { rest: body, done: false }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<FrameRecord<'a>, SleeveError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let Some((head, rest)) = self.rest.split_first_chunk::<FRAME_HEADER_LEN>() else {
            self.done = true;
            return Some(Err(SleeveError::TrailingGarbage(self.rest.len())));
        };
        let len = u16::from_be_bytes([head[12], head[13]]);
        let Some((frame, rest)) = rest.split_at_checked(len as usize) else {
            self.done = true;
            return Some(Err(SleeveError::FrameTruncated { expected: len, got: rest.len() }));
        };
        self.rest = rest;
        let name = |b: &[u8]| PeerName::from_slice(b).unwrap_or_default();
        Some(Ok(FrameRecord {
            src: name(&head[..NAME_SIZE]),
            dst: name(&head[NAME_SIZE..2 * NAME_SIZE]),
            frame,
        }))
    }
}

/// Fills a caller-provided buffer with one UDP payload, frame by frame, while frames fit the
/// maximum payload (weave's `maxPayload`: the UDP payload budget, prefix included).
/// Weave sends special frames (heartbeats, frag and MTU tests) alone, with no budget but the
/// 65535-byte UDP maximum ([`MAX_UDP_PACKET_SIZE`]).
///
/// For an encrypted packet, build with [`new_encrypted`](Self::new_encrypted), then seal
/// `buf[NAME_SIZE..len]` with [`crate::crypto::SleeveEncryptor::seal_in_place`]: the builder
/// leaves the seq and tag slots empty and the secretbox adds no length.
#[derive(Debug)]
pub struct PacketBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    prefix: usize,
    limit: usize,
    count: usize,
}

/// Why a frame was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Send what is buffered and start a new packet (or, if it is empty, the frame can never fit).
    #[error("frame of {frame_len} bytes does not fit: packet has {len} of {limit} bytes")]
    Full { frame_len: usize, len: usize, limit: usize },
    #[error("Ethernet frame of {0} bytes does not fit the 16-bit length field")]
    TooLong(usize),
}

impl<'b> PacketBuilder<'b> {
    /// An unencrypted packet from `sender`. The limit is `max_payload`, or the buffer's size
    /// if smaller; a buffer too small for the name gives a builder that accepts nothing.
    pub fn new(buf: &'b mut [u8], sender: PeerName, max_payload: usize) -> Self {
        Self::with_prefix(buf, sender, max_payload, NAME_SIZE)
    }

    /// An encrypted packet: records start after room for seq_and_DF and the tag.
    pub fn new_encrypted(buf: &'b mut [u8], sender: PeerName, max_payload: usize) -> Self {
        Self::with_prefix(buf, sender, max_payload, ENCRYPTED_PREFIX_LEN)
    }

    fn with_prefix(buf: &'b mut [u8], sender: PeerName, max_payload: usize, prefix: usize) -> Self {
        let limit = max_payload.min(buf.len());
        if let Some(name) = buf.get_mut(..NAME_SIZE) {
            name.copy_from_slice(&sender.bytes());
        }
        PacketBuilder { buf, len: prefix, prefix, limit, count: 0 }
    }

    /// Whether a frame of `frame_len` bytes would fit now.
    pub fn fits(&self, frame_len: usize) -> bool {
        frame_len.checked_add(self.len + FRAME_HEADER_LEN).is_some_and(|end| end <= self.limit)
    }

    /// Appends one record.
    pub fn push(&mut self, src: PeerName, dst: PeerName, frame: &[u8]) -> Result<(), PushError> {
        let Ok(len16) = u16::try_from(frame.len()) else {
            return Err(PushError::TooLong(frame.len()));
        };
        if !self.fits(frame.len()) {
            return Err(PushError::Full { frame_len: frame.len(), len: self.len, limit: self.limit });
        }
        let out = &mut self.buf[self.len..self.len + FRAME_HEADER_LEN + frame.len()];
        out[..6].copy_from_slice(&src.bytes());
        out[6..12].copy_from_slice(&dst.bytes());
        out[12..14].copy_from_slice(&len16.to_be_bytes());
        out[14..].copy_from_slice(frame);
        self.len += out.len();
        self.count += 1;
        Ok(())
    }

    /// Frames added so far (weave flushes after at most 100).
    pub fn frame_count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the payload so far, prefix included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The payload length; the packet is `buf[..len]`. Records start at `prefix_len()`.
    /// (0 if the buffer was too small for even the prefix.)
    pub fn finish(self) -> usize {
        if self.len > self.buf.len() {
            0
        } else {
            self.len
        }
    }

    /// Where the records start: 6, or 30 for an encrypted packet.
    pub fn prefix_len(&self) -> usize {
        self.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse() {
        let (a, b) = (PeerName(0x0a), PeerName(0x0b));
        let mut buf = [0u8; 64];
        let mut pb = PacketBuilder::new(&mut buf, a, 60);
        pb.push(a, b, &[1, 2, 3]).unwrap();
        pb.push(b, a, &[]).unwrap();
        assert_eq!(
            pb.push(a, b, &[0; 20]),
            Err(PushError::Full { frame_len: 20, len: 6 + 17 + 14, limit: 60 })
        );
        assert!(pb.fits(9) && !pb.fits(10) && !pb.fits(usize::MAX));
        let n = pb.finish();
        let (sender, body) = split_sender(&buf[..n]).unwrap();
        assert_eq!(sender, a);
        let got: Vec<_> = frames(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            [FrameRecord { src: a, dst: b, frame: &[1, 2, 3] }, FrameRecord { src: b, dst: a, frame: &[] }]
        );
        assert_eq!(split_sender(&buf[..5]), Err(SleeveError::NoSender(5)));
        let mut big = vec![0u8; 70000];
        let mut pb = PacketBuilder::new(&mut big, a, 70000);
        assert_eq!(pb.push(a, b, &[0; 65536]), Err(PushError::TooLong(65536)));
    }

    #[test]
    fn damaged_records_are_reported_after_the_good_ones() {
        let mut buf = [0u8; 40];
        let mut pb = PacketBuilder::new(&mut buf, PeerName(1), 40);
        pb.push(PeerName(1), PeerName(2), &[7; 4]).unwrap();
        let n = pb.finish();
        let body = &buf[NAME_SIZE..n];
        let mut it = frames(&body[..body.len() - 1]);
        assert_eq!(it.next(), Some(Err(SleeveError::FrameTruncated { expected: 4, got: 3 })));
        assert_eq!(it.next(), None);
        let mut long = body.to_vec();
        long.extend_from_slice(&[0; 5]);
        let results: Vec<_> = frames(&long).collect();
        assert!(results[0].is_ok());
        assert_eq!(results[1], Err(SleeveError::TrailingGarbage(5)));
        assert_eq!(results.len(), 2);
    }
}
