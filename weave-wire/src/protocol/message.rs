//! Messages after the features map: `tag (1 byte) | payload` (mesh's `protocolMsg`), and the
//! gossip envelopes of tags 4-6, each a self-contained gob stream of basic values
//! (`string channel, uint64 src[, uint64 dst], []byte payload`), as `gossip_channel.go` writes.

use crate::gob::{self, Decoder, Encoder, Gob};
use crate::PeerName;

/// The first byte of a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    Heartbeat,
    /// Tags 1-3: legacy overlay control (sleeve's own tags when the peer sent no `Overlays`).
    Reserved1,
    Reserved2,
    Reserved3,
    Gossip,
    GossipUnicast,
    GossipBroadcast,
    OverlayControlMsg,
    /// Weave logs and ignores these.
    Unknown(u8),
}

impl From<u8> for Tag {
    fn from(b: u8) -> Tag {
        match b {
            0 => Tag::Heartbeat,
            1 => Tag::Reserved1,
            2 => Tag::Reserved2,
            3 => Tag::Reserved3,
            4 => Tag::Gossip,
            5 => Tag::GossipUnicast,
            6 => Tag::GossipBroadcast,
            7 => Tag::OverlayControlMsg,
            other => Tag::Unknown(other),
        }
    }
}

impl From<Tag> for u8 {
    fn from(t: Tag) -> u8 {
        match t {
            Tag::Heartbeat => 0,
            Tag::Reserved1 => 1,
            Tag::Reserved2 => 2,
            Tag::Reserved3 => 3,
            Tag::Gossip => 4,
            Tag::GossipUnicast => 5,
            Tag::GossipBroadcast => 6,
            Tag::OverlayControlMsg => 7,
            Tag::Unknown(b) => b,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("bad {what} envelope on channel {channel:?}: {source}")]
    Envelope {
        what: &'static str,
        /// Empty if the channel name itself could not be read.
        channel: String,
        source: gob::Error,
    },
}

/// Tag 4 (Gossip) and tag 6 (GossipBroadcast): `src` is the relaying peer for gossip and the
/// originator for broadcasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipMsg {
    pub channel: String,
    pub src: PeerName,
    pub payload: Vec<u8>,
}

/// Tag 5 (GossipUnicast). Relays forward the original body unchanged; only `dst` decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastMsg {
    pub channel: String,
    pub src: PeerName,
    pub dst: PeerName,
    pub payload: Vec<u8>,
}

/// A decoded message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Tag 0. Weave sends the bare tag byte; any payload is ignored.
    Heartbeat,
    /// Tags 1-3, passed to the overlay as they are.
    LegacyOverlayControl {
        tag: u8,
        payload: Vec<u8>,
    },
    Gossip(GossipMsg),
    GossipUnicast(UnicastMsg),
    GossipBroadcast(GossipMsg),
    /// Tag 7: the overlay switch's `[forwarder index][sub-tag][payload]`
    /// (see [`crate::sleeve::OverlayControl`]).
    OverlayControl(Vec<u8>),
    /// Any other tag: Weave logs and ignores it.
    Unknown {
        tag: u8,
        payload: Vec<u8>,
    },
}

impl Message {
    pub fn tag(&self) -> Tag {
        match self {
            Message::Heartbeat => Tag::Heartbeat,
            Message::LegacyOverlayControl { tag, .. } | Message::Unknown { tag, .. } => Tag::from(*tag),
            Message::Gossip(_) => Tag::Gossip,
            Message::GossipUnicast(_) => Tag::GossipUnicast,
            Message::GossipBroadcast(_) => Tag::GossipBroadcast,
            Message::OverlayControl(_) => Tag::OverlayControlMsg,
        }
    }

    /// Decodes a message body (after the features map). `Ok(None)` for an empty body, which
    /// Weave ignores. Gossip envelopes are decoded; trailing gob values are ignored as in Go.
    pub fn decode(body: &[u8]) -> Result<Option<Message>, MessageError> {
        let Some((&tag, payload)) = body.split_first() else {
            return Ok(None);
        };
        Ok(Some(match Tag::from(tag) {
            Tag::Heartbeat => Message::Heartbeat,
            Tag::Reserved1 | Tag::Reserved2 | Tag::Reserved3 => {
                Message::LegacyOverlayControl { tag, payload: payload.to_vec() }
            }
            Tag::Gossip => Message::Gossip(GossipMsg::decode(payload, "Gossip")?),
            Tag::GossipBroadcast => Message::GossipBroadcast(GossipMsg::decode(payload, "GossipBroadcast")?),
            Tag::GossipUnicast => Message::GossipUnicast(UnicastMsg::decode(payload)?),
            Tag::OverlayControlMsg => Message::OverlayControl(payload.to_vec()),
            Tag::Unknown(_) => Message::Unknown { tag, payload: payload.to_vec() },
        }))
    }

    /// The message body: tag byte then payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![u8::from(self.tag())];
        match self {
            Message::Heartbeat => {}
            Message::LegacyOverlayControl { payload, .. }
            | Message::Unknown { payload, .. }
            | Message::OverlayControl(payload) => out.extend_from_slice(payload),
            Message::Gossip(g) | Message::GossipBroadcast(g) => out.extend(g.encode_envelope()),
            Message::GossipUnicast(u) => out.extend(u.encode_envelope()),
        }
        out
    }
}

/// Appends one basic gob value. Basic types never fail to encode.
fn put<T: Gob>(enc: &mut Encoder, value: &T) {
    enc.encode_typed(value).expect("gob values of basic types always encode");
}

fn envelope_err<'a>(what: &'static str, channel: &'a str) -> impl FnOnce(gob::Error) -> MessageError + 'a {
    move |source| MessageError::Envelope { what, channel: channel.to_string(), source }
}

impl GossipMsg {
    /// The envelope (without the tag byte).
    pub fn encode_envelope(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        put(&mut enc, &self.channel);
        put(&mut enc, &self.src.0);
        put(&mut enc, &self.payload);
        enc.finish()
    }

    /// Decodes an envelope of tag 4 or 6 (`what` names it in errors).
    pub fn decode(envelope: &[u8], what: &'static str) -> Result<GossipMsg, MessageError> {
        let mut dec = Decoder::new(envelope);
        let channel: String = dec.read().map_err(envelope_err(what, ""))?;
        let fields =
            |dec: &mut Decoder<'_>| -> gob::Result<(u64, Vec<u8>)> { Ok((dec.read()?, dec.read()?)) };
        let (src, payload) = fields(&mut dec).map_err(envelope_err(what, &channel))?;
        Ok(GossipMsg { channel, src: PeerName(src), payload })
    }
}

impl UnicastMsg {
    /// The envelope (without the tag byte).
    pub fn encode_envelope(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        put(&mut enc, &self.channel);
        put(&mut enc, &self.src.0);
        put(&mut enc, &self.dst.0);
        put(&mut enc, &self.payload);
        enc.finish()
    }

    pub fn decode(envelope: &[u8]) -> Result<UnicastMsg, MessageError> {
        const WHAT: &str = "GossipUnicast";
        let mut dec = Decoder::new(envelope);
        let channel: String = dec.read().map_err(envelope_err(WHAT, ""))?;
        let fields = |dec: &mut Decoder<'_>| -> gob::Result<(u64, u64, Vec<u8>)> {
            Ok((dec.read()?, dec.read()?, dec.read()?))
        };
        let (src, dst, payload) = fields(&mut dec).map_err(envelope_err(WHAT, &channel))?;
        Ok(UnicastMsg { channel, src: PeerName(src), dst: PeerName(dst), payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(u8::from(Tag::from(b)), b);
        }
        assert_eq!(Tag::from(9), Tag::Unknown(9));
    }

    #[test]
    fn messages_round_trip() {
        let msgs = [
            Message::Heartbeat,
            Message::LegacyOverlayControl { tag: 3, payload: vec![5, 0x9e] },
            Message::Gossip(GossipMsg {
                channel: "topology".into(),
                src: PeerName(0x02_00_00_00_00_0b),
                payload: vec![1; 315],
            }),
            Message::GossipBroadcast(GossipMsg { channel: String::new(), src: PeerName(0), payload: vec![] }),
            Message::GossipUnicast(UnicastMsg {
                channel: "IPallocation".into(),
                src: PeerName(1),
                dst: PeerName(0xffff_ffff_ffff),
                payload: vec![0, 1, 2],
            }),
            Message::OverlayControl(vec![0, 1]),
            Message::Unknown { tag: 200, payload: vec![1] },
        ];
        for m in msgs {
            assert_eq!(Message::decode(&m.encode()), Ok(Some(m.clone())));
        }
        assert_eq!(Message::decode(&[]), Ok(None));
        assert_eq!(Message::decode(&[0, 1, 2]), Ok(Some(Message::Heartbeat)));
    }

    #[test]
    fn envelope_errors_name_the_channel() {
        let mut env = GossipMsg { channel: "topology".into(), src: PeerName(1), payload: vec![1, 2, 3] }
            .encode_envelope();
        env.truncate(env.len() - 1);
        env.insert(0, 4);
        let err = Message::decode(&env).unwrap_err().to_string();
        assert!(err.starts_with("bad Gossip envelope on channel \"topology\": "), "{err}");
        // A unicast body read as a broadcast: the third value is a uint, not []byte.
        let mut uni = UnicastMsg { channel: "c".into(), src: PeerName(1), dst: PeerName(2), payload: vec![] }
            .encode_envelope();
        uni.insert(0, 6);
        assert!(Message::decode(&uni).is_err());
    }
}
