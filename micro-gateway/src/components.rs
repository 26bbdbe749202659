//! JSON Schemas moved into an OpenAPI document's `components/schemas`:
//! each schema's `$defs` become components of their own and every local
//! `$ref` (`#`, `#/$defs/NAME`) is rewritten to point at them, so the
//! references resolve inside the OpenAPI document.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Where components live in an OpenAPI document.
const PREFIX: &str = "#/components/schemas/";

/// Keywords whose values are data, not schemas (a `$ref` there stays).
const DATA: &[&str] = &["enum", "const", "default", "examples", "example"];

/// The `components/schemas` of a document being built.
#[derive(Debug, Default)]
pub(crate) struct Components {
    schemas: BTreeMap<String, Value>,
}

impl Components {
    /// Adds the JSON Schema document `schema` as component `name` (and its
    /// `$defs` as components of their own) and returns a `$ref` to it.
    /// A name already taken by a different schema gets a suffix (`_2`).
    pub(crate) fn add(&mut self, name: &str, mut schema: Value) -> Value {
        let defs = match schema.as_object_mut() {
            Some(object) => {
                object.remove("$schema");
                object.remove("$id");
                match object.remove("$defs") {
                    Some(Value::Object(defs)) => defs,
                    _ => Map::new(),
                }
            }
            None => Map::new(),
        };
        // Distinct keys within this schema: the root's, then each def's.
        let mut base = vec![key(name)];
        for def in defs.keys() {
            let mut k = key(def);
            while base.contains(&k) {
                k.push_str("_def");
            }
            base.push(k);
        }
        let mut suffix = 1;
        loop {
            let tagged: Vec<String> = base
                .iter()
                .map(|k| {
                    if suffix == 1 {
                        k.clone()
                    } else {
                        format!("{k}_{suffix}")
                    }
                })
                .collect();
            let root_key = &tagged[0];
            let names: BTreeMap<&str, String> = defs
                .keys()
                .map(String::as_str)
                .zip(tagged[1..].iter().cloned())
                .collect();
            let mut out = vec![(root_key.clone(), rewrite(&schema, root_key, &names))];
            for (def, value) in &defs {
                out.push((
                    names[def.as_str()].clone(),
                    rewrite(value, root_key, &names),
                ));
            }
            let clash = out
                .iter()
                .any(|(k, v)| self.schemas.get(k).is_some_and(|have| have != v));
            if !clash {
                let root = reference(root_key);
                self.schemas.extend(out);
                return root;
            }
            suffix += 1;
        }
    }

    /// Adds a schema that has no `$defs` and no local `$ref`s as is.
    pub(crate) fn insert(&mut self, name: &str, schema: Value) -> Value {
        self.schemas.insert(key(name), schema);
        reference(&key(name))
    }

    /// The `components/schemas` object.
    pub(crate) fn into_value(self) -> Value {
        Value::Object(self.schemas.into_iter().collect())
    }
}

/// `{"$ref": "#/components/schemas/<key>"}`.
pub(crate) fn reference(key: &str) -> Value {
    json!({ "$ref": format!("{PREFIX}{key}") })
}

/// A component key OpenAPI accepts (`^[a-zA-Z0-9.\-_]+$`).
fn key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() { "_".to_owned() } else { key }
}

/// `schema` with local refs pointing into the components.
fn rewrite(schema: &Value, root: &str, defs: &BTreeMap<&str, String>) -> Value {
    match schema {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(target)) => {
                            Value::String(retarget(target, root, defs))
                        }
                        (data, _) if DATA.contains(&data) => v.clone(),
                        _ => rewrite(v, root, defs),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| rewrite(v, root, defs)).collect()),
        other => other.clone(),
    }
}

/// One `$ref` target moved: `#` and `#/...` into the root's component,
/// `#/$defs/NAME/...` into NAME's; other targets are kept.
fn retarget(target: &str, root: &str, defs: &BTreeMap<&str, String>) -> String {
    let Some(pointer) = target.strip_prefix('#') else {
        return target.to_owned();
    };
    if let Some(rest) = pointer.strip_prefix("/$defs/") {
        let (name, tail) = rest.split_once('/').map_or((rest, ""), |(n, t)| (n, t));
        let name = name.replace("~1", "/").replace("~0", "~");
        if let Some(key) = defs.get(name.as_str()) {
            let tail = if tail.is_empty() {
                String::new()
            } else {
                format!("/{tail}")
            };
            return format!("{PREFIX}{key}{tail}");
        }
        return target.to_owned();
    }
    format!("{PREFIX}{root}{pointer}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defs_are_hoisted_and_refs_rewritten() {
        let mut components = Components::default();
        let order = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "shop.v1.Order",
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/shop.v1.Item"}},
                "parent": {"$ref": "#"},
                "state": {"enum": [{"$ref": "#"}]}
            },
            "$defs": {"shop.v1.Item": {"type": "object", "properties": {"of": {"$ref": "#"}}}}
        });
        let r = components.add("shop.v1.Order", order.clone());
        assert_eq!(r, json!({"$ref": "#/components/schemas/shop.v1.Order"}));
        // The same schema again: one component.
        assert_eq!(components.add("shop.v1.Order", order), r);
        // A different schema under the same name: a suffix.
        let other = components.add("shop.v1.Order", json!({"type": "string"}));
        assert_eq!(
            other,
            json!({"$ref": "#/components/schemas/shop.v1.Order_2"})
        );
        let all = components.into_value();
        assert_eq!(
            all["shop.v1.Order"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/shop.v1.Item"
        );
        assert_eq!(
            all["shop.v1.Order"]["properties"]["parent"]["$ref"],
            "#/components/schemas/shop.v1.Order"
        );
        assert_eq!(
            all["shop.v1.Order"]["properties"]["state"]["enum"][0]["$ref"],
            "#"
        );
        assert_eq!(
            all["shop.v1.Item"]["properties"]["of"]["$ref"],
            "#/components/schemas/shop.v1.Order"
        );
        assert!(all["shop.v1.Order"].get("$defs").is_none());
        assert!(all["shop.v1.Order"].get("$schema").is_none());
        assert_eq!(all["shop.v1.Order_2"], json!({"type": "string"}));
    }

    #[test]
    fn keys_are_sanitised() {
        assert_eq!(key("a b/c"), "a_b_c");
        assert_eq!(key(""), "_");
    }
}
