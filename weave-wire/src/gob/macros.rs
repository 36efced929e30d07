//! `gob_struct!`: declares a Rust struct together with its Go type name and Go field names and
//! implements [`Gob`](crate::gob::Gob) for it.

/// Declares a struct that maps to a Go struct.
///
/// ```
/// weave_wire::gob_struct! {
///     /// mesh's `peerSummary` (topology gossip).
///     #[derive(Debug, Clone, Default, PartialEq)]
///     pub struct PeerSummary = "peerSummary" {
///         pub name_byte: Vec<u8> = "NameByte",
///         pub nick_name: String = "NickName",
///         pub uid: u64 = "UID",
///         pub version: u64 = "Version",
///         pub short_id: u16 = "ShortID",
///         pub has_short_id: bool = "HasShortID",
///     }
/// }
/// ```
///
/// The Go type name goes into the type definition (Go ignores it; Weave even sends some structs
/// with an empty name). Field order must be Go's declaration order: gob numbers fields by
/// position. Decoding matches fields by name, ignores unknown ones and zeroes absent ones.
#[macro_export]
macro_rules! gob_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident = $go_name:literal {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $fty:ty = $go_field:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $fty, )*
        }

        impl $crate::gob::Gob for $name {
            fn gob_type() -> $crate::gob::Type {
                // Built once: every decoded value is checked against it.
                static TYPE: ::std::sync::OnceLock<$crate::gob::Type> = ::std::sync::OnceLock::new();
                TYPE.get_or_init(|| {
                    $crate::gob::Type::structure(
                        $go_name,
                        &[ $( ($go_field, <$fty as $crate::gob::Gob>::gob_type()), )* ],
                    )
                })
                .clone()
            }

            #[allow(unused_mut)]
            fn to_gob(&self) -> $crate::gob::Value {
                let mut fields = ::std::vec::Vec::new();
                $( $crate::gob::typed::push_field(&mut fields, $go_field, &self.$field); )*
                $crate::gob::Value::Struct(fields)
            }

            #[allow(unused_variables)]
            fn from_gob(value: &$crate::gob::Value) -> $crate::gob::Result<Self> {
                let fields = $crate::gob::typed::struct_fields(value, $go_name)?;
                ::std::result::Result::Ok(Self {
                    $( $field: $crate::gob::typed::field(fields, $go_field)?, )*
                })
            }
        }
    };
}
