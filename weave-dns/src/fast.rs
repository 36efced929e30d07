//! The fast path for the most common request: one A question, in the weave domain, without
//! EDNS, with a plain name (letters, digits, `-`, `_`). Its reply is built straight from the
//! request bytes (question copied, answers pointing at it), byte for byte what the general path
//! encodes (tests and the fuzz target check that); anything else returns `None` and takes the
//! general path.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::entries::Entries;
use crate::message::{Transport, HEADER_LEN, MIN_UDP_SIZE};
use crate::names::{is_single_label, route, Zone};

/// The longest wire name.
const MAX_NAME: usize = 255;
/// An A record whose owner is a pointer to the question name.
const A_RECORD_LEN: usize = 16;

/// The reply, or `None` when the request needs the general path.
pub(crate) fn answer<R: Rng + ?Sized>(
    request: &[u8],
    transport: Transport,
    domain_lower: &str,
    ttl: u32,
    entries: &Entries,
    rng: &mut R,
) -> Option<Vec<u8>> {
    let h = request.get(..HEADER_LEN)?;
    // A query (QR clear, opcode 0) with one question and nothing else.
    if h[2] & 0xf8 != 0 || h[4..12] != [0, 1, 0, 0, 0, 0, 0, 0] {
        return None;
    }
    let (qname, name_end) = plain_name(request)?;
    let question_end = name_end + 4;
    // Type A, class IN, and no trailing bytes.
    if request.len() != question_end || request[name_end..question_end] != [0, 1, 0, 1] {
        return None;
    }
    if route(&qname, false, domain_lower) != Zone::Local || is_single_label(&qname) {
        return None;
    }
    let mut addrs = entries.lookup_live(&qname);
    // Header flags of the reply: QR, RD and CD copied, RA; AA with answers, NXDOMAIN without.
    let rd = h[2] & 0x01;
    let cd = h[3] & 0x10;
    let mut out = Vec::with_capacity(question_end + addrs.len() * A_RECORD_LEN);
    out.extend_from_slice(&h[..2]);
    if addrs.is_empty() {
        out.extend_from_slice(&[0x80 | rd, 0x80 | cd | 3, 0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&request[HEADER_LEN..question_end]);
        return Some(out);
    }
    addrs.shuffle(rng);
    let limit = match transport {
        Transport::Udp => MIN_UDP_SIZE,
        Transport::Tcp => usize::from(u16::MAX),
    };
    let fit = (limit.checked_sub(question_end)? / A_RECORD_LEN).min(addrs.len());
    let tc = if fit < addrs.len() { 0x02 } else { 0 };
    let count = u16::try_from(fit).ok()?;
    out.extend_from_slice(&[0x84 | tc | rd, 0x80 | cd]);
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&request[HEADER_LEN..question_end]);
    for a in &addrs[..fit] {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&[0, 4]);
        out.extend_from_slice(&a.octets());
    }
    Some(out)
}

/// The question name in presentation form and where it ends, if it is uncompressed and every
/// label is 1..=63 bytes of `[A-Za-z0-9_-]` (nothing miekg would escape).
fn plain_name(request: &[u8]) -> Option<(String, usize)> {
    let mut at = HEADER_LEN;
    let mut name = String::with_capacity(64);
    loop {
        let len = usize::from(*request.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        let label = request.get(at + 1..at + 1 + len)?;
        if !label.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_') {
            return None;
        }
        name.push_str(std::str::from_utf8(label).ok()?);
        name.push('.');
        at += 1 + len;
        if at - HEADER_LEN > MAX_NAME {
            return None;
        }
    }
    (!name.is_empty()).then_some((name, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Action, Responder};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn query(id: u16, flags: [u8; 2], name: &str, qtype: u16) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&flags);
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        for l in name.trim_end_matches('.').split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m
    }

    #[test]
    fn same_bytes_as_the_general_path() {
        let ns = crate::fuzz::fixture();
        let responder = Responder::new(ns.domain(), 7);
        let names = [
            "c1.weave.local.",
            "C1.WEAVE.local.",
            "many.weave.local.",
            "nosuch.weave.local.",
            "gone.weave.local.",
        ];
        let mut fast_answers = 0;
        for (i, name) in names.iter().enumerate() {
            for flags in [[0x00, 0x00], [0x01, 0x00], [0x01, 0x10], [0x01, 0x20], [0x00, 0x30]] {
                for transport in [Transport::Udp, Transport::Tcp] {
                    let q = query(0x1234 + i as u16, flags, name, 1);
                    let seed = i as u64 * 31 + u64::from(flags[0]);
                    let mut rng = StdRng::seed_from_u64(seed);
                    let Some(fast) = answer(&q, transport, "weave.local.", 7, ns.entries(), &mut rng) else {
                        panic!("{name} {flags:?} not on the fast path");
                    };
                    let mut rng = StdRng::seed_from_u64(seed);
                    let Action::Reply(general) =
                        responder.answer_general(&q, transport, ns.entries(), &mut rng)
                    else {
                        panic!("no reply")
                    };
                    assert_eq!(fast, general, "{name} {flags:?} {transport:?}");
                    fast_answers += 1;
                }
            }
        }
        assert_eq!(fast_answers, 50);
    }

    #[test]
    fn everything_else_takes_the_general_path() {
        let ns = crate::fuzz::fixture();
        let mut rng = StdRng::seed_from_u64(1);
        let mut fast = |q: &[u8]| answer(q, Transport::Udp, "weave.local.", 1, ns.entries(), &mut rng);
        assert!(fast(&query(1, [1, 0], "c1.weave.local", 28)).is_none(), "AAAA");
        assert!(fast(&query(1, [1, 0], "c1", 1)).is_none(), "single label");
        assert!(fast(&query(1, [1, 0], "www.example.com", 1)).is_none(), "recursive");
        assert!(fast(&query(1, [0x81, 0], "c1.weave.local", 1)).is_none(), "a response");
        assert!(fast(&query(1, [0x09, 0], "c1.weave.local", 1)).is_none(), "opcode 1");
        assert!(fast(&query(1, [1, 0], "c\\1.weave.local", 1)).is_none(), "escaped byte");
        let mut edns = query(1, [1, 0], "c1.weave.local", 1);
        edns[11] = 1;
        edns.extend_from_slice(&[0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0]);
        assert!(fast(&edns).is_none(), "EDNS");
        let mut trailing = query(1, [1, 0], "c1.weave.local", 1);
        trailing.push(0);
        assert!(fast(&trailing).is_none(), "trailing bytes");
        let mut pointer = query(1, [1, 0], "c1.weave.local", 1);
        pointer[12] = 0xc0;
        assert!(fast(&pointer).is_none(), "compressed name");
        assert!(fast(&query(1, [1, 0], "c1.weave.local", 1)).is_some());
    }
}
