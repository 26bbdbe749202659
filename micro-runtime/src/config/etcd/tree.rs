//! etcd keys as a tree: `<root><path>/db/host` is the field `db.host` of
//! the configuration at `<path>`; a value is JSON when it parses as JSON,
//! else a string.

use serde_json::{Map, Value};

use crate::{Error, Result};

/// A path as given (`app/db`, `/app/db/`) checked and made canonical
/// (`app/db`; `""` for the root).
///
/// # Errors
///
/// 400 for an empty segment (`app//db`) or a control character.
pub(crate) fn normalize_path(path: &str) -> Result<String> {
    if path.chars().any(char::is_control) {
        return Err(bad_path(path, "it holds a control character"));
    }
    let trimmed = path.trim().trim_matches('/');
    if !trimmed.is_empty() && trimmed.split('/').any(|segment| segment.trim().is_empty()) {
        return Err(bad_path(path, "it has an empty segment"));
    }
    Ok(trimmed.to_owned())
}

fn bad_path(path: &str, why: &str) -> Error {
    Error::bad_request(format!("config key {path:?}: {why}")).with_id("micro.config")
}

/// A key prefix as given, made to start and end with `/`.
pub(crate) fn normalize_root(root: &str) -> String {
    let trimmed = root.trim().trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

/// The full key of `path` under `root`.
pub(crate) fn key(root: &str, path: &str) -> String {
    format!("{root}{path}")
}

/// Whether the full `key` is `base` itself or under it (`base/...`);
/// `base` is the full key of a path, `root` itself for the root.
pub(crate) fn within(base: &str, root: &str, key: &str) -> bool {
    if base == root {
        return key.starts_with(root);
    }
    key == base
        || key
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A stored value: JSON when it parses as JSON, else the text as a string.
pub(crate) fn parse_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The tree of `pairs` (relative paths, sorted, and their values): each
/// `/`-separated segment one level of objects. When a key has keys below
/// it (`db` and `db/host`), the keys below win.
pub(crate) fn build<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let mut root = Map::new();
    for (path, value) in pairs {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let Some((last, parents)) = segments.split_last() else {
            continue;
        };
        let mut node = &mut root;
        for segment in parents {
            let child = node
                .entry((*segment).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            node = child.as_object_mut().expect("made an object above");
        }
        match node.get(*last) {
            Some(existing) if existing.is_object() && !value.is_object() => {}
            _ => {
                node.insert((*last).to_owned(), value);
            }
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_checked_and_canonical() {
        assert_eq!(normalize_path("/app/db/").unwrap(), "app/db");
        assert_eq!(normalize_path("").unwrap(), "");
        assert_eq!(normalize_path("app//db").unwrap_err().code(), 400);
        assert_eq!(normalize_path("a/\n").unwrap_err().code(), 400);
        assert_eq!(normalize_root("micro/config"), "/micro/config/");
        assert_eq!(normalize_root(""), "/");
    }

    #[test]
    fn within_stops_at_segment_boundaries() {
        let root = "/c/";
        assert!(within("/c/app", root, "/c/app"));
        assert!(within("/c/app", root, "/c/app/db"));
        assert!(!within("/c/app", root, "/c/apple"));
        assert!(within(root, root, "/c/anything"));
    }

    #[test]
    fn values_are_json_or_strings() {
        assert_eq!(parse_value(b"5432"), json!(5432));
        assert_eq!(parse_value(b"true"), json!(true));
        assert_eq!(parse_value(br#"{"a":[1]}"#), json!({"a": [1]}));
        assert_eq!(parse_value(b"db1"), json!("db1"));
        assert_eq!(parse_value(b""), json!(""));
    }

    #[test]
    fn keys_nest_and_deeper_keys_win() {
        let tree = build([
            ("db", json!("flat")),
            ("db/host", json!("h")),
            ("db/port", json!(1)),
            ("name", json!("n")),
            ("x/y/z", json!(true)),
        ]);
        assert_eq!(
            tree,
            json!({"db": {"host": "h", "port": 1}, "name": "n", "x": {"y": {"z": true}}})
        );
        // Order does not matter.
        let tree = build([("db/host", json!("h")), ("db", json!("flat"))]);
        assert_eq!(tree, json!({"db": {"host": "h"}}));
    }
}
