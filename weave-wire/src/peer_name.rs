//! Peer names: 48-bit identities written as MAC addresses (Weave's "mac" flavour).

use std::fmt;
use std::str::FromStr;

/// A peer's name. On the wire it is a gob `uint64` (gossip envelopes) or 6 big-endian bytes
/// (topology summaries, sleeve frames). `00:00:00:00:00:00` means "unknown".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PeerName(pub u64);

/// The only name flavour Weave Net 2.8 builds with; peers must agree on it.
pub const PEER_NAME_FLAVOUR: &str = "mac";

impl PeerName {
    pub const UNKNOWN: PeerName = PeerName(0);

    pub fn from_bytes(b: [u8; 6]) -> PeerName {
        PeerName(b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    /// From a 6-byte slice; `None` for any other length.
    pub fn from_slice(b: &[u8]) -> Option<PeerName> {
        Some(PeerName::from_bytes(b.try_into().ok()?))
    }

    pub fn bytes(self) -> [u8; 6] {
        let b = self.0.to_be_bytes();
        [b[2], b[3], b[4], b[5], b[6], b[7]]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid peer name {0:?}: expected a MAC address such as 02:00:00:00:00:0a (`::` may abbreviate zero groups, as in ::1)")]
pub struct PeerNameError(pub String);

impl FromStr for PeerName {
    type Err = PeerNameError;

    /// Accepts `aa:bb:cc:dd:ee:ff` and the `::`-abbreviated forms Weave accepts
    /// (`::1`, `2::1`, `1:2::`): `::` stands for one or more zero groups.
    fn from_str(s: &str) -> Result<PeerName, PeerNameError> {
        let err = || PeerNameError(s.to_string());
        let group = |g: &str| -> Result<u64, PeerNameError> {
            if g.is_empty() || g.len() > 2 || !g.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            u64::from_str_radix(g, 16).map_err(|_| err())
        };
        let groups: Vec<u64> = match s.split_once("::") {
            None => s.split(':').map(group).collect::<Result<_, _>>()?,
            Some((head, tail)) => {
                let parse = |part: &str| -> Result<Vec<u64>, PeerNameError> {
                    if part.is_empty() {
                        Ok(vec![])
                    } else {
                        part.split(':').map(group).collect()
                    }
                };
                let (h, t) = (parse(head)?, parse(tail)?);
                // As Weave: `::` stands beside one to four explicit groups, and only once.
                if !(1..=4).contains(&(h.len() + t.len())) || tail.contains("::") {
                    return Err(err());
                }
                let mut g = h;
                g.resize(6 - t.len(), 0);
                g.extend(t);
                g
            }
        };
        if groups.len() != 6 {
            return Err(err());
        }
        Ok(PeerName(groups.iter().fold(0, |acc, &x| (acc << 8) | x)))
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bytes();
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_abbreviated_forms() {
        let n = |s: &str| s.parse::<PeerName>().map(|p| p.0);
        assert_eq!(n("02:00:00:00:00:0a"), Ok(0x02000000000a));
        assert_eq!(n("::1"), Ok(1));
        assert_eq!(n("::2"), Ok(2));
        assert_eq!(n("2::1"), Ok(0x020000000001));
        assert_eq!(n("1:2::"), Ok(0x010200000000));
        assert_eq!(n("a:b::d:e"), Ok(0x0a0b00000d0e));
        assert_eq!(n("FF:ff:ff:ff:ff:ff"), Ok(0xffffffffffff));
        for bad in [
            "",
            "1:2:3",
            "1:2:3:4:5:6:7",
            "::",
            "1::2::3",
            "123::",
            "g::1",
            "1:2:3:4:5::6",
            "a:b:c::d:e",
            ":1",
        ] {
            assert!(bad.parse::<PeerName>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn formats_and_round_trips_bytes() {
        let p = PeerName(0x02000000000b);
        assert_eq!(p.to_string(), "02:00:00:00:00:0b");
        assert_eq!(PeerName::from_bytes(p.bytes()), p);
        assert_eq!(PeerName::from_slice(&[1, 2, 3]), None);
    }
}
