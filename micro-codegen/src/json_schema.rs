//! JSON Schema (2020-12) of proto messages, made from their descriptors at
//! build time, so a running service can describe its messages without a
//! reflection crate.
//!
//! The schemas follow the proto3 JSON mapping, which is what micro's JSON
//! codec (pbjson) reads and writes:
//!
//! * properties are named by the field's `json_name` (lowerCamelCase); only
//!   proto2 `required` fields are `required` (proto3 has none: an absent
//!   field is its default) and unknown properties are refused
//!   (`additionalProperties: false`), as pbjson does;
//! * 64-bit integers (`int64`, `uint64`, `sint64`, `fixed64`, `sfixed64`) are
//!   decimal strings (`{"type": "string", "pattern": ...}`): what pbjson
//!   writes, and what keeps them exact in JavaScript. pbjson also accepts a
//!   JSON number on input; the schema names the canonical form only;
//! * 32-bit integers are integers with their range; `bytes` is a base64
//!   string; enums are their value names (`enum: [...]`);
//! * repeated fields are arrays; maps are objects whose values follow
//!   `additionalProperties` (integer and bool keys are constrained by
//!   `propertyNames`);
//! * message fields are `$ref`s into `$defs`, keyed by the full proto name
//!   (`greeter.v1.Request`), so recursive messages work; the root message is
//!   inlined at the top level (MCP tools need `"type": "object"` there), and a
//!   reference back to it is `{"$ref": "#"}`;
//! * a `oneof` keeps its members as plain properties, which form generators
//!   and MCP clients handle well: each member carries `"x-oneof": "<name>"`
//!   and a sentence in its `description`, and `dependentSchemas` forbids the
//!   other members once one is present (pbjson refuses two members too);
//! * proto3 `optional` fields are plain properties (absent means unset);
//! * well-known types use their JSON forms: `Timestamp` an RFC 3339
//!   `date-time` string, `Duration` a string like `"1.5s"`, `Struct` an
//!   object, `Value` anything, `ListValue` an array, the wrappers
//!   (`Int32Value`, ...) the nullable primitive, `Empty` an empty object,
//!   `FieldMask` a string, `Any` an object with `@type`;
//! * comments from the `.proto` become `description`s: a message's on its
//!   definition, a field's on its property.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use serde_json::{Map, Value, json};

/// The JSON Schema dialect every generated schema declares.
pub(crate) const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

const SIGNED_64: &str = "^-?[0-9]+$";
const UNSIGNED_64: &str = "^[0-9]+$";

/// Every message and enum of a descriptor set, by full name (no leading
/// dot), with its comments.
pub(crate) struct SchemaIndex<'a> {
    messages: HashMap<String, Described<'a, DescriptorProto>>,
    enums: HashMap<String, Described<'a, EnumDescriptorProto>>,
}

/// A descriptor with its comment and the comments of its fields or values.
struct Described<'a, T> {
    proto: &'a T,
    comment: Option<String>,
    /// By field (or enum value) index.
    members: Vec<Option<String>>,
}

impl<'a, T> Described<'a, T> {
    /// `proto` at source `path`, with `members` fields or values (both are
    /// member 2 of their parent in `descriptor.proto`).
    fn new(proto: &'a T, path: &[i32], members: usize, comments: &Comments) -> Self {
        Self {
            proto,
            comment: comments.get(path),
            members: (0..members)
                .map(|i| comments.get(&child(path, 2, i)))
                .collect(),
        }
    }
}

impl<'a> SchemaIndex<'a> {
    /// Indexes `fds` (which should carry source info for the comments).
    pub(crate) fn new(fds: &'a FileDescriptorSet) -> Self {
        let mut index = Self {
            messages: HashMap::new(),
            enums: HashMap::new(),
        };
        for file in &fds.file {
            let comments = Comments::of(file);
            let prefix = file.package().to_owned();
            for (i, message) in file.message_type.iter().enumerate() {
                index.add_message(&prefix, message, vec![4, i as i32], &comments);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                index.add_enum(&prefix, e, vec![5, i as i32], &comments);
            }
        }
        index
    }

    fn add_message(
        &mut self,
        prefix: &str,
        message: &'a DescriptorProto,
        path: Vec<i32>,
        comments: &Comments,
    ) {
        let name = join(prefix, message.name());
        for (i, nested) in message.nested_type.iter().enumerate() {
            self.add_message(&name, nested, child(&path, 3, i), comments);
        }
        for (i, e) in message.enum_type.iter().enumerate() {
            self.add_enum(&name, e, child(&path, 4, i), comments);
        }
        let described = Described::new(message, &path, message.field.len(), comments);
        self.messages.insert(name, described);
    }

    fn add_enum(
        &mut self,
        prefix: &str,
        e: &'a EnumDescriptorProto,
        path: Vec<i32>,
        comments: &Comments,
    ) {
        let described = Described::new(e, &path, e.value.len(), comments);
        self.enums.insert(join(prefix, e.name()), described);
    }

    /// The schema of message `name` (full name, no leading dot), with every
    /// message it uses in `$defs`; `None` for an unknown message.
    pub(crate) fn schema(&self, name: &str) -> Option<Value> {
        let mut refs = BTreeSet::new();
        let mut root = self.message(name, name, &mut refs)?;
        let mut defs = Map::new();
        while let Some(next) = refs.iter().find(|r| !defs.contains_key(*r)).cloned() {
            let def = self
                .message(&next, name, &mut refs)
                .unwrap_or_else(any_object);
            defs.insert(next, def);
        }
        let object = root.as_object_mut().expect("a message schema is an object");
        object.insert("$schema".into(), DIALECT.into());
        if !defs.is_empty() {
            object.insert("$defs".into(), Value::Object(defs));
        }
        Some(root)
    }

    /// A message's own schema; the messages it refers to are added to `refs`.
    fn message(&self, name: &str, root: &str, refs: &mut BTreeSet<String>) -> Option<Value> {
        let described = self.messages.get(name)?;
        let message = described.proto;
        let mut properties = Map::new();
        let mut dependent = Map::new();
        let mut required = Vec::new();
        for (i, field) in message.field.iter().enumerate() {
            if field.label() == Label::Required {
                required.push(Value::String(json_name(field)));
            }
            let mut schema = self.field(field, root, refs);
            let mut description = described.members[i].clone();
            if let Some(oneof) = real_oneof(message, field) {
                let members: Vec<_> = message
                    .field
                    .iter()
                    .filter(|f| real_oneof(message, f) == Some(oneof))
                    .map(json_name)
                    .collect();
                let others: Map<_, _> = members
                    .iter()
                    .filter(|m| **m != json_name(field))
                    .map(|m| (m.clone(), Value::Bool(false)))
                    .collect();
                dependent.insert(json_name(field), json!({ "properties": others }));
                let sentence = format!(
                    "Member of oneof `{oneof}`: set at most one of {}.",
                    members
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                description = Some(match description {
                    Some(text) => format!("{text}\n\n{sentence}"),
                    None => sentence,
                });
                insert(&mut schema, "x-oneof", oneof.into());
            }
            if let Some(text) = description {
                insert(&mut schema, "description", text.into());
            }
            properties.insert(json_name(field), schema);
        }
        let mut schema = json!({
            "title": name,
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if let Some(text) = &described.comment {
            insert(&mut schema, "description", text.as_str().into());
        }
        if !required.is_empty() {
            insert(&mut schema, "required", Value::Array(required));
        }
        if !dependent.is_empty() {
            insert(&mut schema, "dependentSchemas", Value::Object(dependent));
        }
        Some(schema)
    }

    /// A field's schema: its element's, as an array or a map when it is one.
    fn field(
        &self,
        field: &FieldDescriptorProto,
        root: &str,
        refs: &mut BTreeSet<String>,
    ) -> Value {
        if field.label() == Label::Repeated {
            if let Some((key, value)) = self.map_entry(field) {
                let mut schema = json!({
                    "type": "object",
                    "additionalProperties": self.single(value, root, refs),
                });
                if let Some(names) = map_key_names(key.r#type()) {
                    insert(&mut schema, "propertyNames", names);
                }
                return schema;
            }
            return json!({ "type": "array", "items": self.single(field, root, refs) });
        }
        self.single(field, root, refs)
    }

    /// The key and value fields when `field` is a map.
    fn map_entry(
        &self,
        field: &FieldDescriptorProto,
    ) -> Option<(&'a FieldDescriptorProto, &'a FieldDescriptorProto)> {
        if field.r#type() != Type::Message {
            return None;
        }
        let entry = self.messages.get(type_name(field))?.proto;
        if !entry.options.as_ref().is_some_and(|o| o.map_entry()) {
            return None;
        }
        let key = entry.field.iter().find(|f| f.number() == 1)?;
        let value = entry.field.iter().find(|f| f.number() == 2)?;
        Some((key, value))
    }

    /// The schema of one value of `field` (ignoring `repeated`).
    fn single(
        &self,
        field: &FieldDescriptorProto,
        root: &str,
        refs: &mut BTreeSet<String>,
    ) -> Value {
        match field.r#type() {
            Type::Message | Type::Group => {
                let name = type_name(field);
                if let Some(known) = well_known(name) {
                    known
                } else if name == root {
                    json!({ "$ref": "#" })
                } else {
                    refs.insert(name.to_owned());
                    json!({ "$ref": format!("#/$defs/{name}") })
                }
            }
            Type::Enum => self.enumeration(type_name(field)),
            scalar => scalar_schema(scalar),
        }
    }

    fn enumeration(&self, name: &str) -> Value {
        if name == "google.protobuf.NullValue" {
            return json!({ "type": "null" });
        }
        let Some(described) = self.enums.get(name) else {
            return json!({ "type": ["string", "integer"] });
        };
        let names: Vec<&str> = described.proto.value.iter().map(|v| v.name()).collect();
        let mut schema = json!({ "title": name, "type": "string", "enum": names });
        let mut lines: Vec<String> = described.comment.iter().cloned().collect();
        for (value, comment) in described.proto.value.iter().zip(&described.members) {
            if let Some(comment) = comment {
                lines.push(format!(
                    "- `{}`: {}",
                    value.name(),
                    comment.replace('\n', " ")
                ));
            }
        }
        if !lines.is_empty() {
            insert(&mut schema, "description", lines.join("\n").into());
        }
        schema
    }
}

/// The schema meaning "any JSON object": what a message without a known
/// schema is.
pub(crate) fn any_object() -> Value {
    json!({ "type": "object" })
}

fn scalar_schema(scalar: Type) -> Value {
    match scalar {
        Type::Double | Type::Float => json!({ "type": "number" }),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX })
        }
        Type::Uint32 | Type::Fixed32 => {
            json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })
        }
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({ "type": "string", "pattern": SIGNED_64 })
        }
        Type::Uint64 | Type::Fixed64 => json!({ "type": "string", "pattern": UNSIGNED_64 }),
        Type::Bool => json!({ "type": "boolean" }),
        Type::String => json!({ "type": "string" }),
        Type::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Type::Message | Type::Group | Type::Enum => any_object(),
    }
}

/// `propertyNames` of a map with keys of `key` type (JSON keys are strings).
fn map_key_names(key: Type) -> Option<Value> {
    match key {
        Type::Int32
        | Type::Sint32
        | Type::Sfixed32
        | Type::Int64
        | Type::Sint64
        | Type::Sfixed64 => Some(json!({ "pattern": SIGNED_64 })),
        Type::Uint32 | Type::Fixed32 | Type::Uint64 | Type::Fixed64 => {
            Some(json!({ "pattern": UNSIGNED_64 }))
        }
        Type::Bool => Some(json!({ "enum": ["true", "false"] })),
        _ => None,
    }
}

/// The JSON form of a well-known type, `None` for other messages.
fn well_known(name: &str) -> Option<Value> {
    let nullable = |ty: &str| json!({ "type": [ty, "null"] });
    let schema = match name.strip_prefix("google.protobuf.")? {
        "Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "Duration" => json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$" }),
        "Struct" => json!({ "type": "object" }),
        "Value" => json!({}),
        "ListValue" => json!({ "type": "array" }),
        "Empty" => json!({ "type": "object", "additionalProperties": false }),
        "FieldMask" => json!({ "type": "string" }),
        "Any" => json!({
            "type": "object",
            "properties": { "@type": { "type": "string" } },
            "required": ["@type"],
        }),
        "DoubleValue" | "FloatValue" => nullable("number"),
        "Int32Value" | "UInt32Value" => nullable("integer"),
        "Int64Value" => json!({ "type": ["string", "null"], "pattern": SIGNED_64 }),
        "UInt64Value" => json!({ "type": ["string", "null"], "pattern": UNSIGNED_64 }),
        "BoolValue" => nullable("boolean"),
        "StringValue" => nullable("string"),
        "BytesValue" => json!({ "type": ["string", "null"], "contentEncoding": "base64" }),
        _ => return None,
    };
    Some(schema)
}

/// The oneof `field` belongs to, unless it is the synthetic one of a proto3
/// `optional` field.
fn real_oneof<'m>(message: &'m DescriptorProto, field: &FieldDescriptorProto) -> Option<&'m str> {
    if field.proto3_optional() {
        return None;
    }
    let index = usize::try_from(field.oneof_index?).ok()?;
    message.oneof_decl.get(index).map(|o| o.name())
}

/// The property name: the descriptor's `json_name`, else lowerCamelCase (as pbjson).
fn json_name(field: &FieldDescriptorProto) -> String {
    match &field.json_name {
        Some(name) => name.clone(),
        None => heck::ToLowerCamelCase::to_lower_camel_case(field.name()),
    }
}

fn type_name(field: &FieldDescriptorProto) -> &str {
    field.type_name().trim_start_matches('.')
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn child(path: &[i32], kind: i32, index: usize) -> Vec<i32> {
    let mut path = path.to_vec();
    path.extend([kind, index as i32]);
    path
}

fn insert(schema: &mut Value, key: &str, value: Value) {
    if let Some(object) = schema.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

/// The comments of one file, by source path.
struct Comments(BTreeMap<Vec<i32>, String>);

impl Comments {
    fn of(file: &prost_types::FileDescriptorProto) -> Self {
        let locations = file.source_code_info.iter().flat_map(|i| &i.location);
        Self(
            locations
                .filter_map(|l| {
                    let text = l
                        .leading_comments
                        .as_deref()
                        .or(l.trailing_comments.as_deref())?;
                    let text = clean(text);
                    (!text.is_empty()).then(|| (l.path.clone(), text))
                })
                .collect(),
        )
    }

    fn get(&self, path: &[i32]) -> Option<String> {
        self.0.get(path).cloned()
    }
}

/// A comment's lines, trimmed.
fn clean(comment: &str) -> String {
    comment
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests;
