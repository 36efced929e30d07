//! The stream encoder: assigns type ids, sends each type definition once per encoder (as Go
//! does per `gob.Encoder`), then the value message. Byte-compatible with Go's encoder for the
//! same ids, names and map order.

use std::collections::{HashMap, HashSet};

use super::decode::MAX_DEPTH;
use super::error::{Error, Result, Seg};
use super::schema::{self, WireType, DEFAULT_FIRST_ID, FIRST_USER_ID, MAX_ID};
use super::typed::Gob;
use super::types::{Type, Value};
use super::wire::{put_bytes, put_float, put_int, put_uint};

/// Writes a gob stream into memory.
#[derive(Debug)]
pub struct Encoder {
    out: Vec<u8>,
    next_id: i64,
    ids: HashMap<Type, i64>,
    sent: HashSet<i64>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder whose first user type gets id 65, like a fresh Go process.
    pub fn new() -> Self {
        Encoder { out: Vec::new(), next_id: DEFAULT_FIRST_ID, ids: HashMap::new(), sent: HashSet::new() }
    }

    /// An encoder whose first user type gets `id` (Go's ids are process-global, so a given Go
    /// stream can start anywhere from 64 up: Weave's features map is #74).
    pub fn with_first_type_id(id: i64) -> Result<Self> {
        if !(FIRST_USER_ID..=MAX_ID).contains(&id) {
            return Err(Error::encode(format!("first type id {id} is outside {FIRST_USER_ID}..={MAX_ID}")));
        }
        Ok(Encoder { next_id: id, ..Self::new() })
    }

    /// Appends the definitions `ty` still needs and one top-level value. On error nothing is
    /// appended and no id is used up.
    pub fn encode(&mut self, ty: &Type, value: &Value) -> Result<()> {
        if ty.depth() > MAX_DEPTH {
            return Err(Error::encode(format!("type nested deeper than {MAX_DEPTH}")));
        }
        let mut body = Vec::new();
        match ty {
            Type::Struct { .. } => encode_struct(&mut body, ty, value)?,
            _ => {
                // A non-struct top-level value is field 0 of a pseudo-struct, always sent.
                body.push(0);
                encode_value(&mut body, ty, value)?;
            }
        }
        let id = self.assign(ty)?;
        self.send_definitions(ty);
        let mut msg = Vec::with_capacity(body.len() + 5);
        put_int(&mut msg, id);
        msg.extend_from_slice(&body);
        self.push_message(&msg);
        Ok(())
    }

    /// Encodes a typed value.
    pub fn encode_typed<T: Gob>(&mut self, value: &T) -> Result<()> {
        self.encode(&T::gob_type(), &value.to_gob())
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }

    /// Takes the bytes written so far, keeping the record of sent types (for a long-lived
    /// stream, e.g. one per connection).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The whole stream.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    fn push_message(&mut self, msg: &[u8]) {
        put_uint(&mut self.out, msg.len() as u64);
        self.out.extend_from_slice(msg);
    }

    /// Gives `ty` and its parts ids in Go's order: a struct takes its id before its fields,
    /// slices, arrays and maps after their elements.
    fn assign(&mut self, ty: &Type) -> Result<i64> {
        let basic = match ty {
            Type::Bool => schema::ID_BOOL,
            Type::Int => schema::ID_INT,
            Type::Uint => schema::ID_UINT,
            Type::Float => schema::ID_FLOAT,
            Type::Bytes => schema::ID_BYTES,
            Type::String => schema::ID_STRING,
            _ => 0,
        };
        if basic != 0 {
            return Ok(basic);
        }
        if let Some(&id) = self.ids.get(ty) {
            return Ok(id);
        }
        match ty {
            Type::Struct { fields, .. } => {
                let id = self.alloc(ty)?;
                for (_, f) in fields.iter() {
                    self.assign(f)?;
                }
                Ok(id)
            }
            Type::Slice(e) | Type::Array(_, e) => {
                self.assign(e)?;
                self.alloc(ty)
            }
            Type::Map(k, v) => {
                self.assign(k)?;
                self.assign(v)?;
                self.alloc(ty)
            }
            _ => Ok(basic),
        }
    }

    fn alloc(&mut self, ty: &Type) -> Result<i64> {
        let id = self.next_id;
        if id > MAX_ID {
            return Err(Error::encode("ran out of gob type ids"));
        }
        self.next_id += 1;
        self.ids.insert(ty.clone(), id);
        Ok(id)
    }

    fn id_of(&self, ty: &Type) -> i64 {
        match ty {
            Type::Bool => schema::ID_BOOL,
            Type::Int => schema::ID_INT,
            Type::Uint => schema::ID_UINT,
            Type::Float => schema::ID_FLOAT,
            Type::Bytes => schema::ID_BYTES,
            Type::String => schema::ID_STRING,
            _ => self.ids.get(ty).copied().unwrap_or(0),
        }
    }

    /// Sends the definition of `ty` unless already sent, then those of its parts, in Go's order
    /// (a type before its parts; struct fields in order; map key before element).
    fn send_definitions(&mut self, ty: &Type) {
        let id = self.id_of(ty);
        if id < FIRST_USER_ID || !self.sent.insert(id) {
            return;
        }
        let wt = match ty {
            Type::Array(len, e) => {
                WireType::Array { name: String::new(), elem: self.id_of(e), len: *len as i64 }
            }
            Type::Slice(e) => WireType::Slice { name: String::new(), elem: self.id_of(e) },
            Type::Map(k, v) => WireType::Map { name: String::new(), key: self.id_of(k), elem: self.id_of(v) },
            Type::Struct { name, fields } => WireType::Struct {
                name: name.to_string(),
                fields: fields.iter().map(|(n, t)| (n.to_string(), self.id_of(t))).collect(),
            },
            _ => return,
        };
        let mut msg = Vec::new();
        put_int(&mut msg, -id);
        let def = schema::wire_type_to_value(id, &wt);
        // The schema and the value are built together, so this cannot fail; if it ever did, the
        // definition would be missing and the peer would report an undefined type id.
        if encode_struct(&mut msg, schema::wire_type_schema(), &def).is_ok() {
            self.push_message(&msg);
        }
        match ty {
            Type::Array(_, e) | Type::Slice(e) => self.send_definitions(e),
            Type::Map(k, v) => {
                self.send_definitions(k);
                self.send_definitions(v);
            }
            Type::Struct { fields, .. } => {
                for (_, f) in fields.iter() {
                    self.send_definitions(f);
                }
            }
            _ => {}
        }
    }
}

/// Encodes a sequence of typed top-level values into one stream.
pub fn to_bytes(values: &[&dyn GobValue]) -> Result<Vec<u8>> {
    let mut enc = Encoder::new();
    for v in values {
        enc.encode(&v.dyn_gob_type(), &v.dyn_to_gob())?;
    }
    Ok(enc.finish())
}

/// Object-safe view of [`Gob`], so values of different types can be listed together.
pub trait GobValue {
    fn dyn_gob_type(&self) -> Type;
    fn dyn_to_gob(&self) -> Value;
}

impl<T: Gob> GobValue for T {
    fn dyn_gob_type(&self) -> Type {
        T::gob_type()
    }
    fn dyn_to_gob(&self) -> Value {
        self.to_gob()
    }
}

fn mismatch(ty: &Type, value: &Value) -> Error {
    Error::encode(format!("expected {ty}, found {}", value.kind()))
}

/// A value without a field delta in front: slice, array and map elements and top-level values.
/// Zero values are sent here (Go's `sendZero`).
fn encode_value(out: &mut Vec<u8>, ty: &Type, value: &Value) -> Result<()> {
    match (ty, value) {
        (Type::Bool, Value::Bool(b)) => put_uint(out, u64::from(*b)),
        (Type::Int, Value::Int(i)) => put_int(out, *i),
        (Type::Uint, Value::Uint(u)) => put_uint(out, *u),
        (Type::Float, Value::Float(x)) => put_float(out, *x),
        (Type::Bytes, Value::Bytes(b)) => put_bytes(out, b),
        (Type::String, Value::String(s)) => put_bytes(out, s.as_bytes()),
        (Type::Slice(e), Value::Slice(items)) => {
            put_uint(out, items.len() as u64);
            encode_elems(out, e, items)?;
        }
        (Type::Array(len, e), Value::Array(items)) => {
            if items.len() != *len {
                return Err(Error::encode(format!(
                    "array type [{len}] but the value has {} elements",
                    items.len()
                )));
            }
            put_uint(out, items.len() as u64);
            encode_elems(out, e, items)?;
        }
        (Type::Map(kt, vt), Value::Map(entries)) => {
            put_uint(out, entries.len() as u64);
            for (i, (k, v)) in entries.iter().enumerate() {
                encode_value(out, kt, k).map_err(|e| e.in_seg(Seg::Key(i)))?;
                encode_value(out, vt, v).map_err(|e| e.in_seg(Seg::MapValue(i)))?;
            }
        }
        (Type::Struct { .. }, Value::Struct(_)) => encode_struct(out, ty, value)?,
        _ => return Err(mismatch(ty, value)),
    }
    Ok(())
}

fn encode_elems(out: &mut Vec<u8>, elem: &Type, items: &[Value]) -> Result<()> {
    for (i, item) in items.iter().enumerate() {
        encode_value(out, elem, item).map_err(|e| e.in_seg(Seg::Index(i)))?;
    }
    Ok(())
}

/// A struct: fields present in the value, in type order, each as (delta, value); then a zero.
/// Fields whose value Go would omit (zero basics, empty slices) are skipped.
pub(crate) fn encode_struct(out: &mut Vec<u8>, ty: &Type, value: &Value) -> Result<()> {
    let (Type::Struct { fields, .. }, Value::Struct(present)) = (ty, value) else {
        return Err(mismatch(ty, value));
    };
    let mut chosen: Vec<(usize, &Value)> = Vec::with_capacity(present.len());
    for (name, v) in present {
        let index = fields
            .iter()
            .position(|(n, _)| **n == **name)
            .ok_or_else(|| Error::encode(format!("{ty} has no field {name:?}")))?;
        if chosen.iter().any(|&(i, _)| i == index) {
            return Err(Error::encode(format!("field {name:?} given twice")));
        }
        chosen.push((index, v));
    }
    chosen.sort_by_key(|&(i, _)| i);
    let mut last: i64 = -1;
    for (index, v) in chosen {
        let Some((name, fty)) = fields.get(index) else {
            continue;
        };
        if v.omitted_as_field() {
            // Not sent, but it must still fit the type; zero values are tiny to check.
            encode_value(&mut Vec::new(), fty, v).map_err(|e| e.in_field(name))?;
            continue;
        }
        put_uint(out, (index as i64 - last) as u64);
        encode_value(out, fty, v).map_err(|e| e.in_field(name))?;
        last = index as i64;
    }
    out.push(0);
    Ok(())
}
