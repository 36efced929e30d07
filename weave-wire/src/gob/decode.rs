//! The stream decoder: splits a gob stream into messages, registers type definitions and decodes
//! each top-level value into a (`Type`, `Value`) pair.
//!
//! Hostile input is expected, before any password check when none is set. Nothing here indexes
//! unchecked, and everything a stream makes the decoder hold is paid for up front:
//! * memory: every byte the decoder allocates (values, strings, names, type nodes, vectors) is
//!   charged, before it is allocated, against [`memory_budget`] of the input length: a stream
//!   can never cost more than a small multiple of its own size;
//! * types: definitions may total [`MAX_TYPE_BYTES`] per stream, names [`MAX_NAME_LEN`] each;
//!   each id is resolved once and shared (`Arc`) by every field and value that uses it, and a type
//!   whose tree would expand beyond [`MAX_TYPE_NODES`] or nest beyond [`MAX_DEPTH`] is refused, so
//!   code that walks a decoded type as a tree stays cheap;
//! * counts are checked against the bytes left before anything is sized from them;
//! * [`Decoder::next_as`] reads values straight into typed values ([`direct`](super::direct)),
//!   charging what the generic path would for the same bytes: both refuse the same streams.

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;

use super::direct::{Plans, WireCx};
use super::error::{Ctx, Error, Result, Seg};
use super::schema::{self, IdName, WireType, FIRST_USER_ID, MAX_ID};
use super::typed::{self, Gob};
use super::types::{Type, Value};
use super::wire::Reader;

/// Deepest type nesting accepted (Weave's deepest, gossipState, is 6).
pub const MAX_DEPTH: usize = 64;
/// Longest type or field name accepted (Weave's longest is a few dozen bytes).
pub const MAX_NAME_LEN: usize = 1024;
/// Most bytes of type definitions one stream may carry (Weave's streams carry a few hundred).
pub const MAX_TYPE_BYTES: usize = 64 << 10;
/// Most nodes a resolved type may have when expanded as a tree (Weave's largest has ~40).
pub const MAX_TYPE_NODES: u64 = 1 << 16;

/// Fixed part of every stream's memory budget.
const BUDGET_BASE: u64 = 64 << 10;
/// Budget per input byte, counted over everything a stream allocates. A decoded value is larger
/// than its encoding (a one-byte bool becomes a 32-byte `Value`, a two-byte struct field a
/// 56-byte entry plus its name) and a type definition passes through a value of its own: the
/// streams captured from Weave Net take 6-21 bytes per input byte.
const BUDGET_PER_BYTE: u64 = 48;

/// Bytes of memory decoding a stream of `len` bytes may take: values, strings, names and types,
/// counted as they are allocated (`Vec` growth may round a vector's share up to twice that).
pub const fn memory_budget(len: usize) -> u64 {
    BUDGET_BASE + BUDGET_PER_BYTE * len as u64
}

/// Decodes a gob stream held in memory.
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    types: Types,
    /// Memory still allowed, in bytes.
    budget: Budget,
    /// Bytes of type definitions seen.
    type_bytes: usize,
    /// Once decoding failed, the stream position is meaningless: keep reporting the error.
    failed: Option<Error>,
    /// How received struct types map onto local ones, for the direct path.
    plans: Plans,
    /// Values the direct path handed to the generic one.
    fallbacks: u64,
}

/// A value message whose definitions are registered: its type id, where the message body
/// starts (the generic path positions its first charge there), where the value starts and
/// where the message ends.
struct ValueMsg {
    id: i64,
    start: usize,
    value: usize,
    end: usize,
}

/// Definitions in arrival order, an index by id, and the types resolved so far.
#[derive(Default)]
struct Types {
    defs: Vec<(i64, WireType)>,
    by_id: HashMap<i64, usize>,
    resolved: HashMap<i64, Resolved>,
}

/// A resolved type with the size of its expanded tree and its depth.
#[derive(Clone)]
struct Resolved {
    ty: Type,
    nodes: u64,
    depth: usize,
}

/// Memory a decoder may still allocate.
pub(crate) struct Budget {
    left: u64,
    total: u64,
    input_len: usize,
}

impl Budget {
    fn new(input_len: usize) -> Self {
        let total = memory_budget(input_len);
        Budget { left: total, total, input_len }
    }

    /// Pays for `bytes` about to be allocated.
    pub(crate) fn charge(&mut self, bytes: u64, at: usize) -> Result<()> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(Error::unsupported(
                at,
                format!(
                    "decoding would take more memory than the {} bytes a {}-byte stream may take",
                    self.total, self.input_len
                ),
            )),
        }
    }

    /// Pays for `n` items of type `T` (a vector about to be allocated).
    pub(crate) fn charge_items<T>(&mut self, n: usize, at: usize) -> Result<()> {
        self.charge((n as u64).saturating_mul(size_of::<T>() as u64), at)
    }
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
            types: Types::default(),
            budget: Budget::new(input.len()),
            type_bytes: 0,
            failed: None,
            plans: Plans::default(),
            fallbacks: 0,
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
        &self.types.defs
    }

    /// Bytes of the memory budget spent so far.
    pub fn memory_used(&self) -> u64 {
        self.budget.total - self.budget.left
    }

    /// Reads messages until the next top-level value and returns it with its resolved type;
    /// `Ok(None)` at the end of the stream. Definitions are registered on the way.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(Type, Value)>> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.next_inner();
        self.remember(result)
    }

    /// The next top-level value converted to `T`; `Ok(None)` at the end of the stream.
    ///
    /// The value is read straight from the bytes into `T` (no [`Value`] tree) when it fits;
    /// otherwise the generic path decodes the message again, so results and errors are exactly
    /// those of [`next`](Self::next) followed by [`check_compatible`](typed::check_compatible)
    /// and [`Gob::from_gob`].
    pub fn next_as<T: Gob>(&mut self) -> Result<Option<T>> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let found = self.next_value_msg().and_then(|msg| msg.map(|m| self.resolve_msg(m)).transpose());
        let Some((msg, ty)) = self.remember(found)? else {
            return Ok(None);
        };
        if let Some(value) = self.read_direct(&msg, &ty) {
            return Ok(Some(value));
        }
        let decoded = self.decode_msg(&msg, &ty);
        let value = self.remember(decoded)?;
        typed::check_compatible(&ty, &T::gob_type())?;
        T::from_gob(&value).map(Some)
    }

    /// The next top-level value converted to `T`; an error at the end of the stream.
    pub fn read<T: Gob>(&mut self) -> Result<T> {
        let at = self.pos;
        self.next_as()?.ok_or_else(|| Error::truncated(at, 1, 0, "a value").with_ctx(Ctx::Stream))
    }

    /// How many values [`next_as`](Self::next_as) could not read directly and decoded through
    /// the generic path (values that do not fit their type, or invalid bytes).
    #[doc(hidden)]
    pub fn direct_fallbacks(&self) -> u64 {
        self.fallbacks
    }

    /// Struct plans made so far (each pair of received and local struct types gets one).
    #[cfg(test)]
    pub(crate) fn plan_count(&self) -> usize {
        self.plans.len()
    }

    /// Keeps a decoding error: the stream position is meaningless after it.
    fn remember<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    fn next_inner(&mut self) -> Result<Option<(Type, Value)>> {
        let Some((msg, ty)) = self.next_value_msg()?.map(|m| self.resolve_msg(m)).transpose()? else {
            return Ok(None);
        };
        let value = self.decode_msg(&msg, &ty)?;
        Ok(Some((ty, value)))
    }

    /// Reads messages up to the next value message, registering definitions on the way.
    fn next_value_msg(&mut self) -> Result<Option<ValueMsg>> {
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
                self.define(-id, &mut r, end - body).map_err(|e| e.with_ctx(Ctx::TypeDefinition(-id)))?;
                continue;
            }
            return Ok(Some(ValueMsg { id, start: body, value: r.pos(), end }));
        }
        Ok(None)
    }

    /// A value message with its resolved type.
    fn resolve_msg(&mut self, msg: ValueMsg) -> Result<(ValueMsg, Type)> {
        match self.resolve_top(msg.id, msg.start) {
            Ok(ty) => Ok((msg, ty)),
            Err(e) => Err(e.with_ctx(Ctx::Value(msg.id))),
        }
    }

    /// The generic path: the message's value as a tree.
    fn decode_msg(&mut self, msg: &ValueMsg, ty: &Type) -> Result<Value> {
        let mut r = Reader::new(self.input, msg.value, msg.end);
        let decoded = self.budget.charge_items::<Value>(1, msg.start).and_then(|()| {
            let value = decode_top(&mut r, ty, &mut self.budget)?;
            expect_end(&r)?;
            Ok(value)
        });
        decoded.map_err(|e| e.with_ctx(Ctx::Value(msg.id)))
    }

    /// The direct path: the message's value read straight into `T`, or `None` if that failed
    /// for any reason. A failed attempt's charges are refunded: the generic path then decodes
    /// the message as if the attempt had not happened. A successful one charged exactly what
    /// the generic path would have, so both accept and refuse the same streams.
    fn read_direct<T: Gob>(&mut self, msg: &ValueMsg, ty: &Type) -> Option<T> {
        let left = self.budget.left;
        let mut r = Reader::new(self.input, msg.value, msg.end);
        let mut cx = WireCx::new(&mut r, &mut self.budget, &mut self.plans);
        let result = cx.read_top::<T>(ty, msg.start);
        if result.is_err() {
            self.budget.left = left;
            self.fallbacks += 1;
        }
        result.ok()
    }

    fn define(&mut self, id: i64, r: &mut Reader<'_>, msg_len: usize) -> Result<()> {
        let at = r.pos();
        if id < FIRST_USER_ID {
            return Err(Error::invalid(at, format!("type id {id} is reserved for Go's builtin types")));
        }
        if self.types.by_id.contains_key(&id) {
            return Err(Error::invalid(at, format!("type id {id} defined twice")));
        }
        self.type_bytes = self.type_bytes.saturating_add(msg_len);
        if self.type_bytes > MAX_TYPE_BYTES {
            return Err(Error::unsupported(
                at,
                format!("type definitions in this stream exceed {MAX_TYPE_BYTES} bytes"),
            ));
        }
        let value = decode_struct(r, schema::wire_type_schema(), &mut self.budget)?;
        expect_end(r)?;
        let wt = schema::wire_type_from_value(&value).map_err(|e| Error::invalid(at, e))?;
        check_names(&wt, at)?;
        // The definition is kept for `wire_types`: about as large as the value it came from.
        self.budget.charge(size_of::<WireType>() as u64 + wt_names_len(&wt), at)?;
        self.types.by_id.insert(id, self.types.defs.len());
        self.types.defs.push((id, wt));
        Ok(())
    }

    /// The type of a top-level value.
    fn resolve_top(&mut self, id: i64, at: usize) -> Result<Type> {
        let mut resolver = Resolver {
            defs: &self.types.defs,
            by_id: &self.types.by_id,
            resolved: &mut self.types.resolved,
            budget: &mut self.budget,
            stack: Vec::new(),
            at,
        };
        resolver.resolve(id).map(|r| r.ty)
    }
}

/// Refuses names longer than [`MAX_NAME_LEN`].
fn check_names(wt: &WireType, at: usize) -> Result<()> {
    let long = |what: &str, len: usize| {
        Error::unsupported(
            at,
            format!("{what} name of {len} bytes is longer than the {MAX_NAME_LEN} allowed"),
        )
    };
    if wt.name().len() > MAX_NAME_LEN {
        return Err(long("type", wt.name().len()));
    }
    if let WireType::Struct { fields, .. } = wt {
        if let Some((n, _)) = fields.iter().find(|(n, _)| n.len() > MAX_NAME_LEN) {
            return Err(long("field", n.len()));
        }
    }
    Ok(())
}

fn wt_names_len(wt: &WireType) -> u64 {
    let fields = match wt {
        WireType::Struct { fields, .. } => {
            fields.iter().map(|(n, _)| (n.len() + size_of::<(String, i64)>()) as u64).sum()
        }
        _ => 0,
    };
    wt.name().len() as u64 + fields
}

/// Resolves type ids for one top-level value. Definitions are only read here, so a definition
/// can be borrowed while the types of its parts are resolved and recorded.
struct Resolver<'t> {
    defs: &'t [(i64, WireType)],
    by_id: &'t HashMap<i64, usize>,
    resolved: &'t mut HashMap<i64, Resolved>,
    budget: &'t mut Budget,
    /// Ids being built, innermost last: finds recursive types and bounds this recursion.
    stack: Vec<i64>,
    at: usize,
}

impl<'t> Resolver<'t> {
    /// The type for an id, built once per id (Go sends a struct before its field types, so
    /// this runs only when a value needs it) and shared after that.
    fn resolve(&mut self, id: i64) -> Result<Resolved> {
        let at = self.at;
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
            return Ok(Resolved { ty, nodes: 1, depth: 1 });
        }
        match id {
            schema::ID_COMPLEX => return Err(Error::unsupported(at, "complex numbers (type id 7)")),
            schema::ID_INTERFACE => return Err(Error::unsupported(at, "interface values (type id 8)")),
            _ => {}
        }
        if let Some(done) = self.resolved.get(&id) {
            return Ok(done.clone());
        }
        if self.stack.contains(&id) {
            return Err(Error::unsupported(
                at,
                format!("recursive type {} (it contains itself)", IdName(id)),
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::unsupported(at, format!("types nested deeper than {MAX_DEPTH}")));
        }
        let defs = self.defs;
        let wt = self
            .by_id
            .get(&id)
            .and_then(|&i| defs.get(i))
            .map(|(_, wt)| wt)
            .ok_or_else(|| Error::invalid(at, format!("type id {id} is not defined")))?;
        self.stack.push(id);
        let built = self.build(wt);
        self.stack.pop();
        let done = built?;
        if done.depth > MAX_DEPTH {
            return Err(Error::unsupported(at, format!("types nested deeper than {MAX_DEPTH}")));
        }
        if done.nodes > MAX_TYPE_NODES {
            return Err(Error::unsupported(
                at,
                format!("type {} would expand to more than {MAX_TYPE_NODES} parts", IdName(id)),
            ));
        }
        self.budget.charge_items::<(i64, Resolved)>(1, at)?;
        self.resolved.insert(id, done.clone());
        Ok(done)
    }

    /// Builds a type from its parts' resolved types.
    fn build(&mut self, wt: &'t WireType) -> Result<Resolved> {
        let at = self.at;
        Ok(match wt {
            &WireType::Array { elem, len, .. } => {
                let len = usize::try_from(len)
                    .map_err(|_| Error::invalid(at, format!("negative array length {len}")))?;
                let e = self.resolve(elem)?;
                Resolved { nodes: 1 + e.nodes, depth: 1 + e.depth, ty: Type::array(len, e.ty) }
            }
            &WireType::Slice { elem, .. } => {
                let e = self.resolve(elem)?;
                Resolved { nodes: 1 + e.nodes, depth: 1 + e.depth, ty: Type::slice(e.ty) }
            }
            &WireType::Map { key, elem, .. } => {
                let k = self.resolve(key)?;
                let v = self.resolve(elem)?;
                Resolved {
                    nodes: 1 + k.nodes.saturating_add(v.nodes),
                    depth: 1 + k.depth.max(v.depth),
                    ty: Type::map(k.ty, v.ty),
                }
            }
            WireType::Struct { name, fields } => {
                self.budget.charge_items::<(Arc<str>, Type)>(fields.len(), at)?;
                self.budget.charge(ARC_STR_HEADER + name.len() as u64, at)?;
                let mut out = Vec::with_capacity(fields.len());
                let (mut nodes, mut depth) = (1u64, 1usize);
                for (fname, fid) in fields {
                    if fname.is_empty() {
                        return Err(Error::invalid(
                            at,
                            format!("struct {name:?} has a field with an empty name"),
                        ));
                    }
                    self.budget.charge(ARC_STR_HEADER + fname.len() as u64, at)?;
                    let f = self.resolve(*fid).map_err(|e| e.in_field(fname))?;
                    nodes = nodes.saturating_add(f.nodes);
                    depth = depth.max(1 + f.depth);
                    out.push((Arc::from(fname.as_str()), f.ty));
                }
                Resolved {
                    nodes,
                    depth,
                    ty: Type::Struct { name: Arc::from(name.as_str()), fields: out.into() },
                }
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

/// What an `Arc<str>` allocates besides its bytes (two counters).
const ARC_STR_HEADER: u64 = 16;

pub(crate) fn expect_end(r: &Reader<'_>) -> Result<()> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(Error::invalid(r.pos(), format!("{n} bytes left over at the end of the message"))),
    }
}

/// A top-level value: structs are sent as they are, anything else as field 0 of a pseudo-struct
/// (a zero delta byte, then the value).
fn decode_top(r: &mut Reader<'_>, ty: &Type, budget: &mut Budget) -> Result<Value> {
    if let Type::Struct { .. } = ty {
        return decode_struct(r, ty, budget);
    }
    top_delta(r, ty)?;
    decode_value(r, ty, budget)
}

/// The zero byte in front of a top-level value that is not a struct.
pub(crate) fn top_delta(r: &mut Reader<'_>, ty: &Type) -> Result<()> {
    let at = r.pos();
    match r.uint("singleton field delta")? {
        0 => Ok(()),
        d => {
            Err(Error::invalid(at, format!("a top-level {ty} value must start with a zero byte, found {d}")))
        }
    }
}

// The readers below are shared by the generic path, the direct path (`direct`) and its skipping
// of unknown fields, so all three check the same things and charge the same amounts.

/// `[]byte` contents, paid for.
pub(crate) fn read_bytes<'a>(r: &mut Reader<'a>, budget: &mut Budget) -> Result<&'a [u8]> {
    let at = r.pos();
    let raw = r.counted("[]byte")?;
    budget.charge(raw.len() as u64, at)?;
    Ok(raw)
}

/// A string, which must be UTF-8, paid for.
pub(crate) fn read_str<'a>(r: &mut Reader<'a>, budget: &mut Budget) -> Result<&'a str> {
    let at = r.pos();
    let raw = r.counted("string")?;
    let s = std::str::from_utf8(raw)
        .map_err(|e| Error::invalid(at, format!("string is not valid UTF-8 ({e})")))?;
    budget.charge(s.len() as u64, at)?;
    Ok(s)
}

/// A slice's length, with a `Value` per element paid for.
pub(crate) fn slice_len(r: &mut Reader<'_>, budget: &mut Budget) -> Result<usize> {
    let n = r.count("slice length", 1)?;
    budget.charge_items::<Value>(n, r.pos())?;
    Ok(n)
}

/// An array's length, which must be the type's, with a `Value` per element paid for.
pub(crate) fn array_len(r: &mut Reader<'_>, len: usize, budget: &mut Budget) -> Result<usize> {
    let at = r.pos();
    let n = r.count("array length", 1)?;
    if n != len {
        return Err(Error::invalid(at, format!("array of type [{len}] arrived with {n} elements")));
    }
    budget.charge_items::<Value>(n, r.pos())?;
    Ok(n)
}

/// A map's length, with a pair of `Value`s per entry paid for.
pub(crate) fn map_len(r: &mut Reader<'_>, budget: &mut Budget) -> Result<usize> {
    let at = r.pos();
    let n = r.count("map length", 2)?;
    budget.charge_items::<(Value, Value)>(n, at)?;
    Ok(n)
}

/// One value of type `ty` (no field delta in front), whose own `Value` the caller paid for.
/// Recursion follows `ty`, whose depth the resolver bounded.
pub(crate) fn decode_value(r: &mut Reader<'_>, ty: &Type, budget: &mut Budget) -> Result<Value> {
    Ok(match ty {
        // Go reads any non-zero uint as true.
        Type::Bool => Value::Bool(r.uint("bool")? != 0),
        Type::Int => Value::Int(r.int("int")?),
        Type::Uint => Value::Uint(r.uint("uint")?),
        Type::Float => Value::Float(r.float("float")?),
        Type::Bytes => Value::Bytes(read_bytes(r, budget)?.to_vec()),
        Type::String => Value::String(read_str(r, budget)?.to_string()),
        Type::Slice(elem) => {
            let n = slice_len(r, budget)?;
            Value::Slice(decode_elems(r, elem, n, budget)?)
        }
        Type::Array(len, elem) => {
            let n = array_len(r, *len, budget)?;
            Value::Array(decode_elems(r, elem, n, budget)?)
        }
        Type::Map(kt, vt) => {
            let n = map_len(r, budget)?;
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

/// `n` elements, whose `Value`s the caller paid for.
fn decode_elems(r: &mut Reader<'_>, elem: &Type, n: usize, budget: &mut Budget) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(decode_value(r, elem, budget).map_err(|e| e.in_seg(Seg::Index(i)))?);
    }
    Ok(out)
}

/// A struct: (delta, value) pairs where delta is the distance from the previous field number,
/// ended by a zero delta. Go's decoder also stops at the end of the message without the
/// terminator; Go's encoder always writes it, so we require it (it keeps every item >= 1 byte).
fn decode_struct(r: &mut Reader<'_>, ty: &Type, budget: &mut Budget) -> Result<Value> {
    let fields = struct_fields(r, ty)?;
    let mut out = Vec::new();
    let mut next = 0usize;
    while let Some((_, (name, fty))) = next_field(r, ty, fields, &mut next, budget)? {
        let v = decode_value(r, fty, budget).map_err(|e| e.in_field(name))?;
        out.push((name.clone(), v));
    }
    Ok(Value::Struct(out))
}

/// The fields of a struct type.
pub(crate) fn struct_fields<'t>(r: &Reader<'_>, ty: &'t Type) -> Result<&'t [FieldDef]> {
    match ty {
        Type::Struct { fields, .. } => Ok(fields),
        _ => Err(Error::invalid(r.pos(), format!("{ty} is not a struct"))),
    }
}

/// A struct type's field: its name and type.
pub(crate) type FieldDef = (Arc<str>, Type);

/// Reads a field delta of a struct of type `ty`: the number and field whose value follows (an
/// entry for it paid for), or `None` at the struct's end. `next` is the lowest field number
/// the next delta may reach; it moves past the field returned.
pub(crate) fn next_field<'t>(
    r: &mut Reader<'_>,
    ty: &Type,
    fields: &'t [FieldDef],
    next: &mut usize,
    budget: &mut Budget,
) -> Result<Option<(usize, &'t FieldDef)>> {
    let at = r.pos();
    let delta = r.uint("struct field delta")?;
    if delta == 0 {
        return Ok(None);
    }
    let found = usize::try_from(delta - 1)
        .ok()
        .and_then(|d| next.checked_add(d))
        .and_then(|i| fields.get(i).map(|f| (i, f)));
    let Some((index, field)) = found else {
        return Err(Error::invalid(
            at,
            format!(
                "field delta {delta} after field {} is beyond the {} fields of {ty}",
                *next as i64 - 1,
                fields.len()
            ),
        ));
    };
    budget.charge_items::<(Arc<str>, Value)>(1, at)?;
    budget.charge(field.0.len() as u64, at)?;
    *next = index + 1;
    Ok(Some((index, field)))
}
