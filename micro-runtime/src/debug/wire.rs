//! JSON forms of `Debug.Describe` fields that protobuf carries as text or
//! bytes: a schema is JSON text in protobuf and a nested JSON value in JSON;
//! a descriptor set is bytes in protobuf and base64 in JSON.

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A `String` of JSON text, written and read as the JSON value itself.
pub(super) mod json_text {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        let value: Value = serde_json::from_str(text).map_err(S::Error::custom)?;
        value.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Value::deserialize(d)?.to_string())
    }
}

/// An `Option<String>` of JSON text, as [`json_text`].
pub(super) mod json_text_option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match text {
            Some(text) => json_text::serialize(text, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.map(|v| v.to_string()))
    }
}

/// Bytes as standard base64 (with padding).
pub(super) mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(D::Error::custom)
    }
}
