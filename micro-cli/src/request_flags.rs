//! The dynamic form's request from flags: `--name John --address.city Rome
//! --tags a --tags b` becomes `{"name":"John","address":{"city":"Rome"},
//! "tags":["a","b"]}`, each value typed by the request's JSON Schema.

use serde_json::{Map, Value};

use crate::failure::{Failure, Outcome};
use crate::schema::{resolve, type_name};
use micro_runtime::client::resolve::normalise;

/// One `--key value` (`None` for a bare `--flag`).
pub type Flag = (String, Option<String>);

/// Splits `--key value`, `--key=value` and bare `--flag` (followed by another
/// flag or nothing). `-m` is `--metadata`, `-h` is `--help`.
///
/// # Errors
///
/// 400 for a word that is not a flag where one is expected.
pub fn tokenize(words: &[String]) -> Outcome<Vec<Flag>> {
    let mut flags = Vec::new();
    let mut words = words.iter().peekable();
    while let Some(word) = words.next() {
        let key = match word.as_str() {
            "-m" => "metadata",
            "-h" => "help",
            _ => word.strip_prefix("--").ok_or_else(|| {
                Failure::usage(format!(
                    "expected a flag like --name, got {word:?} (values follow their flag)"
                ))
            })?,
        };
        if let Some((key, value)) = key.split_once('=') {
            flags.push((key.to_owned(), Some(value.to_owned())));
            continue;
        }
        let value = match words.peek() {
            Some(next) if !next.starts_with("--") && next.as_str() != "-m" => words.next().cloned(),
            _ => None,
        };
        flags.push((key.to_owned(), value));
    }
    Ok(flags)
}

/// The request `flags` describe, each value typed by `schema`.
///
/// # Errors
///
/// 400 naming the flag for an unknown field or a value of the wrong type.
pub fn build(schema: &Value, flags: &[Flag]) -> Outcome<Value> {
    let mut request = Map::new();
    for (key, value) in flags {
        set(schema, &mut request, key, value.as_deref())?;
    }
    Ok(Value::Object(request))
}

/// The names of a schema's top-level fields, as flags take them.
pub fn field_names(schema: &Value) -> Vec<String> {
    resolve(schema, schema)
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(root: &Value, request: &mut Map<String, Value>, key: &str, raw: Option<&str>) -> Outcome {
    let mut schema = resolve(root, root);
    let mut object = request;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (name, property) = property(root, schema, part).ok_or_else(|| {
            let known = schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.keys()
                        .map(|k| format!("--{}", with_prefix(&parts[..i], k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            Failure::bad_request(format!(
                "unknown field --{key}{}",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(" (fields here: {known})")
                }
            ))
        })?;
        let property = resolve(root, property);
        if i + 1 == parts.len() {
            let value = typed(root, property, raw, key)?;
            let is_list = property.get("type").and_then(Value::as_str) == Some("array");
            match object.get_mut(&name) {
                Some(Value::Array(list)) if is_list => {
                    if let Value::Array(more) = value {
                        list.extend(more);
                    }
                }
                _ => {
                    object.insert(name, value);
                }
            }
            return Ok(());
        }
        let slot = object
            .entry(name)
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(inner) = slot else {
            return Err(Failure::bad_request(format!(
                "--{key}: {} is not a message with fields",
                parts[..=i].join(".")
            )));
        };
        object = inner;
        schema = property;
    }
    Ok(())
}

fn with_prefix(prefix: &[&str], name: &str) -> String {
    let mut all: Vec<&str> = prefix.to_vec();
    all.push(name);
    all.join(".")
}

/// The property `wanted` names (its JSON name, or the same ignoring case,
/// `-` and `_`).
fn property<'a>(root: &'a Value, schema: &'a Value, wanted: &str) -> Option<(String, &'a Value)> {
    let properties = resolve(root, schema).get("properties")?.as_object()?;
    if let Some(exact) = properties.get(wanted) {
        return Some((wanted.to_owned(), exact));
    }
    let key = normalise(wanted);
    properties
        .iter()
        .find(|(name, _)| normalise(name) == key)
        .map(|(name, schema)| (name.clone(), schema))
}

/// `raw` as the JSON value `schema` wants.
fn typed(root: &Value, schema: &Value, raw: Option<&str>, key: &str) -> Outcome<Value> {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let wrong = |raw: &str| {
        Failure::bad_request(format!(
            "--{key}: expected {}, got {raw:?}",
            type_name(root, schema)
        ))
    };
    if types.contains(&"boolean") {
        return match raw {
            None | Some("true") => Ok(Value::Bool(true)),
            Some("false") => Ok(Value::Bool(false)),
            Some(other) => Err(wrong(other)),
        };
    }
    let raw = raw.ok_or_else(|| Failure::bad_request(format!("--{key} needs a value")))?;
    if types.contains(&"array") {
        let items = schema
            .get("items")
            .map_or(&Value::Null, |i| resolve(root, i));
        // A JSON list sets all items at once; otherwise one item per flag.
        if raw.trim_start().starts_with('[') {
            return serde_json::from_str(raw).map_err(|_| wrong(raw));
        }
        return Ok(Value::Array(vec![typed(root, items, Some(raw), key)?]));
    }
    if types.contains(&"integer") {
        return raw.parse::<i64>().map(Value::from).map_err(|_| wrong(raw));
    }
    if types.contains(&"number") {
        return raw.parse::<f64>().map(Value::from).map_err(|_| wrong(raw));
    }
    if types.contains(&"string") {
        return Ok(Value::String(raw.to_owned()));
    }
    if types.contains(&"object") || types.is_empty() {
        // A message given whole, as JSON; anything else as text.
        return Ok(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned())));
    }
    Err(wrong(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer"},
                "score": {"type": "number"},
                "vip": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "userId": {"type": "string", "pattern": "^-?[0-9]+$"},
                "address": {"$ref": "#/$defs/Address"}
            },
            "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}}
        })
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn flags_become_a_typed_request() {
        let flags = tokenize(&words(
            "--name John --age=42 --vip --tags a --tags b --address.city Rome --user_id 7 --score -1.5",
        ))
        .unwrap();
        assert_eq!(
            build(&schema(), &flags).unwrap(),
            json!({"name": "John", "age": 42, "vip": true, "tags": ["a", "b"],
                   "address": {"city": "Rome"}, "userId": "7", "score": -1.5})
        );
    }

    #[test]
    fn wrong_flags_are_named() {
        let err = build(&schema(), &tokenize(&words("--age old")).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad request (400): --age: expected integer, got \"old\""
        );
        let err = build(&schema(), &tokenize(&words("--nam x")).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field --nam (fields here: --address, --age")
        );
        let err = build(&schema(), &tokenize(&words("--address.town x")).unwrap()).unwrap_err();
        assert!(err.to_string().contains("--address.city"), "{err}");
        assert!(tokenize(&words("John")).is_err());
    }
}
