//! Errors of the gob codec. Every error says what was being read or written (the context: which
//! message, which type id), where (byte offset in the stream, and the field path inside the value)
//! and what was wrong.

use std::fmt;

/// Result of every fallible gob operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which part of a stream an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// Between messages: reading a message length or a type id.
    Stream,
    /// Inside the definition of this (positive) type id.
    TypeDefinition(i64),
    /// Inside a top-level value of this type id.
    Value(i64),
}

impl fmt::Display for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ctx::Stream => f.write_str("stream"),
            Ctx::TypeDefinition(id) => write!(f, "definition of type id {id}"),
            Ctx::Value(id) => write!(f, "value of type id {id}"),
        }
    }
}

/// One step of a path into a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A struct field, by its Go name.
    Field(String),
    /// An element of a slice or array.
    Index(usize),
    /// The key of the n-th map entry (in wire order).
    Key(usize),
    /// The value of the n-th map entry (in wire order).
    MapValue(usize),
}

/// Where inside a value something happened, e.g. `Ring.Entries[2].Token`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Seg>);

impl Path {
    /// `" in Ring.Entries[2]"`, or `""` at the top level; used inside longer messages.
    pub fn in_suffix(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!(" in {self}")
        }
    }

    /// `"field Ring.Entries[2]"`, or `"value"` at the top level.
    pub fn subject(&self) -> String {
        if self.0.is_empty() {
            "value".to_string()
        } else {
            format!("field {self}")
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Field(name) if i == 0 => f.write_str(name)?,
                Seg::Field(name) => write!(f, ".{name}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(n) => write!(f, "{{key #{n}}}")?,
                Seg::MapValue(n) => write!(f, "{{value #{n}}}")?,
            }
        }
        Ok(())
    }
}

/// Everything that can go wrong while decoding, encoding or converting gob data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended inside an item.
    #[error("gob: {ctx} truncated at byte {at}{}: need {need} bytes for {what}, have {have}", .path.in_suffix())]
    Truncated { ctx: Ctx, path: Path, at: usize, need: u64, have: usize, what: &'static str },
    /// The bytes are not valid gob (or not what Go's encoder produces).
    #[error("gob: {ctx} is invalid at byte {at}{}: {reason}", .path.in_suffix())]
    Invalid { ctx: Ctx, path: Path, at: usize, reason: String },
    /// Valid gob that this codec deliberately does not handle (interfaces, GobEncoder types,
    /// complex numbers, recursive types, absurdly large or deep types).
    #[error("gob: {ctx} at byte {at}{} is not supported: {reason}", .path.in_suffix())]
    Unsupported { ctx: Ctx, path: Path, at: usize, reason: String },
    /// A `Value` handed to the encoder does not fit its `Type`.
    #[error("gob: cannot encode {}: {reason}", .path.subject())]
    Encode { path: Path, reason: String },
    /// A decoded `Value` does not fit the Rust type it was converted to.
    #[error("gob: cannot decode {}: {reason}", .path.subject())]
    Convert { path: Path, reason: String },
}

impl Error {
    pub(crate) fn truncated(at: usize, need: u64, have: usize, what: &'static str) -> Self {
        Error::Truncated { ctx: Ctx::Stream, path: Path::default(), at, need, have, what }
    }

    pub(crate) fn invalid(at: usize, reason: impl Into<String>) -> Self {
        Error::Invalid { ctx: Ctx::Stream, path: Path::default(), at, reason: reason.into() }
    }

    pub(crate) fn unsupported(at: usize, reason: impl Into<String>) -> Self {
        Error::Unsupported { ctx: Ctx::Stream, path: Path::default(), at, reason: reason.into() }
    }

    pub(crate) fn encode(reason: impl Into<String>) -> Self {
        Error::Encode { path: Path::default(), reason: reason.into() }
    }

    pub(crate) fn convert(reason: impl Into<String>) -> Self {
        Error::Convert { path: Path::default(), reason: reason.into() }
    }

    /// Sets the context of a decoding error (the message it happened in).
    pub(crate) fn with_ctx(mut self, new: Ctx) -> Self {
        match &mut self {
            Error::Truncated { ctx, .. } | Error::Invalid { ctx, .. } | Error::Unsupported { ctx, .. } => {
                *ctx = new
            }
            Error::Encode { .. } | Error::Convert { .. } => {}
        }
        self
    }

    /// Prepends a path step; called while an error unwinds out of a nested value.
    pub(crate) fn in_seg(mut self, seg: Seg) -> Self {
        self.path_mut().0.insert(0, seg);
        self
    }

    /// Prepends a struct field name to the path.
    pub(crate) fn in_field(self, name: &str) -> Self {
        self.in_seg(Seg::Field(name.to_string()))
    }

    /// The path inside the value where the error happened.
    pub fn path(&self) -> &Path {
        match self {
            Error::Truncated { path, .. }
            | Error::Invalid { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Encode { path, .. }
            | Error::Convert { path, .. } => path,
        }
    }

    fn path_mut(&mut self) -> &mut Path {
        match self {
            Error::Truncated { path, .. }
            | Error::Invalid { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Encode { path, .. }
            | Error::Convert { path, .. } => path,
        }
    }
}
