//! Reading the JSON Schemas services describe their messages with: the
//! fields as a tree for people, and checking a request before it is sent.

use serde_json::Value;

use crate::failure::{Failure, Outcome};

/// How deep nested messages are shown (recursive messages stop here).
const MAX_DEPTH: usize = 6;

/// One field of a message, for the tree `micro describe` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Field {
    /// How deep it is nested (0 for the message's own fields).
    pub depth: usize,
    /// Its JSON name.
    pub name: String,
    /// Its type, e.g. `string`, `int64`, `[]greeter.v1.Request`, `enum(A|B)`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its documentation.
    pub description: String,
}

/// The fields of the message `schema` describes, nested messages indented
/// under the field that holds them.
pub fn fields(schema: &Value) -> Vec<Field> {
    let mut out = Vec::new();
    walk(schema, schema, 0, &mut vec!["#".to_owned()], &mut out);
    out
}

fn walk(root: &Value, schema: &Value, depth: usize, seen: &mut Vec<String>, out: &mut Vec<Field>) {
    let Some(properties) = resolve(root, schema)
        .get("properties")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (name, declared) in properties {
        let property = resolve(root, declared);
        let description = declared
            .get("description")
            .or_else(|| property.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push(Field {
            depth,
            name: name.clone(),
            kind: type_name(root, declared),
            description: description.to_owned(),
        });
        // A message (or a list of messages) shows its own fields below,
        // once per branch (recursive messages stop).
        let nested = property.get("items").unwrap_or(declared);
        let Some(target) = reference(nested) else {
            continue;
        };
        let inner = resolve(root, nested);
        if inner.get("properties").is_some()
            && depth + 1 < MAX_DEPTH
            && !seen.iter().any(|s| s == target)
        {
            seen.push(target.to_owned());
            walk(root, inner, depth + 1, seen, out);
            seen.pop();
        }
    }
}

/// `schema` with a `$ref` into `root` followed (`#` and `#/$defs/NAME`).
pub fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match reference(schema) {
        Some("#") => root,
        Some(target) => target
            .strip_prefix("#/")
            .and_then(|path| root.pointer(&format!("/{path}")))
            .unwrap_or(schema),
        None => schema,
    }
}

fn reference(schema: &Value) -> Option<&str> {
    schema.get("$ref").and_then(Value::as_str)
}

/// A short type name for people.
pub fn type_name(root: &Value, schema: &Value) -> String {
    if let Some(target) = reference(schema) {
        return if target == "#" {
            root.get("title")
                .and_then(Value::as_str)
                .unwrap_or("(this message)")
                .to_owned()
        } else {
            target.rsplit('/').next().unwrap_or(target).to_owned()
        };
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        return format!("enum({})", names.join("|"));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let nullable = types.contains(&"null") && types.len() > 1;
    let main = types.iter().find(|t| **t != "null").copied();
    let name = match main {
        Some("array") => format!(
            "[]{}",
            schema
                .get("items")
                .map_or_else(|| "any".to_owned(), |items| type_name(root, items))
        ),
        Some("object") => match schema.get("additionalProperties") {
            Some(values @ Value::Object(_)) => format!("map<string, {}>", type_name(root, values)),
            _ => "object".to_owned(),
        },
        Some("string") => match (
            schema.get("pattern").and_then(Value::as_str),
            schema.get("format").and_then(Value::as_str),
            schema.get("contentEncoding"),
        ) {
            (Some("^-?[0-9]+$"), _, _) => "int64".to_owned(),
            (Some("^[0-9]+$"), _, _) => "uint64".to_owned(),
            (_, Some(format), _) => format!("string({format})"),
            (_, _, Some(_)) => "bytes(base64)".to_owned(),
            _ => "string".to_owned(),
        },
        Some(other) => other.to_owned(),
        None => "any".to_owned(),
    };
    if nullable { format!("{name}?") } else { name }
}

/// Checks `request` against `schema` before anything is sent.
///
/// # Errors
///
/// 400 naming the first field that does not fit and what was expected.
pub fn validate(schema: &Value, request: &Value) -> Outcome {
    match problem(schema, request) {
        Some(problem) => Err(Failure::bad_request(problem)),
        None => Ok(()),
    }
}

/// Why `request` does not fit `schema` (the first field that does not and
/// what was expected), or `None` when it fits.
pub fn problem(schema: &Value, request: &Value) -> Option<String> {
    // A schema this checker cannot read: the service still checks.
    let validator = jsonschema::validator_for(schema).ok()?;
    let error = validator.iter_errors(request).next()?;
    let path = error.instance_path().to_string();
    let field = path.trim_start_matches('/').replace('/', ".");
    let place = if field.is_empty() {
        "the request".to_owned()
    } else {
        format!("field {field:?}")
    };
    let mut why = error.to_string();
    if let Some(expected) = expected_type(schema, &field)
        && !why.contains(&format!("\"{expected}\""))
    {
        why = format!("{why} (expected {expected})");
    }
    Some(format!("{place}: {why}"))
}

/// The type of the field at dotted `path`, as `type_name` writes it.
fn expected_type(root: &Value, path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let mut schema = root;
    for part in path.split('.') {
        let here = resolve(root, schema);
        schema = match here.get("properties").and_then(|p| p.get(part)) {
            Some(property) => property,
            None => here
                .get("items")
                .or_else(|| here.get("additionalProperties"))?,
        };
    }
    Some(type_name(root, resolve(root, schema)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "shop.v1.Order",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "id": {"type": "string", "pattern": "^-?[0-9]+$", "description": "The id."},
                "items": {"type": "array", "items": {"$ref": "#/$defs/shop.v1.Item"}},
                "parent": {"$ref": "#"},
                "state": {"type": "string", "enum": ["OPEN", "CLOSED"]}
            },
            "$defs": {
                "shop.v1.Item": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "sku": {"type": "string", "description": "Stock unit."},
                        "count": {"type": "integer", "minimum": 0, "maximum": 4294967295u64}
                    }
                }
            }
        })
    }

    #[test]
    fn fields_form_a_tree() {
        let fields = fields(&schema());
        let lines: Vec<String> = fields
            .iter()
            .map(|f| format!("{}{} {}", "  ".repeat(f.depth), f.name, f.kind))
            .collect();
        assert_eq!(
            lines,
            [
                "id int64",
                "items []shop.v1.Item",
                "  count integer",
                "  sku string",
                "parent shop.v1.Order",
                "state enum(OPEN|CLOSED)",
            ]
        );
        assert_eq!(fields[0].description, "The id.");
    }

    #[test]
    fn a_wrong_field_is_named_with_its_type() {
        let err = validate(&schema(), &json!({"items": [{"count": "two"}]})).unwrap_err();
        assert_eq!(err.code(), Some(400));
        let text = err.to_string();
        assert!(text.contains("field \"items.0.count\""), "{text}");
        assert!(
            text.contains("\"two\" is not of type \"integer\""),
            "{text}"
        );
        assert!(!text.contains("(expected"), "said once: {text}");
        let err = validate(&schema(), &json!({"nope": 1})).unwrap_err();
        assert!(err.to_string().contains("the request"), "{err}");
        assert!(validate(&schema(), &json!({"id": "12", "state": "OPEN"})).is_ok());
    }
}
