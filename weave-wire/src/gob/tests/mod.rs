//! Unit tests of the gob codec: hand-checked encodings, error reporting, the typed layer and
//! randomised round trips.

mod basic;
mod direct;
mod errors;
mod random;
mod roundtrip;
mod typed;

/// Parses "0b 0c 00" or "0b0c00" into bytes.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|c| match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        })
        .collect();
    let pairs = digits.chunks_exact(2);
    assert!(pairs.remainder().is_empty(), "odd number of hex digits in {s:?}");
    pairs.map(|p| (p[0] << 4) | p[1]).collect()
}

/// A whole definition message for type `id`, built by hand (for kinds `Type` cannot express).
pub(crate) fn def_message(id: i64, wt: &crate::gob::WireType) -> Vec<u8> {
    use crate::gob::{schema, wire};
    let mut msg = Vec::new();
    wire::put_int(&mut msg, -id);
    let value = schema::wire_type_to_value(id, wt);
    crate::gob::encode::encode_struct(&mut msg, schema::wire_type_schema(), &value).unwrap();
    framed(&msg)
}

/// A value message: type id then `body`, length-prefixed.
pub(crate) fn value_message(id: i64, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::new();
    crate::gob::wire::put_int(&mut msg, id);
    msg.extend_from_slice(body);
    framed(&msg)
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::gob::wire::put_uint(&mut out, msg.len() as u64);
    out.extend_from_slice(msg);
    out
}
