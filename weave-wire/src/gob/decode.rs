//! The stream decoder: splits a gob stream into messages, registers type definitions and decodes
//! each top-level value into a (`Type`, `Value`) pair.
//!
//! Hostile input is expected. Nothing here indexes unchecked, every count is checked against the
//! bytes left before anything is allocated for it, type nesting is bounded, and a work budget
//! proportional to the input size bounds what resolving and copying types and field names costs.

use std::collections::HashMap;

use super::error::{Ctx, Error, Result, Seg};
use super::schema::{self, IdName, WireType, FIRST_USER_ID, MAX_ID};
use super::typed::{self, Gob};
use super::types::{Type, Value};
use super::wire::Reader;

/// Deepest type nesting accepted (Weave's deepest, gossipState, is 6).
pub const MAX_DEPTH: usize = 64;
/// Longest type or field name accepted.
pub const MAX_NAME_LEN: usize = 1024;
/// Most bytes of type definitions one stream may carry.
pub const MAX_TYPE_BYTES: usize = 64 << 10;

/// Bytes of memory decoding a stream of `len` bytes may take.
pub const fn memory_budget(len: usize) -> u64 {
    (64 << 10) + 64 * len as u64
}

/// Decodes a gob stream held in memory.
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    /// Definitions in arrival order, plus an index by id.
    defs: Vec<(i64, WireType)>,
    by_id: HashMap<i64, usize>,
    resolved: HashMap<i64, Type>,
    /// Remaining work units: one per type node built or copied, one per 8 bytes of field name copied.
    budget: u64,
    /// Once decoding failed, the stream position is meaningless: keep reporting the error.
    failed: Option<Error>,
}

/// Decodes every top-level value of a stream.
pub fn decode_all(input: &[u8]) -> Result<Vec<(Type, Value)>> {
    let mut dec = Decoder::new(input);
    let mut out = Vec::new();
    while let Some(item) = dec.next()? {
        out.push(item);
    }
    Ok(out)
}

/// Decodes everything and discards it: the entry point for fuzz targets.
pub fn fuzz_decode(input: &[u8]) {
    let mut dec = Decoder::new(input);
    while let Ok(Some(_)) = dec.next() {}
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Decoder {
            input,
            pos: 0,
            defs: Vec::new(),
            by_id: HashMap::new(),
            resolved: HashMap::new(),
            budget: (1 << 20) + 8 * input.len() as u64,
            failed: None,
        }
    }

    /// Byte offset of the next unread message.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Type definitions received so far, in arrival order, with their ids.
    pub fn wire_types(&self) -> &[(i64, WireType)] {
        &self.defs
    }

    /// Reads messages until the next top-level value and returns it with its resolved type;
    /// `Ok(None)` at the end of the stream. Definitions are registered on the way.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(Type, Value)>> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.next_inner();
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// The next top-level value converted to `T`; `Ok(None)` at the end of the stream.
    pub fn next_as<T: Gob>(&mut self) -> Result<Option<T>> {
        match self.next()? {
            Some((ty, value)) => {
                typed::check_compatible(&ty, &T::gob_type())?;
                T::from_gob(&value).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The next top-level value converted to `T`; an error at the end of the stream.
    pub fn read<T: Gob>(&mut self) -> Result<T> {
        let at = self.pos;
        self.next_as()?.ok_or_else(|| Error::truncated(at, 1, 0, "a value").with_ctx(Ctx::Stream))
    }

    fn next_inner(&mut self) -> Result<Option<(Type, Value)>> {
        while self.pos < self.input.len() {
            let mut head = Reader::new(self.input, self.pos, self.input.len());
            let len = head.uint("message length")?;
            if len == 0 {
                return Err(Error::invalid(self.pos, "empty message"));
            }
            let body = head.pos();
            head.take(len, "message")?;
            let end = head.pos();
            let mut r = Reader::new(self.input, body, end);
            let id = r.int("type id")?;
            if !(-MAX_ID..=MAX_ID).contains(&id) || id == 0 {
                return Err(Error::invalid(body, format!("type id {id} out of range")));
            }
            self.pos = end;
            if id < 0 {
                self.define(-id, &mut r).map_err(|e| e.with_ctx(Ctx::TypeDefinition(-id)))?;
                continue;
            }
            let result = self.resolve_top(id, body).and_then(|ty| {
                let value = decode_top(&mut r, &ty, &mut self.budget)?;
                expect_end(&r)?;
                Ok((ty, value))
            });
            return result.map(Some).map_err(|e| e.with_ctx(Ctx::Value(id)));
        }
        Ok(None)
    }

    fn define(&mut self, id: i64, r: &mut Reader<'_>) -> Result<()> {
        let at = r.pos();
        if id < FIRST_USER_ID {
            return Err(Error::invalid(at, format!("type id {id} is reserved for Go's builtin types")));
        }
        if self.by_id.contains_key(&id) {
            return Err(Error::invalid(at, format!("type id {id} defined twice")));
        }
        let value = decode_struct(r, schema::wire_type_schema(), &mut self.budget)?;
        expect_end(r)?;
        let wt = schema::wire_type_from_value(&value).map_err(|e| Error::invalid(at, e))?;
        self.by_id.insert(id, self.defs.len());
        self.defs.push((id, wt));
        Ok(())
    }

    /// The type of a top-level value; resolved types are cached per id.
    fn resolve_top(&mut self, id: i64, at: usize) -> Result<Type> {
        if let Some(ty) = self.resolved.get(&id) {
            charge(&mut self.budget, ty.size() as u64, at)?;
            return Ok(ty.clone());
        }
        let mut stack = Vec::new();
        let ty = self.resolve(id, at, &mut stack)?;
        self.resolved.insert(id, ty.clone());
        Ok(ty)
    }

    /// Builds the `Type` for an id. Definitions may refer to ids defined later in the stream
    /// (Go sends a struct before its field types), so this runs only when a value needs it.
    fn resolve(&mut self, id: i64, at: usize, stack: &mut Vec<i64>) -> Result<Type> {
        charge(&mut self.budget, 1, at)?;
        let basic = match id {
            schema::ID_BOOL => Some(Type::Bool),
            schema::ID_INT => Some(Type::Int),
            schema::ID_UINT => Some(Type::Uint),
            schema::ID_FLOAT => Some(Type::Float),
            schema::ID_BYTES => Some(Type::Bytes),
            schema::ID_STRING => Some(Type::String),
            _ => None,
        };
        if let Some(ty) = basic {
            return Ok(ty);
        }
        match id {
            schema::ID_COMPLEX => return Err(Error::unsupported(at, "complex numbers (type id 7)")),
            schema::ID_INTERFACE => return Err(Error::unsupported(at, "interface values (type id 8)")),
            _ => {}
        }
        if stack.contains(&id) {
            return Err(Error::unsupported(
                at,
                format!("recursive type {} (it contains itself)", IdName(id)),
            ));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(Error::unsupported(at, format!("types nested deeper than {MAX_DEPTH}")));
        }
        let wt = self
            .by_id
            .get(&id)
            .and_then(|&i| self.defs.get(i))
            .map(|(_, wt)| wt.clone())
            .ok_or_else(|| Error::invalid(at, format!("type id {id} is not defined")))?;
        stack.push(id);
        let ty = self.build(&wt, at, stack);
        stack.pop();
        ty
    }

    fn build(&mut self, wt: &WireType, at: usize, stack: &mut Vec<i64>) -> Result<Type> {
        Ok(match wt {
            WireType::Array { elem, len, .. } => {
                let len = usize::try_from(*len)
                    .map_err(|_| Error::invalid(at, format!("negative array length {len}")))?;
                Type::Array(len, Box::new(self.resolve(*elem, at, stack)?))
            }
            WireType::Slice { elem, .. } => Type::Slice(Box::new(self.resolve(*elem, at, stack)?)),
            WireType::Map { key, elem, .. } => {
                let k = self.resolve(*key, at, stack)?;
                let v = self.resolve(*elem, at, stack)?;
                Type::Map(Box::new(k), Box::new(v))
            }
            WireType::Struct { name, fields } => {
                let mut out = Vec::with_capacity(fields.len());
                for (fname, fid) in fields {
                    if fname.is_empty() {
                        return Err(Error::invalid(
                            at,
                            format!("struct {name:?} has a field with an empty name"),
                        ));
                    }
                    let fty = self.resolve(*fid, at, stack).map_err(|e| e.in_field(fname))?;
                    out.push((fname.clone(), fty));
                }
                Type::Struct { name: name.clone(), fields: out }
            }
            WireType::External { name, kind } => {
                return Err(Error::unsupported(
                    at,
                    format!("type {name:?} is a Go {kind}: its bytes are private to that Go type"),
                ))
            }
        })
    }
}

fn charge(budget: &mut u64, units: u64, at: usize) -> Result<()> {
    *budget = budget.checked_sub(units).ok_or_else(|| {
        Error::unsupported(at, "decoding would need far more work than the input size justifies")
    })?;
    Ok(())
}

fn expect_end(r: &Reader<'_>) -> Result<()> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(Error::invalid(r.pos(), format!("{n} bytes left over at the end of the message"))),
    }
}

/// A top-level value: structs are sent as they are, anything else as field 0 of a pseudo-struct
/// (a zero delta byte, then the value).
fn decode_top(r: &mut Reader<'_>, ty: &Type, budget: &mut u64) -> Result<Value> {
    if let Type::Struct { .. } = ty {
        return decode_struct(r, ty, budget);
    }
    let at = r.pos();
    match r.uint("singleton field delta")? {
        0 => decode_value(r, ty, budget),
        d => {
            Err(Error::invalid(at, format!("a top-level {ty} value must start with a zero byte, found {d}")))
        }
    }
}

/// One value of type `ty` (no field delta in front). Recursion follows `ty`, whose depth the
/// resolver bounded.
fn decode_value(r: &mut Reader<'_>, ty: &Type, budget: &mut u64) -> Result<Value> {
    Ok(match ty {
        // Go reads any non-zero uint as true.
        Type::Bool => Value::Bool(r.uint("bool")? != 0),
        Type::Int => Value::Int(r.int("int")?),
        Type::Uint => Value::Uint(r.uint("uint")?),
        Type::Float => Value::Float(r.float("float")?),
        Type::Bytes => Value::Bytes(r.counted("[]byte")?.to_vec()),
        Type::String => {
            let at = r.pos();
            let raw = r.counted("string")?;
            let s = std::str::from_utf8(raw)
                .map_err(|e| Error::invalid(at, format!("string is not valid UTF-8 ({e})")))?;
            Value::String(s.to_string())
        }
        Type::Slice(elem) => {
            let n = r.count("slice length", 1)?;
            Value::Slice(decode_elems(r, elem, n, budget)?)
        }
        Type::Array(len, elem) => {
            let at = r.pos();
            let n = r.count("array length", 1)?;
            if n != *len {
                return Err(Error::invalid(at, format!("array of type [{len}] arrived with {n} elements")));
            }
            Value::Array(decode_elems(r, elem, n, budget)?)
        }
        Type::Map(kt, vt) => {
            let n = r.count("map length", 2)?;
            let mut entries = Vec::with_capacity(n);
            for i in 0..n {
                let k = decode_value(r, kt, budget).map_err(|e| e.in_seg(Seg::Key(i)))?;
                let v = decode_value(r, vt, budget).map_err(|e| e.in_seg(Seg::MapValue(i)))?;
                entries.push((k, v));
            }
            Value::Map(entries)
        }
        Type::Struct { .. } => decode_struct(r, ty, budget)?,
    })
}

fn decode_elems(r: &mut Reader<'_>, elem: &Type, n: usize, budget: &mut u64) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(decode_value(r, elem, budget).map_err(|e| e.in_seg(Seg::Index(i)))?);
    }
    Ok(out)
}

/// A struct: (delta, value) pairs where delta is the distance from the previous field number,
/// ended by a zero delta. Go's decoder also stops at the end of the message without the
/// terminator; Go's encoder always writes it, so we require it (it keeps every item >= 1 byte).
fn decode_struct(r: &mut Reader<'_>, ty: &Type, budget: &mut u64) -> Result<Value> {
    let Type::Struct { fields, .. } = ty else {
        return Err(Error::invalid(r.pos(), format!("{ty} is not a struct")));
    };
    let mut out = Vec::new();
    let mut next = 0usize; // lowest field number the next delta may reach
    loop {
        let at = r.pos();
        let delta = r.uint("struct field delta")?;
        if delta == 0 {
            return Ok(Value::Struct(out));
        }
        let found = usize::try_from(delta - 1)
            .ok()
            .and_then(|d| next.checked_add(d))
            .and_then(|i| fields.get(i).map(|f| (i, f)));
        let Some((index, (name, fty))) = found else {
            return Err(Error::invalid(
                at,
                format!(
                    "field delta {delta} after field {} is beyond the {} fields of {ty}",
                    next as i64 - 1,
                    fields.len()
                ),
            ));
        };
        charge(budget, 1 + name.len() as u64 / 8, at)?;
        let v = decode_value(r, fty, budget).map_err(|e| e.in_field(name))?;
        out.push((name.clone(), v));
        next = index + 1;
    }
}
