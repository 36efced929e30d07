//! Hand-checked byte encodings of each basic kind, from Go's documentation and Weave's captures.

use super::hex;
use crate::gob::wire::{put_float, put_int, put_uint, Reader};
use crate::gob::{decode_all, Encoder, Type, Value};

fn uint_bytes(x: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_uint(&mut out, x);
    out
}

fn int_bytes(x: i64) -> Vec<u8> {
    let mut out = Vec::new();
    put_int(&mut out, x);
    out
}

/// Encodes one top-level value with a fresh encoder and checks it decodes back.
fn stream(ty: Type, value: Value) -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.encode(&ty, &value).expect("encode");
    let bytes = enc.finish();
    let decoded = decode_all(&bytes).expect("decode");
    assert_eq!(decoded, vec![(ty, value)]);
    bytes
}

#[test]
fn uint_encoding_matches_go() {
    assert_eq!(uint_bytes(0), hex("00"));
    assert_eq!(uint_bytes(7), hex("07"));
    assert_eq!(uint_bytes(127), hex("7f"));
    // From 128 on: negated byte count, then big-endian bytes without leading zeros.
    assert_eq!(uint_bytes(128), hex("ff 80"));
    assert_eq!(uint_bytes(256), hex("fe 01 00"));
    assert_eq!(uint_bytes(0x02_00_00_00_00_0b), hex("fa 02 00 00 00 00 0b"));
    assert_eq!(uint_bytes(u64::MAX), hex("f8 ff ff ff ff ff ff ff ff"));
}

#[test]
fn int_encoding_matches_go() {
    // Bit 0 carries the sign; Go's doc: -129 = ^128 = (^256 >> 1) encodes as fe 01 01.
    assert_eq!(int_bytes(0), hex("00"));
    assert_eq!(int_bytes(-1), hex("01"));
    assert_eq!(int_bytes(1), hex("02"));
    assert_eq!(int_bytes(-2), hex("03"));
    assert_eq!(int_bytes(63), hex("7e"));
    assert_eq!(int_bytes(-129), hex("fe 01 01"));
    assert_eq!(int_bytes(i64::MAX), hex("f8 ff ff ff ff ff ff ff fe"));
    assert_eq!(int_bytes(i64::MIN), hex("f8 ff ff ff ff ff ff ff ff"));
}

#[test]
fn float_encoding_matches_go() {
    // Go's doc: 17.0 is sent byte-reversed as the uint 0x3140 -> fe 31 40.
    let mut out = Vec::new();
    put_float(&mut out, 17.0);
    assert_eq!(out, hex("fe 31 40"));
    out.clear();
    put_float(&mut out, 0.0);
    assert_eq!(out, hex("00"));
    out.clear();
    put_float(&mut out, -2.5);
    // -2.5 = 0xc004000000000000 -> reversed 0x04c0.
    assert_eq!(out, hex("fe 04 c0"));
}

#[test]
fn reader_inverts_every_primitive() {
    let mut buf = Vec::new();
    let ints = [0, 1, -1, 63, -64, 64, -129, 1 << 40, i64::MIN, i64::MAX];
    let uints = [0, 1, 127, 128, 255, 256, 1 << 56, u64::MAX];
    let floats = [0.0, -0.0, 1.5, -17.0, f64::MAX, f64::MIN_POSITIVE, f64::INFINITY];
    for i in ints {
        put_int(&mut buf, i);
    }
    for u in uints {
        put_uint(&mut buf, u);
    }
    for f in floats {
        put_float(&mut buf, f);
    }
    let mut r = Reader::new(&buf, 0, buf.len());
    for i in ints {
        assert_eq!(r.int("int").unwrap(), i);
    }
    for u in uints {
        assert_eq!(r.uint("uint").unwrap(), u);
    }
    for f in floats {
        assert_eq!(r.float("float").unwrap().to_bits(), f.to_bits());
    }
    assert_eq!(r.remaining(), 0);
}

#[test]
fn non_minimal_uint_is_accepted_like_go() {
    // Go does not check for leading zero bytes.
    let buf = hex("fe 00 05");
    let mut r = Reader::new(&buf, 0, buf.len());
    assert_eq!(r.uint("uint").unwrap(), 5);
}

#[test]
fn top_level_string_matches_weave_capture() {
    // weave-net.md §2.7: the channel name of a gossip message.
    let bytes = stream(Type::String, Value::String("topology".into()));
    assert_eq!(bytes, hex("0b 0c 00 08 74 6f 70 6f 6c 6f 67 79"));
}

#[test]
fn top_level_uint_matches_weave_capture() {
    // weave-net.md §2.7: the peer name 02:00:00:00:00:0b as a gob uint.
    let bytes = stream(Type::Uint, Value::Uint(0x02_00_00_00_00_0b));
    assert_eq!(bytes, hex("09 06 00 fa 02 00 00 00 00 0b"));
}

#[test]
fn top_level_basics() {
    assert_eq!(stream(Type::Bool, Value::Bool(true)), hex("03 02 00 01"));
    // Top-level zero values are sent too.
    assert_eq!(stream(Type::Bool, Value::Bool(false)), hex("03 02 00 00"));
    assert_eq!(stream(Type::Int, Value::Int(-1)), hex("03 04 00 01"));
    assert_eq!(stream(Type::Float, Value::Float(17.0)), hex("05 08 00 fe 31 40"));
    assert_eq!(stream(Type::Bytes, Value::Bytes(vec![1, 2, 3])), hex("06 0a 00 03 01 02 03"));
    assert_eq!(stream(Type::String, Value::String(String::new())), hex("03 0c 00 00"));
}

#[test]
fn go_doc_point_example() {
    // encoding/gob doc.go: type Point struct {X, Y int}; Point{22, 33}.
    let point = Type::structure("Point", &[("X", Type::Int), ("Y", Type::Int)]);
    let value = Value::Struct(vec![("X".into(), Value::Int(22)), ("Y".into(), Value::Int(33))]);
    let expected = hex("1f ff 81 03 01 01 05 50 6f 69 6e 74 01 ff 82 00
         01 02 01 01 58 01 04 00 01 01 59 01 04 00 00 00
         07 ff 82 01 2c 01 42 00");
    assert_eq!(stream(point.clone(), value.clone()), expected);

    // A second value on the same encoder reuses the definition.
    let mut enc = Encoder::new();
    enc.encode(&point, &value).unwrap();
    enc.encode(&point, &value).unwrap();
    let mut twice = expected.clone();
    twice.extend_from_slice(&hex("07 ff 82 01 2c 01 42 00"));
    assert_eq!(enc.finish(), twice);
}

#[test]
fn empty_top_level_slice_is_sent() {
    // Vectors README observation 3: Go sends `04 ff9a 00 00` for an empty []connectionSummary #77.
    let conn = Type::structure("connectionSummary", &[("NameByte", Type::Bytes)]);
    let mut enc = Encoder::with_first_type_id(76).unwrap();
    enc.encode(&Type::slice(conn), &Value::Slice(vec![])).unwrap();
    let bytes = enc.finish();
    assert!(bytes.ends_with(&hex("04 ff 9a 00 00")), "{bytes:02x?}");
}

#[test]
fn struct_fields_follow_go_zero_rules() {
    let ty = Type::structure(
        "T",
        &[
            ("A", Type::Uint),
            ("B", Type::slice(Type::Uint)),
            ("C", Type::map(Type::String, Type::String)),
            ("D", Type::String),
            ("E", Type::structure("", &[("X", Type::Int)])),
        ],
    );
    let value = Value::Struct(vec![
        ("A".into(), Value::Uint(0)),
        ("B".into(), Value::Slice(vec![])),
        ("C".into(), Value::Map(vec![])),
        ("D".into(), Value::String(String::new())),
        ("E".into(), Value::Struct(vec![])),
    ]);
    let mut enc = Encoder::with_first_type_id(100).unwrap();
    enc.encode(&ty, &value).unwrap();
    let bytes = enc.finish();
    // Value message: id 100 (ff c8), C (delta 3) as an empty map, E (delta 2) as an empty
    // struct, end of struct.
    assert!(bytes.ends_with(&hex("07 ff c8 03 00 02 00 00")), "{bytes:02x?}");
    let decoded = decode_all(&bytes).unwrap();
    assert_eq!(
        decoded[0].1,
        Value::Struct(vec![("C".into(), Value::Map(vec![])), ("E".into(), Value::Struct(vec![])),])
    );
}

#[test]
fn features_map_matches_capture_byte_for_byte() {
    // The definition of Weave's features map[string]string as #74 (tcp-plain msg 0).
    let mut enc = Encoder::with_first_type_id(74).unwrap();
    let entries = vec![(Value::String("Trusted".into()), Value::String("false".into()))];
    enc.encode(&Type::map(Type::String, Type::String), &Value::Map(entries)).unwrap();
    let bytes = enc.finish();
    let def = hex("0e ff 93 04 01 02 ff 94 00 01 0c 01 0c 00 00");
    assert_eq!(bytes[..def.len()], def[..]);
    assert_eq!(bytes[def.len()..], hex("12 ff 94 00 01 07 54727573746564 05 66616c7365")[..]);
}
