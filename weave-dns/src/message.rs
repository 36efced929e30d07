//! Building and encoding DNS replies the way Weave's Go DNS library does (`SetReply`,
//! `makeResponse`, `makeErrorResponse`, `SetRcodeFormatError`), plus the defensive parsing that
//! keeps allocation bounded for hostile packets.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

/// A DNS header's size.
pub const HEADER_LEN: usize = 12;
/// UDP replies are limited to this unless the request's EDNS0 record offers more.
pub const MIN_UDP_SIZE: usize = 512;
/// The most an EDNS0 record may raise the UDP limit to: larger datagrams fragment, and
/// fragments are what spoofing and amplification thrive on (DNS Flag Day 2020's figure).
pub const MAX_UDP_SIZE: usize = 1232;

/// How a message arrived (and will be answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The largest reply `request` may get over `transport`: TCP unlimited (the 16-bit length
/// prefix), UDP 512 or the EDNS0 buffer size (which hickory already raises to at least 512),
/// at most [`MAX_UDP_SIZE`].
pub fn reply_limit(request: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => request
            .edns
            .as_ref()
            .map_or(MIN_UDP_SIZE, |e| usize::from(e.max_payload()).clamp(MIN_UDP_SIZE, MAX_UDP_SIZE)),
    }
}

/// REFUSED for a client weaveDNS does not serve: the header and question of the request, no
/// larger than it. Nothing for responses or what does not parse.
pub fn refused(request: &[u8]) -> Option<Vec<u8>> {
    let m = parse(request).filter(|m| !is_response(m))?;
    let mut r = reply_to(&m);
    r.metadata.response_code = ResponseCode::Refused;
    let out = encode(&r, request.len().max(HEADER_LEN));
    Some(out)
}

/// The message id of raw bytes (0 if too short).
pub fn raw_id(bytes: &[u8]) -> u16 {
    match bytes {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// Parses a message if its section counts could possibly fit its length (every question takes at
/// least 5 bytes, every record 11), so a 12-byte packet cannot make the parser reserve room for
/// 65535 records. A bare header parses as a message without sections, as in miekg.
pub fn parse(bytes: &[u8]) -> Option<Message> {
    if bytes.len() < HEADER_LEN {
        return None;
    }
    if bytes.len() == HEADER_LEN {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&bytes[..4]);
        return Message::from_vec(&header).ok();
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
    let needed = count(4) * 5 + (count(6) + count(8) + count(10)) * 11;
    if needed > bytes.len() - HEADER_LEN {
        return None;
    }
    Message::from_vec(bytes).ok()
}

/// miekg's `SetReply`: id, QR, opcode, RD and CD (for queries), the first question.
pub fn reply_to(request: &Message) -> Message {
    let mut m = Message::response(request.metadata.id, request.metadata.op_code);
    if request.metadata.op_code == OpCode::Query {
        m.metadata.recursion_desired = request.metadata.recursion_desired;
        m.metadata.checking_disabled = request.metadata.checking_disabled;
    }
    if let Some(q) = request.queries.first() {
        m.add_query(q.clone());
    }
    m
}

/// Weave's `makeErrorResponse`: a reply with RA and `code`, no answers.
pub fn error_reply(request: &Message, code: ResponseCode) -> Message {
    let mut m = reply_to(request);
    m.metadata.recursion_available = true;
    m.metadata.response_code = code;
    m
}

/// Weave's `makeResponse`: an authoritative reply with RA and `answers`.
pub fn answer_reply(request: &Message, answers: Vec<Record>) -> Message {
    let mut m = reply_to(request);
    m.metadata.recursion_available = true;
    m.metadata.authoritative = true;
    m.answers = answers;
    m
}

/// Encodes with name compression, dropping whole records from the end that do not fit `limit`
/// and setting TC if any were dropped. A message that cannot be encoded at all becomes a bare
/// SERVFAIL header.
pub fn encode(m: &Message, limit: usize) -> Vec<u8> {
    match emit(m) {
        Some(b) if b.len() <= limit => b,
        Some(_) => truncate(m, limit),
        None => bare_header(m.metadata.id, ResponseCode::ServFail, true),
    }
}

fn emit(m: &Message) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(MIN_UDP_SIZE);
    m.emit(&mut BinEncoder::new(&mut buf)).ok()?;
    Some(buf)
}

/// Weave's truncation: TC set, as many answers as fit (found by binary search), no authority
/// or additional records. (Hickory's own size limit leaves a partial record behind.)
fn truncate(m: &Message, limit: usize) -> Vec<u8> {
    let mut t = m.clone();
    t.metadata.truncation = true;
    t.authorities.clear();
    t.additionals.clear();
    let answers = std::mem::take(&mut t.answers);
    let fits = |t: &Message| emit(t).filter(|b| b.len() <= limit);
    // `lo` answers fit; more than `hi` do not.
    let (mut lo, mut hi) = (0, answers.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        t.answers = answers[..mid].to_vec();
        if fits(&t).is_some() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    t.answers = answers[..lo].to_vec();
    fits(&t).unwrap_or_else(|| bare_header(m.metadata.id, ResponseCode::ServFail, true))
}

/// A 12-byte reply header without sections: QR set, opcode QUERY, `code`, optionally RA.
pub fn bare_header(id: u16, code: ResponseCode, recursion_available: bool) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_LEN];
    h[..2].copy_from_slice(&id.to_be_bytes());
    h[2] = 0x80;
    h[3] = (u8::from(recursion_available) << 7) | (u16::from(code) as u8 & 0x0f);
    h
}

/// miekg's reply to an unparsable request (`SetRcodeFormatError`): only id, QR and FORMERR.
pub fn format_error(request: &[u8]) -> Vec<u8> {
    bare_header(raw_id(request), ResponseCode::FormErr, false)
}

/// True for responses (QR set), which Weave's server ignores.
pub fn is_response(m: &Message) -> bool {
    m.metadata.message_type == MessageType::Response
}
