//! The topology gossip payload (channel `"topology"`, mesh's `peers.go`): one gob stream holding,
//! for each peer, a `peerSummary` value followed by a `[]connectionSummary` value.

use crate::gob::{self, Decoder, Encoder};
use crate::{gob_struct, PeerName};
pub use compact_str::CompactString;

/// A peer name's bytes (6 for a MAC-style name), inline.
pub type ShortBytes = smallvec::SmallVec<[u8; 8]>;

gob_struct! {
    /// mesh's `peerSummary`: a peer's identity and the version of its connection list.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct PeerSummary = "peerSummary" {
        /// The peer name as 6 big-endian bytes.
        pub name_byte: Vec<u8> = "NameByte",
        pub nick_name: String = "NickName",
        pub uid: u64 = "UID",
        pub version: u64 = "Version",
        pub short_id: u16 = "ShortID",
        pub has_short_id: bool = "HasShortID",
    }
}

gob_struct! {
    /// mesh's `connectionSummary`: one connection of the peer it follows.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ConnectionSummary = "connectionSummary" {
        /// The remote peer's name as 6 big-endian bytes (inline: no allocation per connection).
        pub name_byte: ShortBytes = "NameByte",
        /// `ip:port` of the remote end as the summarised peer sees it (inline up to 24 bytes).
        pub remote_tcp_addr: CompactString = "RemoteTCPAddr",
        pub outbound: bool = "Outbound",
        pub established: bool = "Established",
    }
}

impl PeerSummary {
    /// The peer's name; `None` unless `name_byte` has 6 bytes (Go would accept other lengths).
    pub fn name(&self) -> Option<PeerName> {
        PeerName::from_slice(&self.name_byte)
    }
}

impl ConnectionSummary {
    /// The remote peer's name; `None` unless `name_byte` has 6 bytes.
    pub fn name(&self) -> Option<PeerName> {
        PeerName::from_slice(&self.name_byte)
    }
}

/// One peer of an update and its connections.
pub type PeerUpdate = (PeerSummary, Vec<ConnectionSummary>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("topology update: peer #{index}: {source}")]
    Gob { index: usize, source: gob::Error },
    #[error("topology update: peer #{index} ({name}) has no connection list: the stream ends after its peerSummary")]
    MissingConnections { index: usize, name: String },
}

/// Encodes an update; the stream's first user type gets id 65 (Go's ids depend on the process:
/// weaver's topology types are #75-#77, and decoders accept any).
pub fn encode_topology(peers: &[PeerUpdate]) -> Vec<u8> {
    let mut enc = Encoder::new();
    encode_into(&mut enc, peers);
    enc.finish()
}

/// Encodes with a chosen first type id, for byte-exact comparison with a capture.
pub fn encode_topology_with_first_type_id(
    peers: &[PeerUpdate],
    first_type_id: i64,
) -> Result<Vec<u8>, gob::Error> {
    let mut enc = Encoder::with_first_type_id(first_type_id)?;
    encode_into(&mut enc, peers);
    Ok(enc.finish())
}

fn encode_into(enc: &mut Encoder, peers: &[PeerUpdate]) {
    for (peer, conns) in peers {
        // Typed values always fit their own types.
        enc.encode_typed(peer).expect("peerSummary encodes");
        enc.encode_typed(conns).expect("[]connectionSummary encodes");
    }
}

/// Builds topology payloads from peers encoded one at a time, byte for byte what
/// [`encode_topology`] writes: every stream defines the same three types at the same places
/// (before the first peer's summary and before its connection list), and a peer's two values do
/// not depend on what precedes them. So a sender encodes a peer once per change of it and
/// reuses the bytes in every message that carries it.
#[derive(Debug)]
pub struct PartsEncoder {
    /// Has sent every definition: encodes values only.
    warm: Encoder,
    /// The definitions a stream carries before its first `peerSummary` value, and before its
    /// first `[]connectionSummary` value.
    peer_defs: Vec<u8>,
    conns_defs: Vec<u8>,
}

/// One peer's encoded values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPeer {
    summary: Vec<u8>,
    conns: Vec<u8>,
}

impl EncodedPeer {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.summary.len() + self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for PartsEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl PartsEncoder {
    pub fn new() -> PartsEncoder {
        let mut warm = Encoder::new();
        let sample = PeerSummary::default();
        let conns: Vec<ConnectionSummary> = vec![];
        // The first of each value comes with its definitions, the second without: the
        // difference is the definitions.
        let defs_and_value = |enc: &mut Encoder, encode: &dyn Fn(&mut Encoder)| {
            encode(enc);
            let first = enc.take();
            encode(enc);
            let second = enc.take();
            debug_assert!(first.ends_with(&second));
            first[..first.len() - second.len()].to_vec()
        };
        let peer_defs = defs_and_value(&mut warm, &|e| e.encode_typed(&sample).expect("peerSummary encodes"));
        let conns_defs =
            defs_and_value(&mut warm, &|e| e.encode_typed(&conns).expect("[]connectionSummary encodes"));
        PartsEncoder { warm, peer_defs, conns_defs }
    }

    pub fn encode(&mut self, (peer, conns): &PeerUpdate) -> EncodedPeer {
        // Typed values always fit their own types.
        self.warm.encode_typed(peer).expect("peerSummary encodes");
        let summary = self.warm.take();
        self.warm.encode_typed(conns).expect("[]connectionSummary encodes");
        EncodedPeer { summary, conns: self.warm.take() }
    }

    /// The payload of these peers, in this order.
    pub fn assemble<'a>(&self, peers: impl IntoIterator<Item = &'a EncodedPeer>) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in peers.into_iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(&self.peer_defs);
                out.extend_from_slice(&p.summary);
                out.extend_from_slice(&self.conns_defs);
            } else {
                out.extend_from_slice(&p.summary);
            }
            out.extend_from_slice(&p.conns);
        }
        out
    }
}

/// Decodes an update. An empty payload is an empty update. Errors: invalid or truncated gob,
/// values of the wrong type, or a peerSummary without its connection list (Go would silently
/// drop such a trailing peer; here it is refused).
pub fn decode_topology(payload: &[u8]) -> Result<Vec<PeerUpdate>, TopologyError> {
    let mut dec = Decoder::new(payload);
    let mut out = Vec::new();
    loop {
        let index = out.len();
        let err = |source| TopologyError::Gob { index, source };
        let Some(peer) = dec.next_as::<PeerSummary>().map_err(err)? else {
            return Ok(out);
        };
        let Some(conns) = dec.next_as::<Vec<ConnectionSummary>>().map_err(err)? else {
            let name = match peer.name() {
                Some(n) => n.to_string(),
                None => format!("name bytes {:02x?}", peer.name_byte),
            };
            return Err(TopologyError::MissingConnections { index, name });
        };
        out.push((peer, conns));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_assembled_from_parts_are_the_encoders_own() {
        let mut parts = PartsEncoder::new();
        let peer = |n: u64, conns: usize| -> PeerUpdate {
            let summary = PeerSummary {
                name_byte: PeerName(n).bytes().to_vec(),
                nick_name: if n.is_multiple_of(3) { String::new() } else { format!("host{n}") },
                uid: n * 7919,
                version: n % 4,
                short_id: (n % 5) as u16,
                has_short_id: n.is_multiple_of(2),
            };
            let conns = (0..conns as u64)
                .map(|c| ConnectionSummary {
                    name_byte: PeerName(c + 100).bytes().as_slice().into(),
                    remote_tcp_addr: if c % 2 == 0 {
                        format!("10.0.0.{c}:6783").into()
                    } else {
                        CompactString::default()
                    },
                    outbound: c % 3 == 0,
                    established: c % 2 == 1,
                })
                .collect();
            (summary, conns)
        };
        for sizes in [vec![], vec![0], vec![3], vec![0, 0], vec![2, 0, 5, 1], vec![0, 4, 0]] {
            let peers: Vec<PeerUpdate> = sizes.iter().enumerate().map(|(i, &c)| peer(i as u64, c)).collect();
            let encoded: Vec<EncodedPeer> = peers.iter().map(|p| parts.encode(p)).collect();
            assert_eq!(parts.assemble(&encoded), encode_topology(&peers), "{sizes:?}");
        }
    }

    fn sample() -> Vec<PeerUpdate> {
        let a = PeerName(0x02_00_00_00_00_0a);
        let b = PeerName(0x02_00_00_00_00_0b);
        vec![
            (
                PeerSummary {
                    name_byte: b.bytes().to_vec(),
                    nick_name: "hostB".into(),
                    uid: 6821318311862484723,
                    version: 2,
                    short_id: 3219,
                    has_short_id: true,
                },
                vec![ConnectionSummary {
                    name_byte: a.bytes().as_slice().into(),
                    remote_tcp_addr: "10.200.0.1:6783".into(),
                    outbound: true,
                    established: true,
                }],
            ),
            (PeerSummary { name_byte: a.bytes().to_vec(), ..Default::default() }, vec![]),
        ]
    }

    #[test]
    fn round_trips() {
        let peers = sample();
        let bytes = encode_topology(&peers);
        assert_eq!(decode_topology(&bytes), Ok(peers.clone()));
        assert_eq!(peers[0].0.name(), Some(PeerName(0x02_00_00_00_00_0b)));
        assert_eq!(decode_topology(&[]), Ok(vec![]));
        let again = encode_topology_with_first_type_id(&peers, 75).unwrap();
        assert_eq!(decode_topology(&again), Ok(peers));
    }

    #[test]
    fn refuses_a_peer_without_connections() {
        let mut enc = Encoder::new();
        enc.encode_typed(&sample()[0].0).unwrap();
        let err = decode_topology(&enc.finish()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "topology update: peer #0 (02:00:00:00:00:0b) has no connection list: the stream ends after its peerSummary"
        );
        // A truncated stream fails, unless the cut falls between complete messages: then it
        // is a shorter update.
        let peers = sample();
        let bytes = encode_topology(&peers);
        let mut errors = 0;
        for cut in 1..bytes.len() {
            match decode_topology(&bytes[..cut]) {
                Ok(got) => assert!(got.len() < peers.len() && peers.starts_with(&got)),
                Err(_) => errors += 1,
            }
        }
        assert!(errors > bytes.len() * 9 / 10, "{errors}");
    }
}
