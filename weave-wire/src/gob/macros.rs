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

        impl $name {
            /// The Go type, built once: the direct decoding path keys its field plans by it.
            fn __gob_struct_type() -> &'static $crate::gob::Type {
                static TYPE: ::std::sync::OnceLock<$crate::gob::Type> = ::std::sync::OnceLock::new();
                TYPE.get_or_init(|| {
                    $crate::gob::Type::structure(
                        $go_name,
                        &[ $( ($go_field, <$fty as $crate::gob::Gob>::gob_type()), )* ],
                    )
                })
            }
        }

        impl $crate::gob::Gob for $name {
            fn gob_type() -> $crate::gob::Type {
                Self::__gob_struct_type().clone()
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

            fn wire_check(
                cx: &mut $crate::gob::direct::WireCx<'_, '_>,
                wire: &$crate::gob::Type,
            ) -> $crate::gob::Result<()> {
                cx.check_struct(wire, Self::__gob_struct_type())
            }

            /// Fields straight from the wire: a received field fills the local field its plan
            /// names (the first one sent wins, as in `from_gob`), others are skipped.
            #[allow(unused_mut)]
            fn wire_read(
                cx: &mut $crate::gob::direct::WireCx<'_, '_>,
                wire: &$crate::gob::Type,
            ) -> $crate::gob::Result<Self> {
                // Local field positions, as the plan numbers them.
                #[allow(non_camel_case_types, dead_code)]
                enum __GobField { $( $field, )* }
                $( let mut $field: ::std::option::Option<$fty> = ::std::option::Option::None; )*
                let mut reader = cx.struct_reader(wire, Self::__gob_struct_type())?;
                while let ::std::option::Option::Some(f) = reader.next_field(cx)? {
                    $(
                        if f.local == ::std::option::Option::Some(__GobField::$field as usize) && $field.is_none() {
                            $field = ::std::option::Option::Some(cx.read_field(&f)?);
                            continue;
                        }
                    )*
                    cx.skip_field(&f)?;
                }
                ::std::result::Result::Ok(Self {
                    $( $field: $crate::gob::direct::received_or_absent($field, $go_field)?, )*
                })
            }
        }
    };
}
