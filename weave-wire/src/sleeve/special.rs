//! Sleeve's out-of-band traffic: the "special" frames a forwarder sends over UDP (heartbeat,
//! frag test, PMTU probe, MTU test), the control messages it sends over TCP (mesh tags 1-3,
//! normally wrapped in the overlay switch's tag 7 as `[forwarder index][sub-tag][payload]`).

use super::{SleeveError, ETHERNET_OVERHEAD};
use crate::protocol::Message;

/// Heartbeat frame: zero Ethernet header + 8-byte big-endian connection UID.
pub const HEARTBEAT_FRAME_LEN: usize = ETHERNET_OVERHEAD + 8;
/// Frag test frame, sent non-DF; the receiver answers FragmentationReceived.
pub const FRAG_TEST_SIZE: usize = 60001;
/// PMTU probe, sent DF so the kernel refuses it and reports the path MTU; never on the wire.
pub const PMTU_DISCOVERY_SIZE: usize = 60000;

/// A special frame: all-zero Ethernet header (src = dst = 00:00:00:00:00:00, type/length 0),
/// told apart by length. Weave only honours one sent by the forwarder's remote peer to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialFrame {
    /// 22 bytes. Weave ignores a heartbeat whose UID is not the connection's.
    Heartbeat { conn_uid: u64 },
    /// 60001 bytes: answer [`SleeveControl::FragmentationReceived`].
    FragTest,
    /// 60000 bytes. Weave's receiver treats it as an MTU test (it answers PMTUVerified 59986).
    PmtuProbe,
    /// Any other length: a test of MTU `len - 14`; answer [`SleeveControl::PmtuVerified`].
    MtuTest { mtu: u16 },
}

impl SpecialFrame {
    /// Classifies a frame; `None` for an ordinary Ethernet frame (or one shorter than a header).
    pub fn classify(frame: &[u8]) -> Option<SpecialFrame> {
        let header = frame.get(..ETHERNET_OVERHEAD)?;
        if header.iter().any(|&b| b != 0) {
            return None;
        }
        Some(match frame.len() {
            HEARTBEAT_FRAME_LEN => {
                let uid = frame.last_chunk::<8>()?;
                SpecialFrame::Heartbeat { conn_uid: u64::from_be_bytes(*uid) }
            }
            FRAG_TEST_SIZE => SpecialFrame::FragTest,
            PMTU_DISCOVERY_SIZE => SpecialFrame::PmtuProbe,
            // Weave: uint16(len(frame) - EthernetOverhead); frames never exceed 65535 bytes.
            n => SpecialFrame::MtuTest { mtu: (n - ETHERNET_OVERHEAD) as u16 },
        })
    }

    /// The frame bytes (heap-allocated: the tests are up to 60001 bytes).
    pub fn to_frame(&self) -> Vec<u8> {
        match *self {
            SpecialFrame::Heartbeat { conn_uid } => heartbeat_frame(conn_uid).to_vec(),
            SpecialFrame::FragTest => vec![0; FRAG_TEST_SIZE],
            SpecialFrame::PmtuProbe => vec![0; PMTU_DISCOVERY_SIZE],
            SpecialFrame::MtuTest { mtu } => vec![0; usize::from(mtu) + ETHERNET_OVERHEAD],
        }
    }

    /// What the receiver answers over TCP, as Weave does (a heartbeat is acknowledged with
    /// ConnectionEstablished only the first time, which is the caller's state to keep).
    pub fn reply(&self) -> SleeveControl {
        match *self {
            SpecialFrame::Heartbeat { .. } => SleeveControl::ConnectionEstablished,
            SpecialFrame::FragTest => SleeveControl::FragmentationReceived,
            SpecialFrame::PmtuProbe => {
                SleeveControl::PmtuVerified { mtu: (PMTU_DISCOVERY_SIZE - ETHERNET_OVERHEAD) as u16 }
            }
            SpecialFrame::MtuTest { mtu } => SleeveControl::PmtuVerified { mtu },
        }
    }
}

/// The 22-byte heartbeat frame for a connection.
pub fn heartbeat_frame(conn_uid: u64) -> [u8; HEARTBEAT_FRAME_LEN] {
    let mut f = [0u8; HEARTBEAT_FRAME_LEN];
    f[ETHERNET_OVERHEAD..].copy_from_slice(&conn_uid.to_be_bytes());
    f
}

/// Sleeve forwarder control messages (sub-tags reuse mesh's reserved tags 1-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SleeveControl {
    /// 1: heartbeat acknowledged; the forwarder is established.
    ConnectionEstablished,
    /// 2: the frag test arrived; the kernel can fragment for this peer.
    FragmentationReceived,
    /// 3: an MTU test of this size arrived.
    PmtuVerified { mtu: u16 },
    /// Weave logs and ignores other tags.
    Unknown { tag: u8, payload: Vec<u8> },
}

impl SleeveControl {
    pub const CONNECTION_ESTABLISHED: u8 = 1;
    pub const FRAGMENTATION_RECEIVED: u8 = 2;
    pub const PMTU_VERIFIED: u8 = 3;

    /// Parses a sub-tag and payload. Extra payload bytes are ignored, as by Weave.
    pub fn decode(tag: u8, payload: &[u8]) -> Result<SleeveControl, SleeveError> {
        Ok(match tag {
            Self::CONNECTION_ESTABLISHED => SleeveControl::ConnectionEstablished,
            Self::FRAGMENTATION_RECEIVED => SleeveControl::FragmentationReceived,
            Self::PMTU_VERIFIED => match payload.first_chunk::<2>() {
                Some(b) => SleeveControl::PmtuVerified { mtu: u16::from_be_bytes(*b) },
                None => return Err(SleeveError::MtuAckTooShort(payload.len())),
            },
            _ => SleeveControl::Unknown { tag, payload: payload.to_vec() },
        })
    }

    pub fn tag(&self) -> u8 {
        match self {
            SleeveControl::ConnectionEstablished => Self::CONNECTION_ESTABLISHED,
            SleeveControl::FragmentationReceived => Self::FRAGMENTATION_RECEIVED,
            SleeveControl::PmtuVerified { .. } => Self::PMTU_VERIFIED,
            SleeveControl::Unknown { tag, .. } => *tag,
        }
    }

    pub fn payload(&self) -> Vec<u8> {
        match self {
            SleeveControl::PmtuVerified { mtu } => mtu.to_be_bytes().to_vec(),
            SleeveControl::Unknown { payload, .. } => payload.clone(),
            _ => Vec::new(),
        }
    }

    /// The mesh message carrying this for forwarder `index` of the overlay switch (tag 7).
    pub fn to_message(&self, index: u8) -> Message {
        Message::OverlayControl(OverlayControl::encode(index, self.tag(), &self.payload()))
    }

    /// The mesh message in compat mode (peer sent no `Overlays` feature): raw tag 1-3.
    pub fn to_legacy_message(&self) -> Message {
        Message::LegacyOverlayControl { tag: self.tag(), payload: self.payload() }
    }
}

/// The overlay switch's tag 7 body: which forwarder (index into the common overlays, in the
/// order the connection chose them), its sub-tag and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlayControl<'a> {
    pub index: u8,
    pub tag: u8,
    pub payload: &'a [u8],
}

impl<'a> OverlayControl<'a> {
    /// Parses a tag 7 payload (Weave would index past the end of a short one; here it is an
    /// error). The index is not checked against the forwarders: that is the caller's job.
    pub fn decode(body: &'a [u8]) -> Result<OverlayControl<'a>, SleeveError> {
        match body {
            [index, tag, payload @ ..] => Ok(OverlayControl { index: *index, tag: *tag, payload }),
            _ => Err(SleeveError::OverlayControlTooShort(body.len())),
        }
    }

    pub fn encode(index: u8, tag: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + payload.len());
        out.extend_from_slice(&[index, tag]);
        out.extend_from_slice(payload);
        out
    }

    /// The sleeve control message inside (for a sleeve forwarder's index).
    pub fn sleeve_control(&self) -> Result<SleeveControl, SleeveError> {
        SleeveControl::decode(self.tag, self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_frames() {
        let hb = heartbeat_frame(0x6e17d5939327ee71);
        assert_eq!(
            SpecialFrame::classify(&hb),
            Some(SpecialFrame::Heartbeat { conn_uid: 0x6e17d5939327ee71 })
        );
        for s in [SpecialFrame::FragTest, SpecialFrame::PmtuProbe, SpecialFrame::MtuTest { mtu: 1438 }] {
            assert_eq!(SpecialFrame::classify(&s.to_frame()), Some(s));
        }
        assert_eq!(SpecialFrame::classify(&[0; 13]), None);
        let mut not = [0u8; 60];
        not[12] = 8;
        assert_eq!(SpecialFrame::classify(&not), None);
        assert_eq!(SpecialFrame::MtuTest { mtu: 1414 }.reply(), SleeveControl::PmtuVerified { mtu: 1414 });
    }

    #[test]
    fn control_messages() {
        let m = SleeveControl::PmtuVerified { mtu: 1438 }.to_message(0);
        assert_eq!(m.encode(), [7, 0, 3, 0x05, 0x9e]);
        let Message::OverlayControl(body) = m else { unreachable!() };
        let oc = OverlayControl::decode(&body).unwrap();
        assert_eq!(oc.sleeve_control(), Ok(SleeveControl::PmtuVerified { mtu: 1438 }));
        assert_eq!(SleeveControl::ConnectionEstablished.to_legacy_message().encode(), [1]);
        assert_eq!(OverlayControl::decode(&[0]), Err(SleeveError::OverlayControlTooShort(1)));
        assert_eq!(SleeveControl::decode(3, &[5]), Err(SleeveError::MtuAckTooShort(1)));
        assert_eq!(SleeveControl::decode(9, &[5]), Ok(SleeveControl::Unknown { tag: 9, payload: vec![5] }));
    }
}
