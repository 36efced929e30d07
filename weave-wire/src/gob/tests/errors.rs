//! Bad input is rejected with errors that say what, where and why; unsupported gob features
//! are refused cleanly.

use super::{def_message, hex, value_message};
use crate::gob::{decode_all, Ctx, Encoder, Error, Type, Value, WireType};

fn err(bytes: &[u8]) -> Error {
    decode_all(bytes).expect_err("decoding should fail")
}

fn struct_def(id: i64, name: &str, fields: &[(&str, i64)]) -> Vec<u8> {
    let fields = fields.iter().map(|(n, t)| (n.to_string(), *t)).collect();
    def_message(id, &WireType::Struct { name: name.into(), fields })
}

#[test]
fn truncated_uint_names_type_offset_and_sizes() {
    // A uint message whose 6-byte payload was cut to 3 bytes (length prefix adjusted).
    let e = err(&hex("06 06 00 fa 02 00 00"));
    assert_eq!(e.to_string(), "gob: value of type id 3 truncated at byte 4: need 6 bytes for uint, have 3");
}

#[test]
fn truncated_message_is_reported_at_stream_level() {
    let e = err(&hex("09 06 00 fa 02"));
    assert_eq!(e.to_string(), "gob: stream truncated at byte 1: need 9 bytes for message, have 4");
}

#[test]
fn error_path_points_into_nested_value() {
    let entry = Type::structure("", &[("Token", Type::Uint), ("Peer", Type::Uint)]);
    let ring = Type::structure("Ring", &[("Entries", Type::slice(entry))]);
    let e1 = Value::Struct(vec![("Token".into(), Value::Uint(1))]);
    let e2 = Value::Struct(vec![("Peer".into(), Value::Uint(1 << 40))]);
    let value = Value::Struct(vec![("Entries".into(), Value::Slice(vec![e1, e2]))]);
    let mut enc = Encoder::new();
    enc.encode(&ring, &value).unwrap();
    let mut bytes = enc.finish();
    // The value message is `11 | ff82 | 01 02 | 01 01 00 | 02 fa0100000000 00 | 00`. Cut it
    // inside the second entry's Peer and fix its length prefix.
    let value_start = bytes.len() - 18;
    assert_eq!(bytes[value_start], 17, "{bytes:02x?}");
    bytes.truncate(bytes.len() - 7);
    bytes[value_start] = 10;
    let e = err(&bytes);
    assert!(matches!(e, Error::Truncated { ctx: Ctx::Value(65), .. }), "{e}");
    assert_eq!(e.path().to_string(), "Entries[1].Peer");
    assert!(e.to_string().contains("in Entries[1].Peer: need 6 bytes for uint, have 1"), "{e}");
}

#[test]
fn undefined_type_id() {
    let e = err(&value_message(74, &hex("00 00")));
    assert_eq!(e.to_string(), "gob: value of type id 74 is invalid at byte 1: type id 74 is not defined");
}

#[test]
fn builtin_ids_cannot_be_redefined() {
    let e = err(&struct_def(20, "x", &[("A", 2)]));
    assert!(matches!(e, Error::Invalid { ctx: Ctx::TypeDefinition(20), .. }), "{e}");
    assert!(e.to_string().contains("reserved"), "{e}");
}

#[test]
fn duplicate_definition() {
    let mut bytes = struct_def(70, "x", &[("A", 2)]);
    bytes.extend(struct_def(70, "x", &[("A", 2)]));
    assert!(err(&bytes).to_string().contains("type id 70 defined twice"));
}

#[test]
fn interface_field_is_unsupported() {
    let mut bytes = struct_def(65, "T", &[("Any", 8)]);
    bytes.extend(value_message(65, &hex("00")));
    let e = err(&bytes);
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("in Any"), "{e}");
    assert!(e.to_string().contains("interface"), "{e}");
}

#[test]
fn complex_is_unsupported() {
    let e = err(&value_message(7, &hex("00 00 00")));
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("complex"), "{e}");
}

#[test]
fn gob_encoder_type_is_unsupported() {
    let wt = WireType::External { name: "time.Time".into(), kind: "GobEncoder" };
    let mut bytes = def_message(66, &wt);
    bytes.extend(value_message(66, &hex("00 01 00")));
    let e = err(&bytes);
    assert!(e.to_string().contains("GobEncoder"), "{e}");
    assert!(e.to_string().contains("time.Time"), "{e}");
}

#[test]
fn recursive_type_is_unsupported() {
    // type T struct { Next *T }
    let mut bytes = struct_def(65, "T", &[("Next", 65)]);
    bytes.extend(value_message(65, &hex("00")));
    let e = err(&bytes);
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("recursive type #65"), "{e}");
}

#[test]
fn deep_nesting_is_bounded() {
    let mut bytes = Vec::new();
    for id in 100..300 {
        bytes.extend(def_message(id, &WireType::Slice { name: String::new(), elem: id + 1 }));
    }
    bytes.extend(value_message(100, &hex("00 00")));
    let e = err(&bytes);
    assert!(e.to_string().contains("nested deeper than 64"), "{e}");
}

#[test]
fn exponential_type_is_bounded() {
    // Each struct has two fields of the next one: 2^60 nodes if expanded naively.
    let mut bytes = Vec::new();
    for id in 100..160 {
        let next = if id == 159 { 2 } else { id + 1 };
        bytes.extend(struct_def(id, "", &[("A", next), ("B", next)]));
    }
    bytes.extend(value_message(100, &hex("00")));
    let e = err(&bytes);
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn field_delta_out_of_range() {
    let mut bytes = struct_def(65, "P", &[("X", 2)]);
    bytes.extend(value_message(65, &hex("02 04 00")));
    let e = err(&bytes);
    assert!(e.to_string().contains("field delta 2 after field -1 is beyond the 1 fields of struct P"), "{e}");
}

#[test]
fn forged_counts_are_rejected_before_allocating() {
    // A []uint claiming 2^62 elements in a 12-byte message.
    let mut bytes = def_message(65, &WireType::Slice { name: String::new(), elem: 3 });
    bytes.extend(value_message(65, &hex("00 f8 40 00 00 00 00 00 00 00")));
    let e = err(&bytes);
    assert!(e.to_string().contains("slice length 4611686018427387904 exceeds the 0 bytes left"), "{e}");

    // A string claiming more bytes than there are.
    let e = err(&value_message(6, &hex("00 fe 10 00 41")));
    assert!(e.to_string().contains("need 4096 bytes for string, have 1"), "{e}");
}

#[test]
fn singleton_needs_zero_delta_and_no_trailing_bytes() {
    let e = err(&hex("03 06 01 05"));
    assert!(e.to_string().contains("must start with a zero byte, found 1"), "{e}");
    let e = err(&hex("04 06 00 05 09"));
    assert!(e.to_string().contains("1 bytes left over"), "{e}");
}

#[test]
fn errors_are_sticky() {
    let mut dec = crate::gob::Decoder::new(&[0x09, 0x06]);
    let first = dec.next().unwrap_err();
    assert_eq!(dec.next().unwrap_err(), first);
}

#[test]
fn invalid_utf8_string() {
    let e = err(&hex("04 0c 00 01 ff"));
    assert!(e.to_string().contains("not valid UTF-8"), "{e}");
}

#[test]
fn encoder_rejects_values_that_do_not_fit() {
    let ty = Type::structure("T", &[("A", Type::slice(Type::Uint))]);
    let bad = Value::Struct(vec![("A".into(), Value::Slice(vec![Value::Uint(1), Value::Int(2)]))]);
    let mut enc = Encoder::new();
    let e = enc.encode(&ty, &bad).unwrap_err();
    assert_eq!(e.to_string(), "gob: cannot encode field A[1]: expected uint, found int");
    let unknown = Value::Struct(vec![("B".into(), Value::Uint(1))]);
    let e = enc.encode(&ty, &unknown).unwrap_err();
    assert!(e.to_string().contains("has no field \"B\""), "{e}");
    // Failed encodes leave nothing behind.
    assert!(enc.bytes().is_empty());
    // Zero values are omitted but still checked against the type.
    let zero_wrong = Value::Struct(vec![("A".into(), Value::Uint(0))]);
    assert!(enc.encode(&ty, &zero_wrong).is_err());
}

#[test]
fn first_type_id_must_be_a_user_id() {
    assert!(Encoder::with_first_type_id(63).is_err());
    assert!(Encoder::with_first_type_id(64).is_ok());
    assert!(Encoder::with_first_type_id(1 << 31).is_err());
}

#[test]
fn definitions_may_refer_forward_but_must_precede_the_value() {
    // Go sends a struct before its fields' types: #70 refers to #71, defined next.
    let list = WireType::Slice { name: String::new(), elem: 3 };
    let mut bytes = struct_def(70, "T", &[("L", 71)]);
    bytes.extend(def_message(71, &list));
    bytes.extend(value_message(70, &hex("01 02 05 06 00")));
    let items = decode_all(&bytes).unwrap();
    assert_eq!(
        items[0].1,
        Value::Struct(vec![("L".into(), Value::Slice(vec![Value::Uint(5), Value::Uint(6)]))])
    );

    // A value before the definition it needs is an error, as in Go.
    let mut early = struct_def(70, "T", &[("L", 71)]);
    early.extend(value_message(70, &hex("00")));
    early.extend(def_message(71, &list));
    let e = err(&early);
    assert!(e.to_string().contains("type id 71 is not defined"), "{e}");
    assert!(e.to_string().contains("in L"), "{e}");
}
