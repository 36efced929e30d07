//! Serde helpers that reproduce Go's `encoding/json` conventions where Weave's JSON relies on them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Go marshals a nil slice as `null`; Weave's report shows `null` for empty lists, so do we.
/// Deserialising accepts both `null` and `[]`.
pub mod nil_slice {
    use super::*;

    pub fn serialize<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        if v.is_empty() {
            s.serialize_none()
        } else {
            v.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
    }
}
