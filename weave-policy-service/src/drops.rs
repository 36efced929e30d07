//! Drop records: the packets the policy chains log to NFLOG, decoded and attributed to the
//! policies that isolated them, kept in a bounded ring for `weave policy drops`.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use weave_policy::{Direction, Model, PolicyId};

/// How many drops are kept.
pub const KEEP: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DropRecord {
    /// Unix seconds.
    pub time: u64,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub protocol: u8,
    /// Destination port (TCP, UDP, SCTP).
    pub port: Option<u16>,
    /// The side that refused: the source's egress or the destination's ingress.
    pub direction: Direction,
    /// The policies that isolated that side.
    pub isolating: Vec<PolicyId>,
}

/// The header fields of a logged IPv4 packet: source, destination, protocol, destination port
/// (`None` for other protocols and non-first fragments). `None` when it is not IPv4.
pub fn decode(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, Option<u16>)> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let proto = packet[9];
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    let frag_offset = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff;
    let port = match proto {
        6 | 17 | 132 if frag_offset == 0 && packet.len() >= ihl + 4 => {
            Some(u16::from_be_bytes([packet[ihl + 2], packet[ihl + 3]]))
        }
        _ => None,
    };
    Some((src, dst, proto, port))
}

/// The direction a log prefix names.
pub fn direction(prefix: &str) -> Option<Direction> {
    match prefix.strip_prefix(super::nft::LOG_PREFIX)? {
        "egress" => Some(Direction::Egress),
        "ingress" => Some(Direction::Ingress),
        _ => None,
    }
}

/// Turns a logged packet into a record, naming the isolating policies from the model.
pub fn record(model: &Model, prefix: &str, packet: &[u8], now: u64) -> Option<DropRecord> {
    let direction = direction(prefix)?;
    let (src, dst, protocol, port) = decode(packet)?;
    let side = match direction {
        Direction::Egress => src,
        Direction::Ingress => dst,
    };
    Some(DropRecord {
        time: now,
        src,
        dst,
        protocol,
        port,
        direction,
        isolating: model.isolating(side, direction),
    })
}

/// The most recent drops, oldest first.
#[derive(Debug, Default)]
pub struct DropLog {
    ring: VecDeque<DropRecord>,
}

impl DropLog {
    pub fn push(&mut self, r: DropRecord) {
        if self.ring.len() == KEEP {
            self.ring.pop_front();
        }
        self.ring.push_back(r);
    }

    pub fn recent(&self) -> impl Iterator<Item = &DropRecord> {
        self.ring.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(proto: u8, frag: u16) -> Vec<u8> {
        let mut p = vec![
            0x45,
            0,
            0,
            40,
            0,
            0,
            (frag >> 8) as u8,
            frag as u8,
            64,
            proto,
            0,
            0,
            10,
            32,
            0,
            3,
            10,
            32,
            0,
            1,
        ];
        p.extend_from_slice(&[0xc0, 0x01, 0x1f, 0x90, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn decodes_addresses_protocol_and_destination_port() {
        let want = |port| Some(("10.32.0.3".parse().unwrap(), "10.32.0.1".parse().unwrap(), 6, port));
        assert_eq!(decode(&packet(6, 0)), want(Some(8080)));
        // A later fragment has no ports; ICMP has none either.
        assert_eq!(decode(&packet(6, 0x0010)), want(None));
        assert_eq!(decode(&packet(1, 0)).unwrap().3, None);
        assert_eq!(decode(&[0x60; 40]), None);
        assert_eq!(decode(&packet(6, 0)[..19]), None);
        // Truncated before the ports.
        assert_eq!(decode(&packet(17, 0)[..21]).unwrap().3, None);
    }

    #[test]
    fn the_prefix_names_the_direction_and_the_model_the_policies() {
        let mut m = Model::new("h");
        m.upsert_target(weave_policy::Target {
            id: "a".into(),
            namespace: "default".into(),
            addrs: vec!["10.32.0.1".parse().unwrap()],
            host: "h".into(),
            ..Default::default()
        });
        m.set_policies(
            weave_policy::parse(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\n",
            )
            .unwrap(),
        );
        let r = record(&m, "weave-policy ingress", &packet(6, 0), 7).unwrap();
        assert_eq!((r.direction, r.port, r.time), (Direction::Ingress, Some(8080), 7));
        assert_eq!(r.isolating, vec![PolicyId { namespace: "default".into(), name: "deny".into() }]);
        assert!(record(&m, "something else", &packet(6, 0), 7).is_none());
        let mut log = DropLog::default();
        for _ in 0..KEEP + 5 {
            log.push(r.clone());
        }
        assert_eq!(log.recent().count(), KEEP);
    }
}

/// Limits events to `per_second` a second; what it holds back is counted and reported with the
/// next event let through.
#[derive(Debug)]
pub struct RateLimit {
    per_second: u32,
    window: u64,
    sent: u32,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit { per_second, window: 0, sent: 0, suppressed: 0 }
    }

    /// At unix second `now`: `Some(suppressed since the last one)` when an event may go out.
    pub fn admit(&mut self, now: u64) -> Option<u64> {
        if now != self.window {
            self.window = now;
            self.sent = 0;
        }
        if self.sent >= self.per_second {
            self.suppressed += 1;
            return None;
        }
        self.sent += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod rate_tests {
    #[test]
    fn at_most_n_a_second_and_the_rest_counted() {
        let mut r = super::RateLimit::new(2);
        assert_eq!(r.admit(10), Some(0));
        assert_eq!(r.admit(10), Some(0));
        assert_eq!(r.admit(10), None);
        assert_eq!(r.admit(10), None);
        assert_eq!(r.admit(11), Some(2));
        assert_eq!(r.admit(11), Some(0));
    }
}
