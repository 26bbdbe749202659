//! The JSON Schemas of a tool, made from its endpoint's request and
//! response schemas: as they are for one message, or wrapped in an object
//! for a stream of them (`{"messages": [...]}` in, `{"items": [...],
//! "truncated": bool}` out).

use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};

/// A schema text as a JSON object, if it is one.
pub(crate) fn parse_object(text: &str) -> Option<JsonObject> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// A request's schema, with `"type": "object"` at the top level as MCP
/// requires (any object when the service gave none usable).
pub(crate) fn input_schema(text: &str) -> JsonObject {
    match parse_object(text) {
        Some(object) if object.get("type") == Some(&json!("object")) => object,
        Some(object) if !object.contains_key("type") && !object.contains_key("$ref") => {
            let mut object = object;
            object.insert("type".into(), json!("object"));
            object
        }
        _ => any_object(),
    }
}

/// The input of a client or bidi streaming tool: `{"messages": [request]}`,
/// the request messages sent in order before the request stream ends.
pub(crate) fn messages_schema(request: &str) -> JsonObject {
    let request = input_schema(request);
    wrapped(request, |request| {
        json!({
            "type": "object",
            "properties": {
                "messages": {
                    "type": "array",
                    "items": request,
                    "description": "The request messages, sent in order; then the request stream ends."
                }
            },
            "required": ["messages"],
            "additionalProperties": false
        })
    })
}

/// The result of a server or bidi streaming tool: `{"items": [response],
/// "truncated": bool}`.
pub(crate) fn items_schema(response: JsonObject) -> JsonObject {
    wrapped(response, |response| {
        json!({
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": response},
                "truncated": {
                    "type": "boolean",
                    "description": "The stream had more messages than the tool collects."
                }
            },
            "required": ["items", "truncated"]
        })
    })
}

/// The schema of any JSON object.
fn any_object() -> JsonObject {
    let mut object = Map::new();
    object.insert("type".into(), json!("object"));
    object
}

/// `schema` embedded in the object `wrapper` makes of it. `$schema` and
/// `$defs` move to the wrapper's top level; a schema that refers to its own
/// root (`{"$ref": "#"}`, a recursive message) moves into `$defs` under its
/// title, and those references follow it there.
fn wrapped(mut schema: JsonObject, wrapper: impl FnOnce(Value) -> Value) -> JsonObject {
    let dialect = schema.remove("$schema");
    let mut defs = match schema.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let mut embedded = Value::Object(schema);
    let recursive = refers_to_root(&embedded) || defs.values().any(refers_to_root);
    if recursive {
        let mut key = embedded
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("root")
            .to_owned();
        while defs.contains_key(&key) {
            key.push('_');
        }
        let target = format!("#/$defs/{}", key.replace('~', "~0").replace('/', "~1"));
        retarget(&mut embedded, &target);
        defs.values_mut().for_each(|def| retarget(def, &target));
        defs.insert(key, embedded);
        embedded = json!({ "$ref": target });
    }
    let mut out = Map::new();
    if let Some(dialect) = dialect {
        out.insert("$schema".into(), dialect);
    }
    if let Value::Object(wrapper) = wrapper(embedded) {
        out.extend(wrapper);
    }
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs));
    }
    out
}

/// Whether `schema` has a `{"$ref": "#"}` anywhere.
fn refers_to_root(schema: &Value) -> bool {
    match schema {
        Value::Object(object) => object
            .iter()
            .any(|(k, v)| (k == "$ref" && v == "#") || refers_to_root(v)),
        Value::Array(items) => items.iter().any(refers_to_root),
        _ => false,
    }
}

/// Points every `{"$ref": "#"}` in `schema` at `target`.
fn retarget(schema: &mut Value, target: &str) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                if key == "$ref" && value == "#" {
                    *value = Value::String(target.to_owned());
                } else {
                    retarget(value, target);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| retarget(v, target)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn input_schema_is_an_object() {
        assert_eq!(input_schema("not json"), object(json!({"type": "object"})));
        assert_eq!(input_schema("{}"), object(json!({"type": "object"})));
        let kept = json!({"type":"object","properties":{"name":{"type":"string"}}});
        assert_eq!(input_schema(&kept.to_string()), object(kept));
    }

    #[test]
    fn items_wrap_the_response_and_hoist_defs() {
        let response = object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/x.A"}},
            "$defs": {"x.A": {"type": "object"}}
        }));
        let out = Value::Object(items_schema(response));
        assert_eq!(
            out["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(out["required"], json!(["items", "truncated"]));
        let item = &out["properties"]["items"]["items"];
        assert_eq!(item["properties"]["a"]["$ref"], "#/$defs/x.A");
        assert!(item.get("$defs").is_none() && item.get("$schema").is_none());
        assert_eq!(out["$defs"], json!({"x.A": {"type": "object"}}));
    }

    #[test]
    fn a_recursive_message_moves_into_defs() {
        let node = object(json!({
            "title": "t.Node",
            "type": "object",
            "properties": {
                "children": {"type": "array", "items": {"$ref": "#"}},
                "leaf": {"$ref": "#/$defs/t.Leaf"}
            },
            "$defs": {"t.Leaf": {"type": "object", "properties": {"up": {"$ref": "#"}}}}
        }));
        let out = Value::Object(messages_schema(&Value::Object(node).to_string()));
        assert_eq!(
            out["properties"]["messages"]["items"],
            json!({"$ref": "#/$defs/t.Node"})
        );
        assert_eq!(out["required"], json!(["messages"]));
        let defs = &out["$defs"];
        assert_eq!(
            defs["t.Node"]["properties"]["children"]["items"]["$ref"],
            "#/$defs/t.Node"
        );
        assert_eq!(defs["t.Leaf"]["properties"]["up"]["$ref"], "#/$defs/t.Node");
        assert!(!refers_to_root(&out));
    }

    #[test]
    fn messages_of_an_unknown_request_are_objects() {
        let out = Value::Object(messages_schema("no schema"));
        assert_eq!(
            out["properties"]["messages"],
            json!({"type": "array", "items": {"type": "object"},
                   "description": "The request messages, sent in order; then the request stream ends."})
        );
    }
}
