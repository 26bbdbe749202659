//! The request a call sends: the JSON body as it came, or a JSON object
//! built from the query string of a GET.

use bytes::Bytes;
use micro_runtime::Error;
use serde_json::{Map, Value};

/// `body` checked to be one JSON object; an empty body is `{}`.
///
/// # Errors
///
/// 400 saying where the JSON breaks, or that it is not an object.
pub(crate) fn from_body(body: Bytes) -> Result<Bytes, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&body)
        .map_err(|e| Error::bad_request(format!("the request body is not valid JSON: {e}")))?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::bad_request(
            "the request body must be a JSON object ({...})",
        ));
    }
    Ok(body)
}

/// A JSON object from a query string: `name=John` is `{"name":"John"}`,
/// dotted keys nest (`a.b=1` is `{"a":{"b":"1"}}`), a repeated key makes a
/// list. Values are strings unless `schema` (the request's JSON Schema)
/// says a field is a number, a boolean or a list.
///
/// # Errors
///
/// 400 when a key is used both as a value and as an object.
pub(crate) fn from_query(query: &str, schema: Option<&Value>) -> Result<Value, Error> {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        insert(&mut root, &key, Value::String(value.into_owned()))?;
    }
    let mut value = Value::Object(root);
    if let Some(schema) = schema {
        coerce(&mut value, schema, schema, 0);
    }
    Ok(value)
}

fn insert(root: &mut Map<String, Value>, key: &str, value: Value) -> Result<(), Error> {
    let conflict =
        || Error::bad_request(format!("query key {key:?} is both a value and an object"));
    let mut parts = key.split('.').peekable();
    let mut object = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            match object.get_mut(part) {
                None => {
                    object.insert(part.to_owned(), value);
                }
                Some(Value::Array(list)) => list.push(value),
                Some(Value::Object(_)) => return Err(conflict()),
                Some(single) => {
                    let first = single.take();
                    *single = Value::Array(vec![first, value]);
                }
            }
            return Ok(());
        }
        let next = object
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        object = next.as_object_mut().ok_or_else(conflict)?;
    }
    Ok(())
}

/// How deep nested messages are followed (recursive messages stop).
const MAX_DEPTH: usize = 32;

/// Converts the strings in `value` to what `schema` says each field is.
fn coerce(value: &mut Value, root: &Value, schema: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve(root, schema);
    match (kind(schema), &mut *value) {
        (Some("array"), _) => {
            if !value.is_array() {
                *value = Value::Array(vec![value.take()]);
            }
            if let (Some(items), Value::Array(list)) = (schema.get("items"), value) {
                for item in list {
                    coerce(item, root, items, depth + 1);
                }
            }
        }
        (Some("object"), Value::Object(fields)) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|s| s.is_object());
            for (name, field) in fields {
                if let Some(field_schema) = properties.and_then(|p| p.get(name)).or(extra) {
                    coerce(field, root, field_schema, depth + 1);
                }
            }
        }
        (Some("integer"), Value::String(text)) => {
            if let Ok(n) = text.parse::<i64>() {
                *value = n.into();
            } else if let Ok(n) = text.parse::<u64>() {
                *value = n.into();
            }
        }
        (Some("number"), Value::String(text)) => {
            if let Some(n) = text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                *value = Value::Number(n);
            }
        }
        (Some("boolean"), Value::String(text)) => match text.as_str() {
            "true" | "1" => *value = Value::Bool(true),
            "false" | "0" => *value = Value::Bool(false),
            _ => {}
        },
        _ => {}
    }
}

/// The first type a schema allows other than `null`.
fn kind(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(one) => Some(one),
        Value::Array(many) => many.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// `schema` with a local `$ref` (`#`, `#/$defs/NAME`) followed.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some("#") => root,
        Some(target) => target
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies() {
        assert_eq!(&from_body(Bytes::new()).unwrap()[..], b"{}");
        assert_eq!(
            &from_body(Bytes::from(" {\"a\":1}")).unwrap()[..],
            b" {\"a\":1}"
        );
        let err = from_body(Bytes::from("{\"name\": }")).unwrap_err();
        assert!(err.is_bad_request());
        assert!(err.detail().contains("line 1 column 10"), "{err}");
        assert!(
            from_body(Bytes::from("[1]"))
                .unwrap_err()
                .detail()
                .contains("object")
        );
    }

    #[test]
    fn queries_nest_and_repeat() {
        let value = from_query("name=John&a.b=1&a.c.d=x%20y&tag=1&tag=2", None).unwrap();
        assert_eq!(
            value,
            json!({"name": "John", "a": {"b": "1", "c": {"d": "x y"}}, "tag": ["1", "2"]})
        );
        assert!(from_query("a=1&a.b=2", None).is_err());
        assert!(from_query("a.b=2&a=1", None).is_err());
        assert_eq!(from_query("", None).unwrap(), json!({}));
    }

    #[test]
    fn queries_follow_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "ratio": {"type": ["number", "null"]},
                "on": {"type": "boolean"},
                "ids": {"type": "array", "items": {"type": "integer"}},
                "big": {"type": "string", "pattern": "^-?[0-9]+$"},
                "child": {"$ref": "#/$defs/Child"},
                "me": {"$ref": "#"}
            },
            "$defs": {"Child": {"type": "object", "properties": {"n": {"type": "integer"}}}}
        });
        let value = from_query(
            "count=3&ratio=0.5&on=true&ids=7&big=9&child.n=4&me.count=5&other=1",
            Some(&schema),
        )
        .unwrap();
        assert_eq!(
            value,
            json!({
                "count": 3, "ratio": 0.5, "on": true, "ids": [7], "big": "9",
                "child": {"n": 4}, "me": {"count": 5}, "other": "1"
            })
        );
        let value = from_query("count=many", Some(&schema)).unwrap();
        assert_eq!(value, json!({"count": "many"}));
    }
}
