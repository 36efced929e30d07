//! The typed layer: the [`Gob`] trait maps Rust types to gob types and values, with the same
//! conventions Go's gob package applies to the corresponding Go types.
//!
//! | Rust                         | Go / gob                                              |
//! |------------------------------|-------------------------------------------------------|
//! | bool, i8..i64, isize         | bool, int*  (gob int)                                 |
//! | u8..u64, usize               | uint*       (gob uint)                                |
//! | f32, f64                     | float32/64  (gob float)                               |
//! | String                       | string                                                |
//! | `CompactString` (inline)     | string                                                |
//! | `Vec<u8>`                    | `[]byte`  (gob bytes, exactly as Go treats []uint8)   |
//! | `SmallVec<[u8; 8]>` (inline) | `[]byte`                                              |
//! | `Vec<T>`                     | `[]T`                                                 |
//! | `[T; N]`                     | `[N]T` (also for u8: Go arrays of bytes are arrays)   |
//! | `BTreeMap`/`HashMap<K, V>`   | non-nil `map[K]V`: sent even when empty               |
//! | `Option<T>`                  | `*T` or a nil-able map: `None` leaves the field out   |
//! | [`gob_struct!`](crate::gob_struct) types | structs, fields matched by Go name        |

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use super::decode::Decoder;
use super::direct::{mismatch, WireCx};
use super::error::{Error, Result, Seg};
use super::types::{Type, Value};

/// A Rust type with a gob representation.
pub trait Gob: Sized {
    /// The gob type, as Go would describe the matching Go type.
    fn gob_type() -> Type;

    /// The value, with struct fields Go would omit already left out.
    fn to_gob(&self) -> Value;

    /// Converts a decoded value. Absent struct fields become zero values, unknown fields are
    /// ignored, a value of the wrong kind is an error naming the field.
    fn from_gob(value: &Value) -> Result<Self>;

    /// The value to put in a struct field, or `None` to leave the field off the wire (Go omits
    /// zero numbers, empty strings and slices, nil maps and nil pointers).
    fn to_gob_field(&self) -> Option<Value> {
        let v = self.to_gob();
        (!v.omitted_as_field()).then_some(v)
    }

    /// The value of a struct field that was absent on the wire (Go leaves it zero or nil).
    fn from_gob_absent() -> Result<Self> {
        Self::from_gob(&Self::gob_type().zero_value())
    }

    /// How `Vec<Self>` is represented: a gob slice, except for `u8` (gob bytes, as in Go).
    #[doc(hidden)]
    fn vec_gob_type() -> Type {
        Type::slice(Self::gob_type())
    }

    #[doc(hidden)]
    fn vec_to_gob(items: &[Self]) -> Value {
        Value::Slice(items.iter().map(Gob::to_gob).collect())
    }

    #[doc(hidden)]
    fn vec_from_gob(value: &Value) -> Result<Vec<Self>> {
        match value {
            Value::Slice(items) => elems_from_gob(items),
            other => Err(expected("slice", other)),
        }
    }

    /// Direct path ([`direct`](super::direct)): whether a value received as `wire` can be read
    /// into `Self`, by Go's rules ([`check_compatible`]).
    #[doc(hidden)]
    fn wire_check(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        let _ = cx;
        check_compatible(wire, &Self::gob_type())
    }

    /// Direct path: reads a value received as `wire`, which passed `wire_check`, whose own
    /// `Value` the caller paid for. The default goes through the generic tree.
    #[doc(hidden)]
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        Self::from_gob(&cx.decode_value(wire)?)
    }

    #[doc(hidden)]
    fn vec_wire_check(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        match wire {
            Type::Slice(elem) => Self::wire_check(cx, elem),
            _ => Err(mismatch(wire, &Self::vec_gob_type())),
        }
    }

    #[doc(hidden)]
    fn vec_wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Vec<Self>> {
        match wire {
            Type::Slice(elem) => cx.slice(elem),
            _ => Err(mismatch(wire, &Self::vec_gob_type())),
        }
    }
}

/// Decodes a whole stream that holds exactly one top-level value.
pub fn from_bytes<T: Gob>(bytes: &[u8]) -> Result<T> {
    let mut dec = Decoder::new(bytes);
    let value = dec.read()?;
    if !dec.is_at_end() {
        return Err(Error::invalid(dec.position(), "more data after the value (expected a single value)"));
    }
    Ok(value)
}

fn expected(what: &str, found: &Value) -> Error {
    Error::convert(format!("expected {what}, found {}", found.kind()))
}

fn elems_from_gob<T: Gob>(items: &[Value]) -> Result<Vec<T>> {
    items.iter().enumerate().map(|(i, v)| T::from_gob(v).map_err(|e| e.in_seg(Seg::Index(i)))).collect()
}

impl Gob for bool {
    fn gob_type() -> Type {
        Type::Bool
    }
    fn to_gob(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_gob(value: &Value) -> Result<Self> {
        value.as_bool().ok_or_else(|| expected("bool", value))
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        match wire {
            // Go reads any non-zero uint as true.
            Type::Bool => Ok(cx.uint("bool")? != 0),
            _ => Err(mismatch(wire, &Type::Bool)),
        }
    }
}

/// Gob has one unsigned and one signed integer type; every Rust width maps onto one of them and
/// refuses values out of its own range.
macro_rules! gob_integer {
    ($gob:ident, $wide:ty, $as:ident, $read:ident, $what:literal: $($t:ty),*) => {$(
        impl Gob for $t {
            fn gob_type() -> Type {
                Type::$gob
            }
            fn to_gob(&self) -> Value {
                Value::$gob(*self as $wide)
            }
            fn from_gob(value: &Value) -> Result<Self> {
                let x = value.$as().ok_or_else(|| expected($what, value))?;
                <$t>::try_from(x).map_err(|_| {
                    Error::convert(format!("value {x} out of range for {}", stringify!($t)))
                })
            }
            fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
                let x = match wire {
                    Type::$gob => cx.$read($what)?,
                    _ => return Err(mismatch(wire, &Type::$gob)),
                };
                <$t>::try_from(x).map_err(|_| {
                    Error::convert(format!("value {x} out of range for {}", stringify!($t)))
                })
            }
        }
    )*};
}
gob_integer!(Uint, u64, as_uint, uint, "uint": u16, u32, u64, usize);
gob_integer!(Int, i64, as_int, int, "int": i8, i16, i32, i64, isize);

/// `u8` is a gob uint on its own, but `Vec<u8>` is gob bytes (Go's `[]byte`).
impl Gob for u8 {
    fn gob_type() -> Type {
        Type::Uint
    }
    fn to_gob(&self) -> Value {
        Value::Uint(u64::from(*self))
    }
    fn from_gob(value: &Value) -> Result<Self> {
        let x = value.as_uint().ok_or_else(|| expected("uint", value))?;
        u8::try_from(x).map_err(|_| Error::convert(format!("value {x} out of range for u8")))
    }
    fn vec_gob_type() -> Type {
        Type::Bytes
    }
    fn vec_to_gob(items: &[Self]) -> Value {
        Value::Bytes(items.to_vec())
    }
    fn vec_from_gob(value: &Value) -> Result<Vec<Self>> {
        value.as_bytes().map(<[u8]>::to_vec).ok_or_else(|| expected("[]byte", value))
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        let x = match wire {
            Type::Uint => cx.uint("uint")?,
            _ => return Err(mismatch(wire, &Type::Uint)),
        };
        u8::try_from(x).map_err(|_| Error::convert(format!("value {x} out of range for u8")))
    }
    fn vec_wire_check(_: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        match wire {
            Type::Bytes => Ok(()),
            _ => Err(mismatch(wire, &Type::Bytes)),
        }
    }
    fn vec_wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Vec<Self>> {
        match wire {
            Type::Bytes => Ok(cx.bytes()?.to_vec()),
            _ => Err(mismatch(wire, &Type::Bytes)),
        }
    }
}

impl Gob for f64 {
    fn gob_type() -> Type {
        Type::Float
    }
    fn to_gob(&self) -> Value {
        Value::Float(*self)
    }
    fn from_gob(value: &Value) -> Result<Self> {
        value.as_float().ok_or_else(|| expected("float", value))
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        match wire {
            Type::Float => cx.float("float"),
            _ => Err(mismatch(wire, &Type::Float)),
        }
    }
}

impl Gob for f32 {
    fn gob_type() -> Type {
        Type::Float
    }
    fn to_gob(&self) -> Value {
        Value::Float(f64::from(*self))
    }
    fn from_gob(value: &Value) -> Result<Self> {
        let x = value.as_float().ok_or_else(|| expected("float", value))?;
        f32_from(x)
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        f32_from(f64::wire_read(cx, wire)?)
    }
}

/// Like Go: finite values beyond f32's range are an overflow, infinities are fine.
fn f32_from(x: f64) -> Result<f32> {
    if x.is_finite() && x.abs() > f64::from(f32::MAX) {
        return Err(Error::convert(format!("value {x} out of range for f32")));
    }
    Ok(x as f32)
}

impl Gob for String {
    fn gob_type() -> Type {
        Type::String
    }
    fn to_gob(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_gob(value: &Value) -> Result<Self> {
        value.as_str().map(str::to_string).ok_or_else(|| expected("string", value))
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        match wire {
            Type::String => Ok(cx.str()?.to_string()),
            _ => Err(mismatch(wire, &Type::String)),
        }
    }
}

/// Short strings (addresses, names) without an allocation each.
impl Gob for compact_str::CompactString {
    fn gob_type() -> Type {
        Type::String
    }
    fn to_gob(&self) -> Value {
        Value::String(self.to_string())
    }
    fn from_gob(value: &Value) -> Result<Self> {
        value.as_str().map(compact_str::CompactString::from).ok_or_else(|| expected("string", value))
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        match wire {
            Type::String => Ok(cx.str()?.into()),
            _ => Err(mismatch(wire, &Type::String)),
        }
    }
}

/// Short byte strings (peer names) without an allocation each.
impl Gob for smallvec::SmallVec<[u8; 8]> {
    fn gob_type() -> Type {
        Type::Bytes
    }
    fn to_gob(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
    fn from_gob(value: &Value) -> Result<Self> {
        value.as_bytes().map(smallvec::SmallVec::from_slice).ok_or_else(|| expected("[]byte", value))
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        match wire {
            Type::Bytes => Ok(smallvec::SmallVec::from_slice(cx.bytes()?)),
            _ => Err(mismatch(wire, &Type::Bytes)),
        }
    }
}

impl<T: Gob> Gob for Vec<T> {
    fn gob_type() -> Type {
        T::vec_gob_type()
    }
    fn to_gob(&self) -> Value {
        T::vec_to_gob(self)
    }
    fn from_gob(value: &Value) -> Result<Self> {
        T::vec_from_gob(value)
    }
    fn wire_check(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        T::vec_wire_check(cx, wire)
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        T::vec_wire_read(cx, wire)
    }
}

impl<T: Gob, const N: usize> Gob for [T; N] {
    fn gob_type() -> Type {
        Type::array(N, T::gob_type())
    }
    fn to_gob(&self) -> Value {
        Value::Array(self.iter().map(Gob::to_gob).collect())
    }
    fn from_gob(value: &Value) -> Result<Self> {
        let items = match value {
            Value::Array(items) => items,
            other => return Err(expected("array", other)),
        };
        array_from(elems_from_gob(items)?)
    }
    fn wire_check(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        match wire {
            Type::Array(n, elem) if *n == N => T::wire_check(cx, elem),
            _ => Err(mismatch(wire, &Self::gob_type())),
        }
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        match wire {
            Type::Array(len, elem) => array_from(cx.array(*len, elem)?),
            _ => Err(mismatch(wire, &Self::gob_type())),
        }
    }
}

fn array_from<T, const N: usize>(items: Vec<T>) -> Result<[T; N]> {
    let n = items.len();
    items.try_into().map_err(|_| Error::convert(format!("expected {N} array elements, found {n}")))
}

/// `None` is Go's nil pointer or nil map: the struct field is left out, and an absent field
/// decodes as `None`. Note that Go also leaves out a pointer to a zero number, string or empty
/// slice, so `Some(0u64)` as a field arrives as `None`.
impl<T: Gob> Gob for Option<T> {
    fn gob_type() -> Type {
        T::gob_type()
    }
    fn to_gob(&self) -> Value {
        match self {
            Some(v) => v.to_gob(),
            None => T::gob_type().zero_value(),
        }
    }
    fn from_gob(value: &Value) -> Result<Self> {
        T::from_gob(value).map(Some)
    }
    fn to_gob_field(&self) -> Option<Value> {
        self.as_ref().and_then(Gob::to_gob_field)
    }
    fn from_gob_absent() -> Result<Self> {
        Ok(None)
    }
    fn wire_check(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        T::wire_check(cx, wire)
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        T::wire_read(cx, wire).map(Some)
    }
}

fn map_entries<K: Gob, V: Gob>(value: &Value) -> Result<impl Iterator<Item = Result<(K, V)>> + '_> {
    let entries = value.as_map().ok_or_else(|| expected("map", value))?;
    Ok(entries.iter().enumerate().map(|(i, (k, v))| {
        let k = K::from_gob(k).map_err(|e| e.in_seg(Seg::Key(i)))?;
        let v = V::from_gob(v).map_err(|e| e.in_seg(Seg::MapValue(i)))?;
        Ok((k, v))
    }))
}

/// Sent in key order. Duplicate keys on the wire: the last one wins, as in Go.
impl<K: Gob + Ord, V: Gob> Gob for BTreeMap<K, V> {
    fn gob_type() -> Type {
        Type::map(K::gob_type(), V::gob_type())
    }
    fn to_gob(&self) -> Value {
        Value::Map(self.iter().map(|(k, v)| (k.to_gob(), v.to_gob())).collect())
    }
    fn from_gob(value: &Value) -> Result<Self> {
        map_entries(value)?.collect()
    }
    fn wire_check(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        map_wire_check::<K, V>(cx, wire)
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        let mut out = BTreeMap::new();
        map_wire_read(cx, wire, |k, v| {
            out.insert(k, v);
        })?;
        Ok(out)
    }
}

/// Sent in iteration order (random, like Go's maps).
impl<K: Gob + Eq + Hash, V: Gob> Gob for HashMap<K, V> {
    fn gob_type() -> Type {
        Type::map(K::gob_type(), V::gob_type())
    }
    fn to_gob(&self) -> Value {
        Value::Map(self.iter().map(|(k, v)| (k.to_gob(), v.to_gob())).collect())
    }
    fn from_gob(value: &Value) -> Result<Self> {
        map_entries(value)?.collect()
    }
    fn wire_check(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
        map_wire_check::<K, V>(cx, wire)
    }
    fn wire_read(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<Self> {
        let mut out = HashMap::new();
        map_wire_read(cx, wire, |k, v| {
            out.insert(k, v);
        })?;
        Ok(out)
    }
}

fn map_wire_check<K: Gob, V: Gob>(cx: &mut WireCx<'_, '_>, wire: &Type) -> Result<()> {
    match wire {
        Type::Map(kt, vt) => {
            K::wire_check(cx, kt)?;
            V::wire_check(cx, vt)
        }
        _ => Err(mismatch(wire, &Type::map(K::gob_type(), V::gob_type()))),
    }
}

/// Duplicate keys: the last one wins, as in Go (and as `from_gob`).
fn map_wire_read<K: Gob, V: Gob>(cx: &mut WireCx<'_, '_>, wire: &Type, add: impl FnMut(K, V)) -> Result<()> {
    match wire {
        Type::Map(kt, vt) => cx.map_entries(kt, vt, add),
        _ => Err(mismatch(wire, &Type::map(K::gob_type(), V::gob_type()))),
    }
}

/// Appends a struct field unless Go would leave it out. Used by [`gob_struct!`](crate::gob_struct).
#[doc(hidden)]
pub fn push_field<T: Gob>(out: &mut Vec<(Arc<str>, Value)>, go_name: &str, value: &T) {
    if let Some(v) = value.to_gob_field() {
        out.push((go_name.into(), v));
    }
}

/// The field list of a struct value. Used by [`gob_struct!`](crate::gob_struct).
#[doc(hidden)]
pub fn struct_fields<'v>(value: &'v Value, go_name: &str) -> Result<&'v [(Arc<str>, Value)]> {
    value.as_struct().ok_or_else(|| expected(&format!("struct {go_name}"), value))
}

/// Reads one field by Go name; absent means zero. Used by [`gob_struct!`](crate::gob_struct).
#[doc(hidden)]
pub fn field<T: Gob>(fields: &[(Arc<str>, Value)], go_name: &str) -> Result<T> {
    match fields.iter().find(|(n, _)| &**n == go_name) {
        Some((_, v)) => T::from_gob(v),
        None => T::from_gob_absent(),
    }
    .map_err(|e| e.in_field(go_name))
}

/// Checks that a received type can be decoded into a local one, with Go's rules: basic types
/// must be equal (int and uint differ), composites must match element-wise, structs match the
/// fields they share by name (others are ignored) but must share at least one if both have any.
pub fn check_compatible(wire: &Type, local: &Type) -> Result<()> {
    let fits = match (wire, local) {
        (Type::Slice(w), Type::Slice(l)) => return check_compatible(w, l),
        (Type::Array(n, w), Type::Array(m, l)) if n == m => return check_compatible(w, l),
        (Type::Map(wk, wv), Type::Map(lk, lv)) => {
            check_compatible(wk, lk)?;
            return check_compatible(wv, lv);
        }
        (Type::Struct { fields: wf, .. }, Type::Struct { fields: lf, .. }) => {
            let mut matched = 0;
            for (name, wt) in wf.iter() {
                if let Some((_, lt)) = lf.iter().find(|(n, _)| n == name) {
                    check_compatible(wt, lt).map_err(|e| e.in_field(name))?;
                    matched += 1;
                }
            }
            matched > 0 || wf.is_empty() || lf.is_empty()
        }
        (w, l) => {
            w == l && !matches!(w, Type::Slice(_) | Type::Array(..) | Type::Map(..) | Type::Struct { .. })
        }
    };
    if fits {
        Ok(())
    } else {
        Err(Error::convert(format!("received {wire} does not fit local {local}")))
    }
}
