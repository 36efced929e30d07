//! The direct path of [`Decoder::next_as`](crate::gob::Decoder::next_as): a value is read straight
//! from the bytes into its [`Gob`] type, without the [`Value`] tree of the generic path.
//!
//! * Each [`Gob`] type checks a received type against itself (`wire_check`, Go's rules as in
//!   [`check_compatible`]) and reads a value of it (`wire_read`). A
//!   [`gob_struct!`](crate::gob_struct) type matches the fields the sender defined to its own
//!   by name once per pair of types and decoder (`Plans`); unknown fields are skipped with
//!   the received type, absent ones keep their zero value.
//! * The bytes are read and checked by the same readers as the generic path, and the budget is
//!   charged exactly what the generic path would charge for its tree: both accept and refuse
//!   the same streams. What the direct path allocates is the typed value alone, which the
//!   generic path also builds from its tree; a vector's up-front capacity never exceeds what
//!   was paid for its elements.
//! * Any error hands the message to the generic path (see `Decoder::read_direct`), so results
//!   and errors are the generic path's and the errors built here are never seen. A message is
//!   thus decoded at most twice.

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;

use super::decode::{self, Budget, FieldDef};
use super::error::{Error, Result, Seg};
use super::typed::{check_compatible, Gob};
use super::types::{Type, Value};
use super::wire::Reader;

/// A message being read by the direct path: its bytes, the stream's budget and struct plans.
pub struct WireCx<'c, 'a> {
    r: &'c mut Reader<'a>,
    budget: &'c mut Budget,
    plans: &'c mut Plans,
}

/// For each pair (received struct type, local struct type) seen by a decoder, which local field
/// each received field is. Received types are shared per type id (the resolver builds each id
/// once), so a plan is made once per type id and local type. A plan takes a word per received
/// field, less than the definition of that field was charged; the local types are the
/// program's, so the plans of a stream are bounded by its definitions.
#[derive(Default)]
pub(crate) struct Plans {
    list: Vec<Plan>,
    index: HashMap<PlanKey, usize>,
    /// The plan used last: consecutive values are nearly always of the same types.
    last: usize,
}

/// The addresses of the received fields and of the local type.
type PlanKey = (usize, usize);

struct Plan {
    key: PlanKey,
    /// Held so that no other type can take this address while the decoder lives.
    _wire: Arc<[FieldDef]>,
    /// Per received field, the index of the local field of that name; an error if the received
    /// type does not fit the local one.
    fields: Result<Box<[Option<usize>]>>,
}

impl Plans {
    /// The plan for reading `wire` (a struct's fields) into `local`, made on first use.
    fn find(&mut self, wire: &Arc<[FieldDef]>, wire_ty: &Type, local: &'static Type) -> Result<usize> {
        let key = (Arc::as_ptr(wire) as *const () as usize, local as *const Type as usize);
        let found = match self.list.get(self.last) {
            Some(plan) if plan.key == key => Some(self.last),
            _ => self.index.get(&key).copied(),
        };
        let i = match found {
            Some(i) => i,
            None => {
                let fields = make_plan(wire_ty, local);
                self.list.push(Plan { key, _wire: wire.clone(), fields });
                self.index.insert(key, self.list.len() - 1);
                self.list.len() - 1
            }
        };
        self.last = i;
        match self.list.get(i).map(|p| &p.fields) {
            Some(Ok(_)) => Ok(i),
            Some(Err(e)) => Err(e.clone()),
            None => Err(Error::convert("no plan for a struct type")),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// The local field of received field `index` under plan `plan`.
    fn local(&self, plan: usize, index: usize) -> Option<usize> {
        match self.list.get(plan).map(|p| &p.fields) {
            Some(Ok(fields)) => fields.get(index).copied().flatten(),
            _ => None,
        }
    }
}

/// Matches received fields to local ones by name, after checking the types fit (Go's rules).
fn make_plan(wire: &Type, local: &Type) -> Result<Box<[Option<usize>]>> {
    check_compatible(wire, local)?;
    match (wire, local) {
        (Type::Struct { fields: wf, .. }, Type::Struct { fields: lf, .. }) => {
            Ok(wf.iter().map(|(name, _)| lf.iter().position(|(l, _)| l == name)).collect())
        }
        _ => Err(mismatch(wire, local)),
    }
}

/// The error for a received type that does not fit the local one.
pub(crate) fn mismatch(wire: &Type, local: &Type) -> Error {
    Error::convert(format!("received {wire} does not fit local {local}"))
}

impl<'c, 'a> WireCx<'c, 'a> {
    pub(crate) fn new(r: &'c mut Reader<'a>, budget: &'c mut Budget, plans: &'c mut Plans) -> Self {
        WireCx { r, budget, plans }
    }

    /// A top-level value of received type `ty`, in a message whose body starts at `start`.
    pub(crate) fn read_top<T: Gob>(&mut self, ty: &Type, start: usize) -> Result<T> {
        T::wire_check(self, ty)?;
        self.budget.charge_items::<Value>(1, start)?;
        if !matches!(ty, Type::Struct { .. }) {
            decode::top_delta(self.r, ty)?;
        }
        let value = T::wire_read(self, ty)?;
        decode::expect_end(self.r)?;
        Ok(value)
    }

    pub(crate) fn uint(&mut self, what: &'static str) -> Result<u64> {
        self.r.uint(what)
    }

    pub(crate) fn int(&mut self, what: &'static str) -> Result<i64> {
        self.r.int(what)
    }

    pub(crate) fn float(&mut self, what: &'static str) -> Result<f64> {
        self.r.float(what)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        decode::read_bytes(self.r, self.budget)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        decode::read_str(self.r, self.budget)
    }

    /// A value through the generic tree, for types without a direct reader.
    pub(crate) fn decode_value(&mut self, ty: &Type) -> Result<Value> {
        decode::decode_value(self.r, ty, self.budget)
    }

    /// Reads `n` elements of type `elem`, paid for as the generic path's `Value`s.
    fn elems<T: Gob>(&mut self, n: usize, elem: &Type) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(paid_capacity::<T>(n));
        for i in 0..n {
            out.push(T::wire_read(self, elem).map_err(|e| e.in_seg(Seg::Index(i)))?);
        }
        Ok(out)
    }

    /// The elements of a slice received as `[]elem`.
    pub(crate) fn slice<T: Gob>(&mut self, elem: &Type) -> Result<Vec<T>> {
        let n = decode::slice_len(self.r, self.budget)?;
        self.elems(n, elem)
    }

    /// The elements of an array received as `[len]elem`.
    pub(crate) fn array<T: Gob>(&mut self, len: usize, elem: &Type) -> Result<Vec<T>> {
        let n = decode::array_len(self.r, len, self.budget)?;
        self.elems(n, elem)
    }

    /// The entries of a map received as `map[kt]vt`, in wire order.
    pub(crate) fn map_entries<K: Gob, V: Gob>(
        &mut self,
        kt: &Type,
        vt: &Type,
        mut add: impl FnMut(K, V),
    ) -> Result<()> {
        let n = decode::map_len(self.r, self.budget)?;
        for i in 0..n {
            let k = K::wire_read(self, kt).map_err(|e| e.in_seg(Seg::Key(i)))?;
            let v = V::wire_read(self, vt).map_err(|e| e.in_seg(Seg::MapValue(i)))?;
            add(k, v);
        }
        Ok(())
    }

    /// Checks a received type against a local struct type (made by `gob_struct!`).
    pub fn check_struct(&mut self, wire: &Type, local: &'static Type) -> Result<()> {
        match wire {
            Type::Struct { fields, .. } => self.plans.find(fields, wire, local).map(drop),
            _ => Err(mismatch(wire, local)),
        }
    }

    /// Starts reading a struct received as `wire` into the local struct type `local`.
    pub fn struct_reader<'w>(&mut self, wire: &'w Type, local: &'static Type) -> Result<StructReader<'w>> {
        match wire {
            Type::Struct { fields, .. } => {
                let plan = self.plans.find(fields, wire, local)?;
                Ok(StructReader { ty: wire, fields, plan, next: 0 })
            }
            _ => Err(mismatch(wire, local)),
        }
    }

    /// The value of a received field, into its local field's type.
    pub fn read_field<F: Gob>(&mut self, field: &WireField<'_>) -> Result<F> {
        F::wire_read(self, field.ty).map_err(|e| e.in_field(field.name))
    }

    /// Passes over the value of a field the local type does not read.
    pub fn skip_field(&mut self, field: &WireField<'_>) -> Result<()> {
        skip_value(self.r, field.ty, self.budget).map_err(|e| e.in_field(field.name))
    }
}

/// How many `T`s to allocate up front for `n` elements the generic path pays a `Value` each
/// for: no more bytes than were paid (a received count is only bounded by the bytes left, and
/// a local element may be larger than a `Value`).
fn paid_capacity<T>(n: usize) -> usize {
    let paid = n.saturating_mul(size_of::<Value>());
    n.min(paid / size_of::<T>().max(1))
}

/// Reads the fields of one received struct, in wire order.
pub struct StructReader<'w> {
    ty: &'w Type,
    fields: &'w [FieldDef],
    plan: usize,
    next: usize,
}

/// A received field whose value comes next.
pub struct WireField<'w> {
    /// The local field it fills, by position in the local struct; `None` if there is none.
    pub local: Option<usize>,
    name: &'w str,
    ty: &'w Type,
}

impl<'w> StructReader<'w> {
    /// The next field sent, or `None` at the end of the struct.
    pub fn next_field(&mut self, cx: &mut WireCx<'_, '_>) -> Result<Option<WireField<'w>>> {
        let found = decode::next_field(cx.r, self.ty, self.fields, &mut self.next, cx.budget)?;
        Ok(found.map(|(index, (name, ty))| WireField { local: cx.plans.local(self.plan, index), name, ty }))
    }
}

/// A local field's value: what was received, or the value of an absent field.
pub fn received_or_absent<T: Gob>(received: Option<T>, go_name: &str) -> Result<T> {
    match received {
        Some(v) => Ok(v),
        None => T::from_gob_absent().map_err(|e| e.in_field(go_name)),
    }
}

/// Reads over one value of type `ty`, checking and charging what the generic path's
/// `decode_value` would, without building it. Recursion follows `ty`, whose depth the
/// resolver bounded.
fn skip_value(r: &mut Reader<'_>, ty: &Type, budget: &mut Budget) -> Result<()> {
    match ty {
        Type::Bool => {
            r.uint("bool")?;
        }
        Type::Int => {
            r.int("int")?;
        }
        Type::Uint => {
            r.uint("uint")?;
        }
        Type::Float => {
            r.float("float")?;
        }
        Type::Bytes => {
            decode::read_bytes(r, budget)?;
        }
        Type::String => {
            decode::read_str(r, budget)?;
        }
        Type::Slice(elem) => {
            let n = decode::slice_len(r, budget)?;
            skip_elems(r, elem, n, budget)?;
        }
        Type::Array(len, elem) => {
            let n = decode::array_len(r, *len, budget)?;
            skip_elems(r, elem, n, budget)?;
        }
        Type::Map(kt, vt) => {
            let n = decode::map_len(r, budget)?;
            for i in 0..n {
                skip_value(r, kt, budget).map_err(|e| e.in_seg(Seg::Key(i)))?;
                skip_value(r, vt, budget).map_err(|e| e.in_seg(Seg::MapValue(i)))?;
            }
        }
        Type::Struct { .. } => {
            let fields = decode::struct_fields(r, ty)?;
            let mut next = 0;
            while let Some((_, (name, fty))) = decode::next_field(r, ty, fields, &mut next, budget)? {
                skip_value(r, fty, budget).map_err(|e| e.in_field(name))?;
            }
        }
    }
    Ok(())
}

fn skip_elems(r: &mut Reader<'_>, elem: &Type, n: usize, budget: &mut Budget) -> Result<()> {
    for i in 0..n {
        skip_value(r, elem, budget).map_err(|e| e.in_seg(Seg::Index(i)))?;
    }
    Ok(())
}
