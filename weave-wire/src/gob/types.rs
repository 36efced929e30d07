//! The dynamic model: [`Type`] describes a gob type the way Go sends it (without type ids) and
//! [`Value`] holds one value of such a type. Also the zero-value rules Go applies to struct fields.

use std::fmt;
use std::sync::Arc;

/// A gob type. Go's int8..int64 are all `Int`, uint8..uint64 all `Uint`, float32/64 `Float`,
/// `[]byte` is `Bytes` (never a slice of uint). Pointers are transparent in gob.
///
/// Parts are shared (`Arc`): cloning a type is cheap whatever its size, and the decoder hands
/// every use of a type id the one type it resolved for that id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    Bool,
    Int,
    Uint,
    Float,
    Bytes,
    String,
    Slice(Arc<Type>),
    Array(usize, Arc<Type>),
    Map(Arc<Type>, Arc<Type>),
    /// A struct; `name` is the Go type name sent in the definition (Go never matches on it, and
    /// Weave sends some structs with an empty name). Fields are matched by name.
    Struct {
        name: Arc<str>,
        fields: Arc<[(Arc<str>, Type)]>,
    },
}

/// A gob value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bytes(Vec<u8>),
    String(String),
    Slice(Vec<Value>),
    Array(Vec<Value>),
    /// Entries in wire order (Go sends maps in random order).
    Map(Vec<(Value, Value)>),
    /// Only the fields present on the wire, in field order. A missing field means "zero value".
    Struct(Vec<(Arc<str>, Value)>),
}

impl Type {
    /// Convenience constructor for `Type::Slice`.
    pub fn slice(elem: Type) -> Type {
        Type::Slice(Arc::new(elem))
    }

    /// Convenience constructor for `Type::Array`.
    pub fn array(len: usize, elem: Type) -> Type {
        Type::Array(len, Arc::new(elem))
    }

    /// Convenience constructor for `Type::Map`.
    pub fn map(key: Type, elem: Type) -> Type {
        Type::Map(Arc::new(key), Arc::new(elem))
    }

    /// Convenience constructor for `Type::Struct`.
    pub fn structure(name: &str, fields: &[(&str, Type)]) -> Type {
        Type::Struct {
            name: Arc::from(name),
            fields: fields.iter().map(|(n, t)| (Arc::from(*n), t.clone())).collect(),
        }
    }

    /// The value a Go variable of this type has before anything is assigned (what a decoder
    /// leaves in a field that is absent from the wire). Structs are empty field lists.
    pub fn zero_value(&self) -> Value {
        match self {
            Type::Bool => Value::Bool(false),
            Type::Int => Value::Int(0),
            Type::Uint => Value::Uint(0),
            Type::Float => Value::Float(0.0),
            Type::Bytes => Value::Bytes(Vec::new()),
            Type::String => Value::String(String::new()),
            Type::Slice(_) => Value::Slice(Vec::new()),
            Type::Array(len, elem) => Value::Array(vec![elem.zero_value(); *len]),
            Type::Map(..) => Value::Map(Vec::new()),
            Type::Struct { .. } => Value::Struct(Vec::new()),
        }
    }

    /// Nesting depth (a basic type has depth 1). Walks the type as a tree: the decoder refuses
    /// types whose tree is large ([`MAX_TYPE_NODES`](super::MAX_TYPE_NODES)), so this stays cheap.
    pub fn depth(&self) -> usize {
        match self {
            Type::Slice(e) | Type::Array(_, e) => 1 + e.depth(),
            Type::Map(k, v) => 1 + k.depth().max(v.depth()),
            Type::Struct { fields, .. } => 1 + fields.iter().map(|(_, t)| t.depth()).max().unwrap_or(0),
            _ => 1,
        }
    }
}

/// Go-like spelling, e.g. `map[uint]string`, `[]struct peerSummary`, `[6]uint`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Uint => f.write_str("uint"),
            Type::Float => f.write_str("float"),
            Type::Bytes => f.write_str("[]byte"),
            Type::String => f.write_str("string"),
            Type::Slice(e) => write!(f, "[]{e}"),
            Type::Array(n, e) => write!(f, "[{n}]{e}"),
            Type::Map(k, v) => write!(f, "map[{k}]{v}"),
            Type::Struct { name, .. } if name.is_empty() => f.write_str("struct"),
            Type::Struct { name, .. } => write!(f, "struct {name}"),
        }
    }
}

impl Value {
    /// Short name of the value's kind for error messages ("uint", "struct", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint(_) => "uint",
            Value::Float(_) => "float",
            Value::Bytes(_) => "[]byte",
            Value::String(_) => "string",
            Value::Slice(_) => "slice",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Struct(_) => "struct",
        }
    }

    /// Whether Go leaves this value out when it is a struct field: zero numbers, false, empty
    /// strings, byte slices and slices. Maps, arrays and structs present in a field list are
    /// always sent (Go sends empty non-nil maps and never skips nested structs or arrays; a nil
    /// map or pointer is expressed by leaving the field out of `Value::Struct`).
    pub fn omitted_as_field(&self) -> bool {
        match self {
            Value::Bool(b) => !b,
            Value::Int(i) => *i == 0,
            Value::Uint(u) => *u == 0,
            // -0.0 == 0.0, and Go omits it too.
            Value::Float(x) => *x == 0.0,
            Value::Bytes(b) => b.is_empty(),
            Value::String(s) => s.is_empty(),
            Value::Slice(s) => s.is_empty(),
            Value::Array(_) | Value::Map(_) | Value::Struct(_) => false,
        }
    }

    /// A struct field by Go name (None if not a struct or the field is absent).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| &**n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_uint(&self) -> Option<u64> {
        match self {
            Value::Uint(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Elements of a slice or an array.
    pub fn as_elems(&self) -> Option<&[Value]> {
        match self {
            Value::Slice(v) | Value::Array(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[(Arc<str>, Value)]> {
        match self {
            Value::Struct(f) => Some(f),
            _ => None,
        }
    }
}
