//! The gob decoder's memory stays within a small multiple of its input, whatever the input
//! says: hostile type definitions (a type-name bomb, shared field types, exponential types) and
//! values (long field names repeated per value) are refused or decoded cheaply, and every
//! stream captured from Weave Net 2.8 still decodes within the same bound.
//!
//! A counting allocator (`cap`) enforces the bound: going over it aborts the test process, so a
//! regression shows as a crash of this test, never as a machine out of memory. Tests take a lock
//! so the limit sees one test's allocations at a time, also under `cargo test`'s threads.

mod common;

use std::alloc::System;
use std::sync::Mutex;

use cap::Cap;
use weave_wire::gob::{self, decode_all, Error};
use weave_wire::protocol::Message;
use weave_wire::topology::decode_topology;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` with at most `limit` more bytes allocatable than are allocated now.
fn within<T>(limit: u64, f: impl FnOnce() -> T) -> T {
    let base = ALLOC.allocated();
    ALLOC.set_limit(base + limit as usize).expect("limit above what is allocated");
    let out = f();
    ALLOC.set_limit(usize::MAX).expect("lifting the limit");
    out
}

/// What decoding `len` bytes may allocate: the decoder's budget, twice over for what `Vec`
/// growth rounds up and the decoder's own tables.
fn bound(len: usize) -> u64 {
    2 * gob::memory_budget(len)
}

// ---- gob written by hand, so nothing here relies on the codec under test ----

fn uint(out: &mut Vec<u8>, x: u64) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let bytes = x.to_be_bytes();
    let skip = (x.leading_zeros() / 8) as usize;
    out.push((8 - skip as u8).wrapping_neg());
    out.extend_from_slice(&bytes[skip..]);
}

fn int(out: &mut Vec<u8>, i: i64) {
    uint(out, if i < 0 { (!(i as u64) << 1) | 1 } else { (i as u64) << 1 });
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    uint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn framed(msg: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 9);
    uint(&mut out, msg.len() as u64);
    out.extend(msg);
    out
}

/// Defines struct type `id`: `-id | wireType{StructT: structType{CommonType{Name, Id}, Field}}`.
fn struct_def(id: i64, name: &[u8], fields: &[(&[u8], i64)]) -> Vec<u8> {
    let mut m = Vec::with_capacity(name.len() + 8 * fields.len() + 16);
    int(&mut m, -id);
    uint(&mut m, 3); // wireType field 2: StructT
    uint(&mut m, 1); // structType field 0: CommonType
    uint(&mut m, 1); // CommonType.Name
    string(&mut m, name);
    uint(&mut m, 1); // CommonType.Id
    int(&mut m, id);
    uint(&mut m, 0);
    uint(&mut m, 1); // structType.Field: []fieldType
    uint(&mut m, fields.len() as u64);
    for (fname, fid) in fields {
        uint(&mut m, 1);
        string(&mut m, fname);
        uint(&mut m, 1);
        int(&mut m, *fid);
        uint(&mut m, 0);
    }
    uint(&mut m, 0); // end of structType
    uint(&mut m, 0); // end of wireType
    framed(m)
}

/// Defines slice type `id` of element type `elem`.
fn slice_def(id: i64, elem: i64) -> Vec<u8> {
    let mut m = Vec::new();
    int(&mut m, -id);
    uint(&mut m, 2); // wireType field 1: SliceT
    uint(&mut m, 1); // CommonType
    uint(&mut m, 2); // CommonType.Id (no name)
    int(&mut m, id);
    uint(&mut m, 0);
    uint(&mut m, 1); // Elem
    int(&mut m, elem);
    uint(&mut m, 0);
    uint(&mut m, 0);
    framed(m)
}

/// A value message of type `id`.
fn value(id: i64, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    int(&mut m, id);
    m.extend_from_slice(body);
    framed(m)
}

/// X: a struct named `name` with no fields; Y: a struct of `n` fields of type X; a value of Y
/// with the first `present` fields sent.
fn shared_field_stream(name: &[u8], n: usize, present: usize) -> Vec<u8> {
    let mut bytes = struct_def(65, name, &[]);
    let fields: Vec<(&[u8], i64)> = (0..n).map(|_| (&b"F"[..], 65)).collect();
    bytes.extend(struct_def(66, b"Y", &fields));
    let mut body = Vec::with_capacity(2 * present + 1);
    for _ in 0..present {
        body.extend_from_slice(&[1, 0]); // next field, an empty X
    }
    body.push(0);
    bytes.extend(value(66, &body));
    bytes
}

fn refused(bytes: &[u8]) -> Error {
    within(bound(bytes.len()), || decode_all(bytes)).expect_err("decoding should be refused")
}

#[test]
fn hand_written_streams_are_valid_gob() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let items = decode_all(&shared_field_stream(b"X", 3, 2)).unwrap();
    assert_eq!(items.len(), 1);
    let fields = items[0].1.as_struct().unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(&*fields[0].0, "F");
}

#[test]
fn type_name_bomb_is_refused_within_bounded_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // A 4 MiB type name and 300,000 fields of that type: 1.2 TB if each field copied the name.
    let name = vec![b'N'; 4 << 20];
    let bytes = shared_field_stream(&name, 300_000, 0);
    let e = refused(&bytes);
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn fields_share_their_type_instead_of_copying_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // The longest name allowed and as many fields as the type bytes of a stream allow: every
    // field refers to the one resolved X.
    let name = vec![b'N'; gob::MAX_NAME_LEN];
    let mut n = 0;
    while shared_field_stream(&name, n + 1000, 0).len() < gob::MAX_TYPE_BYTES {
        n += 1000;
    }
    assert!(n >= 5000, "{n}");
    let bytes = shared_field_stream(&name, n, n);
    let items = within(bound(bytes.len()), || decode_all(&bytes)).expect("decodes");
    assert_eq!(items[0].1.as_struct().unwrap().len(), n);
}

#[test]
fn names_longer_than_the_cap_are_refused() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let long = vec![b'N'; gob::MAX_NAME_LEN + 1];
    let e = refused(&shared_field_stream(&long, 1, 0));
    assert!(e.to_string().contains("name"), "{e}");
    let mut bytes = struct_def(65, b"T", &[(&long, 2)]);
    bytes.extend(value(65, &[0]));
    let e = refused(&bytes);
    assert!(e.to_string().contains("name"), "{e}");
}

#[test]
fn exponential_types_are_refused_within_bounded_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // Each struct has 64 fields of the next: 64^8 nodes if expanded.
    let mut bytes = Vec::new();
    for id in 100..110 {
        let next = if id == 109 { 2 } else { id + 1 };
        let fields: Vec<(&[u8], i64)> = (0..64).map(|_| (&b"F"[..], next)).collect();
        bytes.extend(struct_def(id, b"", &fields));
    }
    bytes.extend(value(100, &[0]));
    let e = refused(&bytes);
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn decoded_size_is_bounded_by_the_input() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // []T where T has one bool field with the longest name allowed: 3 input bytes per element,
    // over a kilobyte decoded if every element carried its own copy of the name.
    let name = vec![b'B'; gob::MAX_NAME_LEN];
    let mut bytes = struct_def(65, b"T", &[(&name, 1)]);
    bytes.extend(slice_def(66, 65));
    let n = 20_000;
    let mut body = vec![0];
    uint(&mut body, n);
    for _ in 0..n {
        body.extend_from_slice(&[1, 1, 0]);
    }
    bytes.extend(value(66, &body));
    let e = refused(&bytes);
    assert!(e.to_string().contains("more memory"), "{e}");
}

#[test]
fn captured_weave_streams_decode_within_the_bound() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let mut streams = 0;
    for file in ["tcp-plain/a_to_b.hex", "tcp-plain/b_to_a.hex"] {
        for (i, rec) in common::load(file).into_iter().enumerate().skip(2) {
            let body = rec.wire[4..].to_vec();
            let payload = if i == 2 {
                body // the features map
            } else {
                match Message::decode(&body) {
                    Ok(Some(Message::Gossip(g))) => g.payload,
                    _ => continue,
                }
            };
            let items = within(bound(payload.len()), || decode_all(&payload))
                .unwrap_or_else(|e| panic!("{file} record {i}: {e}"));
            assert!(!items.is_empty());
            streams += 1;
        }
    }
    assert!(streams >= 10, "{streams}");
}

/// A topology update with one peer and `n` empty connection summaries (one byte each): the
/// most typed values its bytes can carry.
fn many_empty_connections(n: u64) -> Vec<u8> {
    let mut bytes = struct_def(
        65,
        b"connectionSummary",
        &[(b"NameByte", 5), (b"RemoteTCPAddr", 6), (b"Outbound", 1), (b"Established", 1)],
    );
    bytes.extend(slice_def(66, 65));
    bytes.extend(struct_def(67, b"peerSummary", &[(b"NameByte", 5)]));
    bytes.extend(value(67, &[1, 6, 2, 0, 0, 0, 0, 1, 0]));
    let mut body = vec![0];
    uint(&mut body, n);
    body.resize(body.len() + n as usize, 0);
    bytes.extend(value(66, &body));
    bytes
}

#[test]
fn typed_decoding_stays_within_the_bound() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let n = 1 << 20;
    let bytes = many_empty_connections(n);
    // Read directly into the typed values...
    let peers = within(bound(bytes.len()), || decode_topology(&bytes)).unwrap();
    assert_eq!(peers[0].1.len(), n as usize);
    drop(peers);
    // ...and, when the last element is invalid, through the generic path after the direct one
    // read all the others and gave up.
    let mut bad = bytes;
    *bad.last_mut().unwrap() = 9; // a field delta beyond the struct's four fields
    let e = within(bound(bad.len()), || decode_topology(&bad)).unwrap_err();
    assert!(e.to_string().contains("beyond the 4 fields"), "{e}");
}
