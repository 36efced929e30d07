//! The features map: the first message of a connection, a gob `map[string]string` describing
//! the sender (mesh's `makeFeatures`/`parseFeatures`, plus weave's `Overlays`). Parsing applies
//! Weave's checks in Weave's order, so the first error reported is the one weaver would log.

use std::collections::BTreeMap;

use crate::gob::{self, Decoder, Encoder, Type, Value};
use crate::{PeerName, PEER_NAME_FLAVOUR};

/// Keys Weave requires, in the order it checks them.
const MANDATORY: [&str; 5] = ["PeerNameFlavour", "Name", "NickName", "UID", "ConnID"];
/// Largest features frame accepted during the handshake, sealed or not. Weave's features maps
/// are about 200 bytes (a nickname is a hostname); this leaves room for long nicknames and keys
/// of later versions while a peer that has not proved anything yet cannot make us wait for, or
/// decode, megabytes.
pub const MAX_FEATURES_FRAME: usize = 16 << 10;
/// Short ids are 12-bit (`peerShortIDBits`).
const SHORT_ID_BITS: u32 = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeaturesError {
    #[error("features message is not a gob map[string]string: {0}")]
    Gob(#[from] gob::Error),
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("Peer name flavour mismatch (ours: '{PEER_NAME_FLAVOUR}', theirs: '{0}')")]
    FlavourMismatch(String),
    #[error("invalid peer name format: {0:?}")]
    BadName(String),
    /// Go's `strconv.ParseUint` text, prefixed with the key.
    #[error("feature {key}: strconv.ParseUint: parsing {value:?}: {}", if *.out_of_range { "value out of range" } else { "invalid syntax" })]
    BadNumber { key: &'static str, value: String, out_of_range: bool },
    #[error("feature {key}: strconv.ParseBool: parsing {value:?}: invalid syntax")]
    BadBool { key: &'static str, value: String },
}

/// What a peer says about itself when a connection starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub name: PeerName,
    pub nick_name: String,
    /// `None` when the key is absent (then the peer has no short id, `HasShortID` false).
    pub short_id: Option<u16>,
    /// The peer's incarnation UID.
    pub uid: u64,
    /// Random per connection; XOR of both ends' values is the connection UID.
    pub conn_id: u64,
    /// Whether the sender trusts the receiver's address (`--trusted-subnets`); absent = false.
    pub trusted: bool,
    /// Overlay names in the sender's preference order; `None` when the key is absent
    /// (Weave then uses sleeve directly, with raw control tags 1-3).
    pub overlays: Option<Vec<String>>,
    /// Our extension `FastDPHeartbeat` (Weave ignores keys it does not know): the sender's
    /// fastdp heartbeat interval in milliseconds once established, and a promise to keep
    /// acknowledging heartbeats (not only the first, as Weave), so both ends notice a dead VXLAN
    /// path within seconds. Both ends use the longer of the two intervals.
    pub fastdp_heartbeat_ms: Option<u32>,
    /// Our extension `SleeveCiphers` (`weave_crypto::aead::FEATURE_KEY`): the sleeve AEAD
    /// suites the sender offers, best first; absent from Weave Net peers and with
    /// `--sleeve-cipher nacl`, and then the sleeve uses Weave's NaCl.
    pub sleeve_ciphers: Option<String>,
}

impl Features {
    /// Key/value pairs in the order of mesh's `makeFeatures` (Go itself sends a map in random
    /// order; receivers do not care).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("PeerNameFlavour", PEER_NAME_FLAVOUR.to_string()),
            ("Name", self.name.to_string()),
            ("NickName", self.nick_name.clone()),
        ];
        if let Some(id) = self.short_id {
            out.push(("ShortID", id.to_string()));
        }
        out.push(("UID", self.uid.to_string()));
        out.push(("ConnID", self.conn_id.to_string()));
        out.push(("Trusted", self.trusted.to_string()));
        if let Some(overlays) = &self.overlays {
            out.push(("Overlays", overlays.join(" ")));
        }
        if let Some(ms) = self.fastdp_heartbeat_ms {
            out.push(("FastDPHeartbeat", ms.to_string()));
        }
        if let Some(c) = &self.sleeve_ciphers {
            out.push((crate::crypto::aead::FEATURE_KEY, c.clone()));
        }
        out
    }

    /// The features message body: a gob stream whose map type gets id 65.
    pub fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        self.encode_into(&mut enc);
        enc.finish()
    }

    /// The same with the map type given `first_type_id` (weaver's is 74), for byte-exact
    /// comparisons with captures. Fails only for an id outside gob's user range.
    pub fn encode_with_first_type_id(&self, first_type_id: i64) -> Result<Vec<u8>, gob::Error> {
        let mut enc = Encoder::with_first_type_id(first_type_id)?;
        self.encode_into(&mut enc);
        Ok(enc.finish())
    }

    fn encode_into(&self, enc: &mut Encoder) {
        let entries = self
            .to_pairs()
            .into_iter()
            .map(|(k, v)| (Value::String(k.to_string()), Value::String(v)))
            .collect();
        let ty = Type::map(Type::String, Type::String);
        // A map of strings always fits its type.
        enc.encode(&ty, &Value::Map(entries)).expect("gob map[string]string always encodes");
    }

    /// Decodes the features message body. Like Go, only the first value of the stream is read.
    pub fn decode(body: &[u8]) -> Result<Features, FeaturesError> {
        Features::from_map(&decode_map(body)?)
    }

    /// Weave's `parseFeatures`: mandatory keys, flavour, name, then the numbers.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Features, FeaturesError> {
        for key in MANDATORY {
            if !map.contains_key(key) {
                return Err(FeaturesError::Missing(key));
            }
        }
        let get = |k: &str| map.get(k).map(String::as_str).unwrap_or_default();
        let flavour = get("PeerNameFlavour");
        if flavour != PEER_NAME_FLAVOUR {
            return Err(FeaturesError::FlavourMismatch(flavour.to_string()));
        }
        let name: PeerName =
            get("Name").parse().map_err(|_| FeaturesError::BadName(get("Name").to_string()))?;
        let short_id = match map.get("ShortID") {
            Some(s) => Some(parse_uint("ShortID", s, SHORT_ID_BITS)? as u16),
            None => None,
        };
        let trusted = match map.get("Trusted") {
            Some(s) => parse_bool("Trusted", s)?,
            None => false,
        };
        let uid = parse_uint("UID", get("UID"), 64)?;
        let conn_id = parse_uint("ConnID", get("ConnID"), 64)?;
        // Go's strings.Split: an empty value is one empty name.
        let overlays = map.get("Overlays").map(|s| s.split(' ').map(str::to_string).collect());
        // An extension: a malformed value means "not offered" rather than a failed handshake.
        let fastdp_heartbeat_ms =
            map.get("FastDPHeartbeat").and_then(|s| s.parse::<u32>().ok()).filter(|ms| *ms > 0);
        Ok(Features {
            name,
            nick_name: get("NickName").to_string(),
            short_id,
            uid,
            conn_id,
            trusted,
            overlays,
            fastdp_heartbeat_ms,
            sleeve_ciphers: map.get(crate::crypto::aead::FEATURE_KEY).cloned(),
        })
    }
}

/// The raw map of a features message (first gob value; later ones are ignored, as by Go).
pub fn decode_map(body: &[u8]) -> Result<BTreeMap<String, String>, FeaturesError> {
    Ok(Decoder::new(body).read()?)
}

/// The connection UID both ends derive: local ConnID XOR remote ConnID.
pub fn connection_uid(local_conn_id: u64, remote_conn_id: u64) -> u64 {
    local_conn_id ^ remote_conn_id
}

/// Go's `strconv.ParseUint(s, 10, bits)`: ASCII digits only, no sign, no underscores.
fn parse_uint(key: &'static str, s: &str, bits: u32) -> Result<u64, FeaturesError> {
    let err = |out_of_range| FeaturesError::BadNumber { key, value: s.to_string(), out_of_range };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(false));
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(b - b'0'))).ok_or_else(|| err(true))?;
    }
    if bits < 64 && n >> bits != 0 {
        return Err(err(true));
    }
    Ok(n)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &'static str, s: &str) -> Result<bool, FeaturesError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(FeaturesError::BadBool { key, value: s.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Features {
        Features {
            name: PeerName(0x02_00_00_00_00_0c),
            nick_name: "pypeer".into(),
            short_id: Some(42),
            uid: 1234567890123456789,
            conn_id: 1111111111111111111,
            trusted: false,
            overlays: Some(vec!["sleeve".into()]),
            fastdp_heartbeat_ms: Some(1000),
            sleeve_ciphers: Some("aes-256-gcm chacha20-poly1305".into()),
        }
    }

    fn map_of(f: &Features) -> BTreeMap<String, String> {
        f.to_pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn round_trips() {
        let f = sample();
        assert_eq!(Features::decode(&f.encode()), Ok(f.clone()));
        assert_eq!(map_of(&f)["SleeveCiphers"], "aes-256-gcm chacha20-poly1305");
        let bare = Features {
            short_id: None,
            overlays: None,
            trusted: true,
            fastdp_heartbeat_ms: None,
            sleeve_ciphers: None,
            ..f
        };
        assert_eq!(Features::decode(&bare.encode()), Ok(bare));
    }

    #[test]
    fn a_bad_extension_value_is_ignored() {
        let mut map = map_of(&sample());
        map.insert("FastDPHeartbeat".into(), "soon".into());
        assert_eq!(Features::from_map(&map).unwrap().fastdp_heartbeat_ms, None);
        map.insert("FastDPHeartbeat".into(), "0".into());
        assert_eq!(Features::from_map(&map).unwrap().fastdp_heartbeat_ms, None);
    }

    #[test]
    fn weave_errors_in_weave_order() {
        let mut m = map_of(&sample());
        m.remove("UID");
        m.remove("Name");
        assert_eq!(Features::from_map(&m).unwrap_err().to_string(), "field Name is missing");
        let mut m = map_of(&sample());
        m.insert("PeerNameFlavour".into(), "hash".into());
        assert_eq!(
            Features::from_map(&m).unwrap_err().to_string(),
            "Peer name flavour mismatch (ours: 'mac', theirs: 'hash')"
        );
        let check = |key: &str, value: &str, want: &str| {
            let mut m = map_of(&sample());
            m.insert(key.into(), value.into());
            assert_eq!(Features::from_map(&m).unwrap_err().to_string(), want);
        };
        check("Name", "zz", "invalid peer name format: \"zz\"");
        check("ShortID", "4096", "feature ShortID: strconv.ParseUint: parsing \"4096\": value out of range");
        check("UID", "+1", "feature UID: strconv.ParseUint: parsing \"+1\": invalid syntax");
        check(
            "ConnID",
            "18446744073709551616",
            "feature ConnID: strconv.ParseUint: parsing \"18446744073709551616\": value out of range",
        );
        check("Trusted", "yes", "feature Trusted: strconv.ParseBool: parsing \"yes\": invalid syntax");
        let mut m = map_of(&sample());
        m.insert("ShortID".into(), "4095".into());
        m.insert("Trusted".into(), "T".into());
        m.insert("Overlays".into(), "fastdp sleeve".into());
        let f = Features::from_map(&m).unwrap();
        assert_eq!(
            (f.short_id, f.trusted, f.overlays),
            (Some(4095), true, Some(vec!["fastdp".to_string(), "sleeve".to_string()]))
        );
    }

    #[test]
    fn not_a_string_map() {
        let body = gob::to_bytes(&[&7u64]).unwrap();
        assert!(matches!(Features::decode(&body), Err(FeaturesError::Gob(_))));
        assert_eq!(connection_uid(0b1100, 0b1010), 0b0110);
    }
}
