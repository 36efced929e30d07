//! The direct path of `Decoder::next_as` against the generic one (`next`, `check_compatible`,
//! `from_gob`): for random streams whose types the sender defined differently from the local
//! ones (fields reordered, missing, extra, duplicated, of other types; other kinds altogether),
//! with mutated, truncated or huge-length bytes, both give the same value or error after every
//! value, leave the stream at the same place and charge the same memory. A value the generic
//! path decodes must have been read directly, never through the fallback.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use super::random::{gen_type, gen_value, mutate, Rng};
use crate::gob::{check_compatible, Decoder, Encoder, Error, Gob, Result, Type, Value};
use crate::topology::{decode_topology, ConnectionSummary, PeerSummary, PeerUpdate, TopologyError};

crate::gob_struct! {
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Inner = "Inner" {
        name: String = "Name",
        uid: u64 = "UID",
        tags: Vec<String> = "Tags",
    }
}

crate::gob_struct! {
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Rich = "Rich" {
        small: i8 = "Small",
        count: i32 = "Count",
        port: u16 = "Port",
        byte: u8 = "Byte",
        ratio: f32 = "Ratio",
        weight: f64 = "Weight",
        on: bool = "On",
        label: String = "Label",
        raw: Vec<u8> = "Raw",
        seeds: Vec<u64> = "Seeds",
        mac: [u8; 3] = "Mac",
        names: Option<BTreeMap<u64, String>> = "Names",
        inner: Option<Inner> = "Inner",
        list: Vec<Inner> = "List",
        maybe: Option<u64> = "Maybe",
        grid: Vec<Vec<i16>> = "Grid",
        pair: [Inner; 2] = "Pair",
    }
}

crate::gob_struct! {
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Keyed = "Keyed" {
        by_name: HashMap<String, i64> = "ByName",
        blobs: Option<HashMap<u32, Vec<u8>>> = "Blobs",
        one: Inner = "One",
    }
}

crate::gob_struct! {
    #[derive(Debug, Default, PartialEq)]
    struct Empty = "Empty" {}
}

/// The generic path, as `next_as` was before the direct one.
fn generic_next<T: Gob>(dec: &mut Decoder<'_>) -> Result<Option<T>> {
    match dec.next()? {
        Some((ty, value)) => {
            check_compatible(&ty, &T::gob_type())?;
            T::from_gob(&value).map(Some)
        }
        None => Ok(None),
    }
}

/// What a comparison saw.
#[derive(Default, Debug)]
struct Stats {
    values: u64,
    direct: u64,
    errors: u64,
}

/// Equal values; a NaN (from mutated floats) equals a NaN by the Debug form. (Values with hash
/// maps hold no floats, so `==` decides for them whatever the maps' order.)
fn same<T: Debug + PartialEq>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// Decodes `bytes` as a sequence of `T` both ways and checks they agree step by step.
fn compare<T: Gob + Debug + PartialEq>(bytes: &[u8], what: &str, stats: &mut Stats) {
    let mut fast = Decoder::new(bytes);
    let mut slow = Decoder::new(bytes);
    for step in 0..12 {
        let fallbacks = fast.direct_fallbacks();
        let a = fast.next_as::<T>();
        let b = generic_next::<T>(&mut slow);
        let at = format!("{what}, value {step}");
        assert!(same(&a, &b), "{at}:\n direct  {a:?}\n generic {b:?}");
        assert_eq!(fast.memory_used(), slow.memory_used(), "{at}: memory charged");
        assert_eq!(fast.position(), slow.position(), "{at}: position");
        match b {
            Ok(None) => return,
            Ok(Some(_)) => {
                assert_eq!(fast.direct_fallbacks(), fallbacks, "{at}: a good value fell back");
                stats.values += 1;
                stats.direct += 1;
            }
            Err(e) => {
                stats.values += 1;
                stats.errors += 1;
                if !matches!(e, Error::Convert { .. }) {
                    // The stream failed: both keep reporting the same error.
                    assert!(same(&fast.next_as::<T>(), &Err(e)), "{at}: after the error");
                    return;
                }
            }
        }
    }
}

/// Fisher-Yates.
fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i as u64 + 1) as usize);
    }
}

/// How far a sender's types stray from the local ones.
#[derive(Clone, Copy, PartialEq)]
enum Stray {
    /// The local types themselves.
    None,
    /// Fields reordered, missing, added, duplicated: always decodable.
    Layout,
    /// Also fields and parts of other types.
    Types,
}

/// A sender's version of `ty`. Duplicated field names are sent under a placeholder of the
/// same length (the encoder refuses duplicates), recorded in `renames` to be patched in.
fn stray(rng: &mut Rng, ty: &Type, how: Stray, renames: &mut Vec<(String, String)>) -> Type {
    if how == Stray::None {
        return ty.clone();
    }
    if how == Stray::Types && rng.below(25) == 0 {
        return gen_type(rng, 2);
    }
    match ty {
        Type::Struct { name, fields } => stray_struct(rng, name, fields, how, renames),
        Type::Slice(e) => Type::slice(stray(rng, e, how, renames)),
        Type::Array(n, e) if how == Stray::Types && rng.below(10) == 0 => Type::array(n + 1, (**e).clone()),
        Type::Array(n, e) => Type::array(*n, stray(rng, e, how, renames)),
        Type::Map(k, v) => Type::map(stray(rng, k, how, renames), stray(rng, v, how, renames)),
        _ if how == Stray::Types && rng.below(10) == 0 => {
            rng.pick(&[Type::Bool, Type::Int, Type::Uint, Type::Float, Type::Bytes, Type::String]).clone()
        }
        basic => basic.clone(),
    }
}

fn stray_struct(
    rng: &mut Rng,
    name: &str,
    fields: &[(Arc<str>, Type)],
    how: Stray,
    renames: &mut Vec<(String, String)>,
) -> Type {
    let mut out: Vec<(Arc<str>, Type)> = Vec::new();
    for (n, t) in fields {
        if rng.below(5) != 0 {
            out.push((n.clone(), stray(rng, t, how, renames)));
        }
    }
    for i in 0..rng.below(3) {
        out.push((format!("Extra{}{i}", renames.len()).into(), gen_type(rng, 3)));
    }
    if rng.below(6) == 0 {
        if let Some((n, t)) = fields.get(rng.below(fields.len() as u64) as usize) {
            let placeholder = format!("~{}", &n[1..]);
            let t = if rng.below(2) == 0 { t.clone() } else { gen_type(rng, 2) };
            renames.push((placeholder.clone(), n.to_string()));
            out.push((placeholder.into(), t));
        }
    }
    shuffle(rng, &mut out);
    let name = if rng.below(4) == 0 { "" } else { name };
    Type::Struct { name: name.into(), fields: out.into() }
}

/// Replaces every occurrence of `from` by `to` (same length).
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// Damages a stream: byte mutations, a truncation, or a huge count written over a byte.
fn damage(rng: &mut Rng, bytes: Vec<u8>) -> Vec<u8> {
    match rng.below(8) {
        0..=3 => bytes,
        4 | 5 => mutate(rng, &bytes),
        6 => {
            let cut = rng.below(bytes.len() as u64 + 1) as usize;
            bytes[..cut].to_vec()
        }
        _ => {
            let at = rng.below(bytes.len() as u64 + 1) as usize;
            const HUGE: [&[u8]; 2] =
                [&[0xf8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], &[0xfc, 1, 0, 0, 0]];
            let huge = *rng.pick(&HUGE);
            let mut out = bytes[..at].to_vec();
            out.extend_from_slice(huge);
            out.extend_from_slice(bytes.get(at + 1..).unwrap_or_default());
            out
        }
    }
}

fn pick_stray(rng: &mut Rng) -> Stray {
    *rng.pick(&[Stray::None, Stray::Layout, Stray::Layout, Stray::Types])
}

/// Mostly small numbers, so that narrow local integers often fit.
fn tame(rng: &mut Rng, v: Value) -> Value {
    match v {
        Value::Uint(u) if rng.below(4) != 0 => Value::Uint(u % 100),
        Value::Int(i) if rng.below(4) != 0 => Value::Int(i % 100),
        Value::Slice(items) => Value::Slice(items.into_iter().map(|v| tame(rng, v)).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| tame(rng, v)).collect()),
        Value::Map(entries) => {
            Value::Map(entries.into_iter().map(|(k, v)| (tame(rng, k), tame(rng, v))).collect())
        }
        Value::Struct(fields) => Value::Struct(fields.into_iter().map(|(n, v)| (n, tame(rng, v))).collect()),
        other => other,
    }
}

/// A value of `ty` for the stream.
fn value_of(rng: &mut Rng, ty: &Type) -> Value {
    let v = gen_value(rng, ty);
    tame(rng, v)
}

/// A stream of a few values of the sender's version of `T`'s type.
fn stream_for<T: Gob>(rng: &mut Rng) -> Vec<u8> {
    let mut renames = Vec::new();
    let how = pick_stray(rng);
    let wire = stray(rng, &T::gob_type(), how, &mut renames);
    let mut enc = Encoder::with_first_type_id(64 + rng.below(100) as i64).unwrap();
    for _ in 0..1 + rng.below(4) {
        // An encoder refuses only types nested too deep, which these are not.
        enc.encode(&wire, &value_of(rng, &wire)).unwrap();
    }
    let mut bytes = enc.finish();
    for (from, to) in &renames {
        patch(&mut bytes, from.as_bytes(), to.as_bytes());
    }
    damage(rng, bytes)
}

fn run<T: Gob + Debug + PartialEq>(rng: &mut Rng, seed: u64, stats: &mut Stats) {
    let bytes = stream_for::<T>(rng);
    compare::<T>(&bytes, &format!("seed {seed} ({})", std::any::type_name::<T>()), stats);
}

#[test]
fn direct_and_generic_paths_agree_on_random_streams() {
    let mut stats = Stats::default();
    for seed in 0..6000 {
        let mut rng = Rng::new(seed);
        match seed % 10 {
            0 => run::<PeerSummary>(&mut rng, seed, &mut stats),
            1 => run::<Vec<ConnectionSummary>>(&mut rng, seed, &mut stats),
            2 | 3 => run::<Rich>(&mut rng, seed, &mut stats),
            4 => run::<Vec<Rich>>(&mut rng, seed, &mut stats),
            5 => run::<Keyed>(&mut rng, seed, &mut stats),
            6 => run::<Option<Inner>>(&mut rng, seed, &mut stats),
            7 => run::<Empty>(&mut rng, seed, &mut stats),
            8 => run::<BTreeMap<String, Vec<u16>>>(&mut rng, seed, &mut stats),
            _ => run::<[i32; 2]>(&mut rng, seed, &mut stats),
        }
    }
    // Both outcomes must be common for the comparison to mean something.
    assert!(stats.direct > stats.values / 3, "{stats:?}");
    assert!(stats.errors > stats.values / 10, "{stats:?}");
}

/// The old `decode_topology`, over the generic path.
fn generic_topology(payload: &[u8]) -> std::result::Result<Vec<PeerUpdate>, TopologyError> {
    let mut dec = Decoder::new(payload);
    let mut out = Vec::new();
    loop {
        let index = out.len();
        let err = |source| TopologyError::Gob { index, source };
        let Some(peer) = generic_next::<PeerSummary>(&mut dec).map_err(err)? else {
            return Ok(out);
        };
        let Some(conns) = generic_next::<Vec<ConnectionSummary>>(&mut dec).map_err(err)? else {
            let name = match peer.name() {
                Some(n) => n.to_string(),
                None => format!("name bytes {:02x?}", peer.name_byte),
            };
            return Err(TopologyError::MissingConnections { index, name });
        };
        out.push((peer, conns));
    }
}

#[test]
fn topology_decodes_as_before() {
    let mut oks = 0;
    for seed in 0..3000u64 {
        let mut rng = Rng::new(seed);
        let mut renames = Vec::new();
        let how = pick_stray(&mut rng);
        let peer_ty = stray(&mut rng, &PeerSummary::gob_type(), how, &mut renames);
        let how = pick_stray(&mut rng);
        let conns_ty = stray(&mut rng, &Vec::<ConnectionSummary>::gob_type(), how, &mut renames);
        let mut enc = Encoder::new();
        for _ in 0..rng.below(5) {
            enc.encode(&peer_ty, &value_of(&mut rng, &peer_ty)).unwrap();
            enc.encode(&conns_ty, &value_of(&mut rng, &conns_ty)).unwrap();
        }
        let mut bytes = enc.finish();
        for (from, to) in &renames {
            patch(&mut bytes, from.as_bytes(), to.as_bytes());
        }
        let bytes = damage(&mut rng, bytes);
        let got = decode_topology(&bytes);
        assert_eq!(got, generic_topology(&bytes), "seed {seed}");
        oks += usize::from(got.is_ok());
    }
    assert!(oks > 300, "{oks}");
}

#[test]
fn a_plan_is_made_once_per_type_and_reused() {
    // Fields in another order, one unknown, one missing: read directly, value after value.
    let wire = Type::structure(
        "peerSummary",
        &[("UID", Type::Uint), ("Extra", Type::slice(Type::String)), ("NickName", Type::String)],
    );
    let mut enc = Encoder::new();
    for i in 0..3u64 {
        let v = Value::Struct(vec![
            ("UID".into(), Value::Uint(i + 1)),
            ("Extra".into(), Value::Slice(vec![Value::String("x".into())])),
            ("NickName".into(), Value::String(format!("n{i}"))),
        ]);
        enc.encode(&wire, &v).unwrap();
    }
    let bytes = enc.finish();
    let mut dec = Decoder::new(&bytes);
    for i in 0..3u64 {
        let p: PeerSummary = dec.read().unwrap();
        assert_eq!(p, PeerSummary { uid: i + 1, nick_name: format!("n{i}"), ..Default::default() });
    }
    assert_eq!(dec.direct_fallbacks(), 0);
    assert_eq!(dec.plan_count(), 1);

    // A field of another type is the generic path's error, after the direct path gave up.
    let wrong = Type::structure("peerSummary", &[("ShortID", Type::String)]);
    let mut enc = Encoder::new();
    enc.encode(&wrong, &Value::Struct(vec![])).unwrap();
    let bytes = enc.finish();
    let mut dec = Decoder::new(&bytes);
    let e = dec.read::<PeerSummary>().unwrap_err();
    assert_eq!(e.to_string(), "gob: cannot decode field ShortID: received string does not fit local uint");
    assert_eq!(dec.direct_fallbacks(), 1);
}

#[test]
fn direct_reads_follow_go_for_odd_encodings() {
    // Go reads any non-zero uint as true; a non-minimal uint is still that uint.
    let ty = Type::structure("connectionSummary", &[("Outbound", Type::Bool), ("Established", Type::Bool)]);
    let mut enc = Encoder::new();
    enc.encode(&ty, &Value::Struct(vec![("Outbound".into(), Value::Bool(true))])).unwrap();
    let mut bytes = enc.finish();
    // The value message ends `01 01 00`: field 1 = true, end of struct.
    let n = bytes.len();
    assert_eq!(bytes[n - 3..], [1, 1, 0]);
    bytes[n - 2] = 2;
    let c: ConnectionSummary = crate::gob::from_bytes(&bytes).unwrap();
    assert!(c.outbound && !c.established);
    bytes[n - 2] = 0x7f;
    let mut dec = Decoder::new(&bytes);
    assert!(dec.read::<ConnectionSummary>().unwrap().outbound);
    assert_eq!(dec.direct_fallbacks(), 0);
}
