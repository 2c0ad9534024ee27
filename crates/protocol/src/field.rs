//! Three-state JSON fields for reconfiguration: absent, `null`, or a value.

use lite_domain::config::Patch;
use serde::{Deserialize, Deserializer};

/// Use with `#[serde(default)]`: a missing field stays [`Field::Absent`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Field::Null, Field::Value))
    }
}

impl<T> Field<T> {
    /// Converts the value, keeping absence and null.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Patch<U>, E> {
        Ok(match self {
            Field::Absent => Patch::Keep,
            Field::Null => Patch::Clear,
            Field::Value(v) => Patch::Set(f(v)?),
        })
    }
}
