//! Type ids and type definitions as they travel on the wire.
//!
//! A definition message carries `-id` and then a `wireType` struct, itself gob-encoded with the
//! bootstrap types every gob peer knows (ids 16..23). We describe that bootstrap schema as an
//! ordinary [`Type`] so definitions are read and written by the same value codec as user data.

use std::fmt;
use std::sync::OnceLock;

use super::types::{Type, Value};

pub const ID_BOOL: i64 = 1;
pub const ID_INT: i64 = 2;
pub const ID_UINT: i64 = 3;
pub const ID_FLOAT: i64 = 4;
pub const ID_BYTES: i64 = 5;
pub const ID_STRING: i64 = 6;
pub const ID_COMPLEX: i64 = 7;
pub const ID_INTERFACE: i64 = 8;
/// Lowest id a stream may define (Go's `firstUserId`); lower ids are Go's own.
pub const FIRST_USER_ID: i64 = 64;
/// The first id a fresh Go process hands out to user types.
pub const DEFAULT_FIRST_ID: i64 = 65;
/// Go type ids are int32.
pub const MAX_ID: i64 = i32::MAX as i64;

/// A type definition as received: composite types refer to their parts by type id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireType {
    Array {
        name: String,
        elem: i64,
        len: i64,
    },
    Slice {
        name: String,
        elem: i64,
    },
    Struct {
        name: String,
        fields: Vec<(String, i64)>,
    },
    Map {
        name: String,
        key: i64,
        elem: i64,
    },
    /// GobEncoder, BinaryMarshaler or TextMarshaler: opaque bytes only the Go type understands.
    External {
        name: String,
        kind: &'static str,
    },
}

impl WireType {
    pub fn name(&self) -> &str {
        match self {
            WireType::Array { name, .. }
            | WireType::Slice { name, .. }
            | WireType::Struct { name, .. }
            | WireType::Map { name, .. }
            | WireType::External { name, .. } => name,
        }
    }
}

/// Name of a builtin id, or `#id` for a user type.
pub struct IdName(pub i64);

impl fmt::Display for IdName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ID_BOOL => f.write_str("bool"),
            ID_INT => f.write_str("int"),
            ID_UINT => f.write_str("uint"),
            ID_FLOAT => f.write_str("float"),
            ID_BYTES => f.write_str("[]byte"),
            ID_STRING => f.write_str("string"),
            ID_COMPLEX => f.write_str("complex"),
            ID_INTERFACE => f.write_str("interface"),
            id => write!(f, "#{id}"),
        }
    }
}

/// Compact notation: `struct "peerSummary"{NameByte:[]byte UID:uint}`, `[]#76`,
/// `map[uint]string "map[mesh.PeerName]string"`, `[6]uint`.
impl fmt::Display for WireType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireType::Array { elem, len, .. } => write!(f, "[{len}]{}", IdName(*elem)),
            WireType::Slice { elem, .. } => write!(f, "[]{}", IdName(*elem)),
            WireType::Struct { name, fields } => {
                write!(f, "struct {name:?}{{")?;
                for (i, (n, id)) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{n}:{}", IdName(*id))?;
                }
                f.write_str("}")
            }
            WireType::Map { name, key, elem, .. } => {
                write!(f, "map[{}]{}", IdName(*key), IdName(*elem))?;
                if !name.is_empty() {
                    write!(f, " {name:?}")?;
                }
                Ok(())
            }
            WireType::External { name, kind } => write!(f, "{kind} {name:?}"),
        }
    }
}

/// Go's `wireType` struct (id 16) and the types it contains, as a `Type`.
pub(crate) fn wire_type_schema() -> &'static Type {
    static SCHEMA: OnceLock<Type> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let common = Type::structure("CommonType", &[("Name", Type::String), ("Id", Type::Int)]);
        let field = Type::structure("fieldType", &[("Name", Type::String), ("Id", Type::Int)]);
        let array = Type::structure(
            "arrayType",
            &[("CommonType", common.clone()), ("Elem", Type::Int), ("Len", Type::Int)],
        );
        let slice = Type::structure("sliceType", &[("CommonType", common.clone()), ("Elem", Type::Int)]);
        let strukt =
            Type::structure("structType", &[("CommonType", common.clone()), ("Field", Type::slice(field))]);
        let map = Type::structure(
            "mapType",
            &[("CommonType", common.clone()), ("Key", Type::Int), ("Elem", Type::Int)],
        );
        let external = Type::structure("gobEncoderType", &[("CommonType", common)]);
        Type::structure(
            "wireType",
            &[
                ("ArrayT", array),
                ("SliceT", slice),
                ("StructT", strukt),
                ("MapT", map),
                ("GobEncoderT", external.clone()),
                ("BinaryMarshalerT", external.clone()),
                ("TextMarshalerT", external),
            ],
        )
    })
}

/// Interprets a decoded `wireType` value. The error is a reason, positioned by the caller.
pub(crate) fn wire_type_from_value(v: &Value) -> Result<WireType, String> {
    let fields = v.as_struct().unwrap_or_default();
    let [(kind, body)] = fields else {
        return Err(format!("a type definition must set exactly one kind, found {}", fields.len()));
    };
    let name = body
        .field("CommonType")
        .and_then(|c| c.field("Name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let int = |field: &str| body.field(field).and_then(Value::as_int).unwrap_or(0);
    Ok(match &**kind {
        "ArrayT" => WireType::Array { name, elem: int("Elem"), len: int("Len") },
        "SliceT" => WireType::Slice { name, elem: int("Elem") },
        "StructT" => {
            let fields = body
                .field("Field")
                .and_then(Value::as_elems)
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    let n = f.field("Name").and_then(Value::as_str).unwrap_or_default();
                    let id = f.field("Id").and_then(Value::as_int).unwrap_or(0);
                    (n.to_string(), id)
                })
                .collect();
            WireType::Struct { name, fields }
        }
        "MapT" => WireType::Map { name, key: int("Key"), elem: int("Elem") },
        "GobEncoderT" => WireType::External { name, kind: "GobEncoder" },
        "BinaryMarshalerT" => WireType::External { name, kind: "BinaryMarshaler" },
        _ => WireType::External { name, kind: "TextMarshaler" },
    })
}

/// Builds the `wireType` value that defines type `id`. Zero fields are dropped by the encoder.
pub(crate) fn wire_type_to_value(id: i64, wt: &WireType) -> Value {
    let common = |name: &str| {
        (
            "CommonType".into(),
            Value::Struct(vec![
                ("Name".into(), Value::String(name.to_string())),
                ("Id".into(), Value::Int(id)),
            ]),
        )
    };
    let int = |name: &str, x: i64| (std::sync::Arc::<str>::from(name), Value::Int(x));
    let (kind, body) = match wt {
        WireType::Array { name, elem, len } => {
            ("ArrayT", vec![common(name), int("Elem", *elem), int("Len", *len)])
        }
        WireType::Slice { name, elem } => ("SliceT", vec![common(name), int("Elem", *elem)]),
        WireType::Struct { name, fields } => {
            let list = fields
                .iter()
                .map(|(n, fid)| {
                    Value::Struct(vec![("Name".into(), Value::String(n.clone())), int("Id", *fid)])
                })
                .collect();
            ("StructT", vec![common(name), ("Field".into(), Value::Slice(list))])
        }
        WireType::Map { name, key, elem } => {
            ("MapT", vec![common(name), int("Key", *key), int("Elem", *elem)])
        }
        WireType::External { name, kind } => {
            let field = match *kind {
                "GobEncoder" => "GobEncoderT",
                "BinaryMarshaler" => "BinaryMarshalerT",
                _ => "TextMarshalerT",
            };
            (field, vec![common(name)])
        }
    };
    Value::Struct(vec![(kind.into(), Value::Struct(body))])
}
