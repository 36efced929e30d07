//! The topology gossip payload (channel `"topology"`, mesh's `peers.go`): one gob stream holding,
//! for each peer, a `peerSummary` value followed by a `[]connectionSummary` value.

use crate::gob::{self, Decoder, Encoder};
use crate::{gob_struct, PeerName};

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
        /// The remote peer's name as 6 big-endian bytes.
        pub name_byte: Vec<u8> = "NameByte",
        /// `ip:port` of the remote end as the summarised peer sees it.
        pub remote_tcp_addr: String = "RemoteTCPAddr",
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
                    name_byte: a.bytes().to_vec(),
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
