//! The typed layer: `Gob` impls, `gob_struct!`, stream helpers, Go's field rules.

use std::collections::{BTreeMap, HashMap};

use crate::gob::{decode_all, from_bytes, to_bytes, Decoder, Encoder, Error, Gob, Type, Value};

crate::gob_struct! {
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct PeerSummary = "peerSummary" {
        pub name_byte: Vec<u8> = "NameByte",
        pub nick_name: String = "NickName",
        pub uid: u64 = "UID",
        pub version: u64 = "Version",
        pub short_id: u16 = "ShortID",
        pub has_short_id: bool = "HasShortID",
    }
}

crate::gob_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
    struct NodeId = "" {
        name: u64 = "Name",
        uid: u64 = "UID",
    }
}

crate::gob_struct! {
    #[derive(Debug, Clone, Default, PartialEq)]
    struct State = "gossipState" {
        now: i64 = "Now",
        nicknames: Option<BTreeMap<u64, String>> = "Nicknames",
        paxos: Option<BTreeMap<NodeId, NodeId>> = "Paxos",
        ring: Option<Ring> = "Ring",
    }
}

crate::gob_struct! {
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Ring = "Ring" {
        start: u32 = "Start",
        seeds: Vec<u64> = "Seeds",
        mac: [u8; 6] = "Mac",
    }
}

crate::gob_struct! {
    /// No fields at all.
    #[derive(Debug, Default, PartialEq)]
    struct Empty = "Empty" {}
}

fn peer() -> PeerSummary {
    PeerSummary {
        name_byte: vec![2, 0, 0, 0, 0, 0x0a],
        nick_name: "hostA".into(),
        uid: 5533576793797704961,
        version: 1,
        short_id: 1584,
        has_short_id: true,
    }
}

#[test]
fn macro_builds_go_type() {
    assert_eq!(
        PeerSummary::gob_type(),
        Type::structure(
            "peerSummary",
            &[
                ("NameByte", Type::Bytes),
                ("NickName", Type::String),
                ("UID", Type::Uint),
                ("Version", Type::Uint),
                ("ShortID", Type::Uint),
                ("HasShortID", Type::Bool),
            ]
        )
    );
    // Vec<u8> is []byte, other vectors are slices, [u8; N] is an array of uint (as in Go).
    assert_eq!(Vec::<u8>::gob_type(), Type::Bytes);
    assert_eq!(Vec::<u16>::gob_type(), Type::slice(Type::Uint));
    assert_eq!(Vec::<Vec<u8>>::gob_type(), Type::slice(Type::Bytes));
    assert_eq!(<[u8; 6]>::gob_type(), Type::array(6, Type::Uint));
    assert_eq!(Empty::gob_type(), Type::structure("Empty", &[]));
}

#[test]
fn zero_fields_are_left_out() {
    let p = PeerSummary { version: 0, nick_name: String::new(), ..peer() };
    let names: Vec<_> = match p.to_gob() {
        Value::Struct(f) => f.into_iter().map(|(n, _)| n.to_string()).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(names, ["NameByte", "UID", "ShortID", "HasShortID"]);
}

#[test]
fn typed_round_trip() {
    let state = State {
        now: -5,
        nicknames: Some(BTreeMap::from([(10, "a".to_string()), (11, String::new())])),
        paxos: Some(BTreeMap::new()),
        ring: Some(Ring { start: 7, seeds: vec![1, 2], mac: [2, 0, 0, 0, 0, 0xb] }),
    };
    let bytes = to_bytes(&[&state]).unwrap();
    assert_eq!(from_bytes::<State>(&bytes).unwrap(), state);

    // Nil maps and pointers stay nil; empty non-nil maps are sent and stay empty.
    let sparse = State { paxos: Some(BTreeMap::new()), ..State::default() };
    let bytes = to_bytes(&[&sparse]).unwrap();
    let decoded = decode_all(&bytes).unwrap();
    assert_eq!(decoded[0].1, Value::Struct(vec![("Paxos".into(), Value::Map(vec![]))]));
    assert_eq!(from_bytes::<State>(&bytes).unwrap(), sparse);
    assert_eq!(from_bytes::<Empty>(&to_bytes(&[&Empty {}]).unwrap()).unwrap(), Empty {});
}

#[test]
fn struct_keys_in_maps() {
    let key = NodeId { name: 1, uid: 2 };
    let mut paxos = BTreeMap::new();
    paxos.insert(key.clone(), NodeId::default());
    let state = State { paxos: Some(paxos), ..State::default() };
    let back: State = from_bytes(&to_bytes(&[&state]).unwrap()).unwrap();
    assert_eq!(back.paxos.unwrap().get(&key), Some(&NodeId::default()));

    let hm: HashMap<String, String> = HashMap::from([("k".into(), "v".into())]);
    let back: HashMap<String, String> = from_bytes(&to_bytes(&[&hm]).unwrap()).unwrap();
    assert_eq!(back, hm);
}

#[test]
fn several_values_in_one_stream() {
    // Like a gossip envelope: channel, source peer, payload.
    let payload = to_bytes(&[&peer(), &Vec::<PeerSummary>::new()]).unwrap();
    let bytes = to_bytes(&[&"topology".to_string(), &0x0200_0000_000au64, &payload]).unwrap();
    let mut dec = Decoder::new(&bytes);
    assert_eq!(dec.read::<String>().unwrap(), "topology");
    assert_eq!(dec.read::<u64>().unwrap(), 0x0200_0000_000a);
    let inner: Vec<u8> = dec.read().unwrap();
    assert!(dec.next_as::<u64>().unwrap().is_none());
    assert!(dec.read::<u64>().is_err());

    let mut dec = Decoder::new(&inner);
    assert_eq!(dec.read::<PeerSummary>().unwrap(), peer());
    assert_eq!(dec.read::<Vec<PeerSummary>>().unwrap(), vec![]);
}

#[test]
fn unknown_fields_are_ignored_and_absent_ones_are_zero() {
    let wide = Type::structure(
        "peerSummary",
        &[("Extra", Type::String), ("UID", Type::Uint), ("Later", Type::Float)],
    );
    let value = Value::Struct(vec![
        ("Extra".into(), Value::String("x".into())),
        ("UID".into(), Value::Uint(9)),
        ("Later".into(), Value::Float(1.0)),
    ]);
    let mut enc = Encoder::new();
    enc.encode(&wide, &value).unwrap();
    let p: PeerSummary = from_bytes(&enc.finish()).unwrap();
    assert_eq!(p, PeerSummary { uid: 9, ..PeerSummary::default() });
}

#[test]
fn mismatches_name_the_field() {
    let wrong = Value::Struct(vec![("ShortID".into(), Value::String("x".into()))]);
    let e = PeerSummary::from_gob(&wrong).unwrap_err();
    assert_eq!(e.to_string(), "gob: cannot decode field ShortID: expected uint, found string");

    let big = Value::Struct(vec![("ShortID".into(), Value::Uint(70000))]);
    let e = PeerSummary::from_gob(&big).unwrap_err();
    assert_eq!(e.to_string(), "gob: cannot decode field ShortID: value 70000 out of range for u16");

    let nested = Value::Struct(vec![(
        "Ring".into(),
        Value::Struct(vec![("Seeds".into(), Value::Slice(vec![Value::Uint(1), Value::Int(-1)]))]),
    )]);
    let e = State::from_gob(&nested).unwrap_err();
    assert_eq!(e.to_string(), "gob: cannot decode field Ring.Seeds[1]: expected uint, found int");

    let e = PeerSummary::from_gob(&Value::Uint(1)).unwrap_err();
    assert!(matches!(e, Error::Convert { .. }));
    assert!(e.to_string().contains("expected struct peerSummary, found uint"), "{e}");
}

#[test]
fn incompatible_wire_types_are_refused_like_go() {
    // An empty map[string]string cannot become a map[string]u64, even with no entries.
    let bytes = to_bytes(&[&HashMap::<String, String>::new()]).unwrap();
    let e = Decoder::new(&bytes).read::<HashMap<String, u64>>().unwrap_err();
    assert!(e.to_string().contains("received string does not fit local uint"), "{e}");

    // int and uint are different gob types.
    let bytes = to_bytes(&[&5i64]).unwrap();
    assert!(from_bytes::<u64>(&bytes).is_err());

    // A struct sharing no field with the local one is an error, not a silent default.
    let other = Type::structure("x", &[("Nope", Type::Uint)]);
    let mut enc = Encoder::new();
    enc.encode(&other, &Value::Struct(vec![])).unwrap();
    assert!(from_bytes::<PeerSummary>(&enc.finish()).is_err());
}

#[test]
fn option_follows_go_pointer_rules() {
    #[derive(Debug, PartialEq)]
    struct _Unused;
    crate::gob_struct! {
        #[derive(Debug, Default, PartialEq)]
        struct P = "P" {
            a: Option<u64> = "A",
            b: Option<u64> = "B",
        }
    }
    let p = P { a: Some(3), b: Some(0) };
    // Go omits a pointer to zero just like a zero value, so B arrives as nil.
    let back: P = from_bytes(&to_bytes(&[&p]).unwrap()).unwrap();
    assert_eq!(back, P { a: Some(3), b: None });
}

#[test]
fn floats() {
    let back: f64 = from_bytes(&to_bytes(&[&-0.0f64]).unwrap()).unwrap();
    assert!(back == 0.0 && back.is_sign_negative());
    let big = to_bytes(&[&1e300f64]).unwrap();
    assert!(from_bytes::<f32>(&big).is_err());
    assert_eq!(from_bytes::<f32>(&to_bytes(&[&1.5f32]).unwrap()).unwrap(), 1.5);
}
