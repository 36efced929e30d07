//! A codec for Go's `encoding/gob`, as far as Weave Net 2.8's wire protocol needs it.
//!
//! Layers:
//! * [`Type`] / [`Value`]: a dynamic model of gob types and values ([`types`]).
//! * [`Decoder`] / [`decode_all`]: stream in, `(Type, Value)` pairs out ([`decode`]).
//! * [`Encoder`]: `(Type, Value)` pairs in, a stream Go decodes out ([`encode`]).
//! * [`Gob`] and [`gob_struct!`](crate::gob_struct): Rust types <-> values ([`typed`]).
//! * [`Decoder::next_as`] reads a stream's values straight into [`Gob`] types, without the
//!   `Value` tree, and falls back to the generic path for anything it cannot read
//!   ([`direct`]): same results, errors and memory budget, a fraction of the work.
//!
//! Things about gob a user of this module must know:
//! * A stream is a sequence of messages `uint length | int type id | body`. A negative id
//!   defines that type (a `wireType` struct); a positive id is a value of that type. Each
//!   `gob.Encoder` sends a definition once, before the first value that needs it.
//! * Type ids are process-global in Go: Weave's streams start at whatever id the type got in the
//!   sender's process (features map #74, IPAM Ring #65 but gossipState #78). Ids are >= 64 and
//!   may appear in any order; a definition may refer to ids defined later in the stream (Go sends
//!   a struct before its fields' types).
//! * Top-level non-struct values are preceded by a 0 byte; top-level values are always sent,
//!   even when zero or empty.
//! * In structs, Go omits zero numbers, false, empty strings, empty `[]byte` and empty slices,
//!   and nil maps and pointers; it sends empty non-nil maps, nested structs and arrays always.
//!   So a decoded `Value::Struct` lists only the fields that were sent.
//! * Names of types are informational: Go matches struct fields by name and ignores type names
//!   (Weave sends several structs with an empty name).
//! * Go strings may hold any bytes; this decoder rejects strings that are not UTF-8.
//! * Interfaces, GobEncoder/BinaryMarshaler types, complex numbers and recursive types are
//!   rejected with an `Unsupported` error; Weave's protocol uses none of them.
//! * Decoding is budgeted ([`decode`]): a stream may make the decoder allocate at most
//!   [`memory_budget`] of its length, carry [`MAX_TYPE_BYTES`] of definitions and names of
//!   [`MAX_NAME_LEN`] bytes; beyond that it is refused with an `Unsupported` error.

mod error;
mod macros;
mod schema;

pub mod decode;
/// Used by [`gob_struct!`](crate::gob_struct); not a stable interface.
#[doc(hidden)]
pub mod direct;
pub mod encode;
pub mod typed;
pub mod types;
mod wire;

#[cfg(test)]
mod tests;

pub use decode::{
    decode_all, fuzz_decode, memory_budget, Decoder, MAX_DEPTH, MAX_NAME_LEN, MAX_TYPE_BYTES, MAX_TYPE_NODES,
};
pub use encode::{to_bytes, Encoder, GobValue};
pub use error::{Ctx, Error, Path, Result, Seg};
pub use schema::{IdName, WireType, DEFAULT_FIRST_ID, FIRST_USER_ID};
pub use typed::{check_compatible, from_bytes, Gob};
pub use types::{Type, Value};

pub use crate::gob_struct;
