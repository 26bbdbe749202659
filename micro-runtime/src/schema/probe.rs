//! Picks a type's JSON Schema at compile time, for code the `#[service]`
//! macro generates: a type deriving `schemars::JsonSchema` (with the
//! `schemars` feature) gives its schema, any other type "any JSON object".
//! No bound is needed on the type.
//!
//! The same autoref specialisation, and the same [`Probe`], as
//! [`crate::codec::probe`]: the macro writes `(&&Probe::<T>::new()).schema()`;
//! method resolution tries `&Probe` first (needs `JsonSchema`), then `Probe`
//! (anything).

use super::MessageSchema;
use crate::codec::probe::Probe;

/// The type's own schema (most specific; implemented with the `schemars`
/// feature).
pub trait ViaJsonSchema {
    /// The schema.
    fn schema(&self) -> MessageSchema;
}

#[cfg(feature = "schemars")]
impl<T: schemars::JsonSchema> ViaJsonSchema for &Probe<T> {
    fn schema(&self) -> MessageSchema {
        MessageSchema::Computed(schema_of::<T>)
    }
}

#[cfg(feature = "schemars")]
fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    schemars::schema_for!(T).to_value()
}

/// Any JSON object (least specific).
pub trait ViaAnything {
    /// The schema.
    fn schema(&self) -> MessageSchema;
}

impl<T> ViaAnything for Probe<T> {
    fn schema(&self) -> MessageSchema {
        MessageSchema::AnyObject
    }
}

#[cfg(test)]
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    struct Plain;

    #[test]
    fn a_type_without_a_schema_is_any_object() {
        let schema = (&&Probe::<Plain>::new()).schema();
        assert!(matches!(schema, MessageSchema::AnyObject));
    }

    #[cfg(feature = "schemars")]
    #[test]
    fn a_json_schema_type_gives_its_schema() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Sum {
            terms: Vec<i64>,
        }
        let schema = (&&Probe::<Sum>::new()).schema().to_value();
        assert_eq!(schema["$schema"], super::super::DIALECT);
        assert_eq!(schema["properties"]["terms"]["type"], "array");
    }
}
