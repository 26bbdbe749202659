//! JSON Schemas of message types, as a handler knows them: what
//! `Debug.Describe` reports so tools can show and build requests without the
//! `.proto` files or the Rust types.
//!
//! Proto-first services get theirs from `micro-codegen`, which writes each
//! package's schemas and descriptor set at build time; code-first services
//! get a type's `schemars::JsonSchema` (cargo feature `schemars`) or, failing
//! that, "any JSON object".

#[doc(hidden)]
pub mod probe;

use std::borrow::Cow;

use serde_json::{Value, json};

/// The JSON Schema dialect of every schema micro produces.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Where the JSON Schema of one message type comes from.
#[derive(Clone, Copy)]
pub enum MessageSchema {
    /// JSON text written at build time (micro-codegen's `JSON_SCHEMAS`).
    Text(&'static str),
    /// Computed when asked (a type deriving `schemars::JsonSchema`).
    Computed(fn() -> Value),
    /// Not known: any JSON object (tools still send raw JSON).
    AnyObject,
}

impl MessageSchema {
    /// The schema as JSON; a text that does not parse counts as unknown.
    pub fn to_value(&self) -> Value {
        match self {
            MessageSchema::Text(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| any_object())
            }
            MessageSchema::Computed(compute) => compute(),
            MessageSchema::AnyObject => any_object(),
        }
    }
}

impl std::fmt::Debug for MessageSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageSchema::Text(_) => f.write_str("MessageSchema::Text"),
            MessageSchema::Computed(_) => f.write_str("MessageSchema::Computed"),
            MessageSchema::AnyObject => f.write_str("MessageSchema::AnyObject"),
        }
    }
}

/// The schema of a message nothing is known about: any JSON object.
pub fn any_object() -> Value {
    json!({ "$schema": DIALECT, "type": "object" })
}

/// A proto package a handler serves messages of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoPackage {
    /// The package name, e.g. `greeter.v1`.
    pub name: &'static str,
    /// Its encoded `google.protobuf.FileDescriptorSet` (with its imports and
    /// comments).
    pub file_descriptor_set: &'static [u8],
}

/// What a handler knows about its messages: schemas by type name (as the
/// endpoint descriptors name the types) and the proto packages they come from.
#[derive(Clone, Debug, Default)]
pub struct MessageSchemas {
    types: Vec<(Cow<'static, str>, MessageSchema)>,
    packages: Vec<ProtoPackage>,
}

impl MessageSchemas {
    /// The schema of `type_name`, if known.
    pub fn get(&self, type_name: &str) -> Option<MessageSchema> {
        self.types
            .iter()
            .find(|(name, _)| name == type_name)
            .map(|(_, schema)| *schema)
    }

    /// The proto packages described.
    pub fn packages(&self) -> &[ProtoPackage] {
        &self.packages
    }

    /// Adds (or replaces) the schema of `type_name`.
    pub(crate) fn insert(&mut self, type_name: Cow<'static, str>, schema: MessageSchema) {
        match self.types.iter_mut().find(|(name, _)| *name == type_name) {
            Some(entry) => entry.1 = schema,
            None => self.types.push((type_name, schema)),
        }
    }

    /// Adds a proto package and the schemas of its messages.
    pub(crate) fn add_package(
        &mut self,
        package: ProtoPackage,
        schemas: &'static [(&'static str, &'static str)],
    ) {
        if !self.packages.contains(&package) {
            self.packages.push(package);
        }
        for (name, text) in schemas {
            self.insert(Cow::Borrowed(*name), MessageSchema::Text(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_by_type_name_and_unknown_ones() {
        let mut schemas = MessageSchemas::default();
        let package = ProtoPackage {
            name: "p.v1",
            file_descriptor_set: b"",
        };
        schemas.add_package(package, &[("p.v1.M", r#"{"type":"object","title":"M"}"#)]);
        schemas.add_package(package, &[]);
        assert_eq!(schemas.packages(), [package]);
        assert_eq!(schemas.get("p.v1.M").unwrap().to_value()["title"], "M");
        assert!(schemas.get("p.v1.N").is_none());
        schemas.insert("p.v1.M".into(), MessageSchema::AnyObject);
        assert_eq!(schemas.get("p.v1.M").unwrap().to_value(), any_object());
        assert_eq!(MessageSchema::Text("not json").to_value(), any_object());
    }
}
