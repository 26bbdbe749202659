//! The greeter's tools have exactly the JSON Schemas committed in
//! `tests/expected/` (named per tool by `tools.json`): the request and
//! response of `describe_test.proto`'s `Thing` (nested messages, repeated
//! fields, enums, maps, a oneof, an optional field, recursion, well-known
//! types, comments) and the greeter's, one message or a stream of them. A
//! change in schema generation shows as a diff here.
//!
//! `MICRO_BLESS=1 cargo test -p micro-mcp --test expected_schemas` writes
//! the files from what the tools have now (review the diff).

mod common;

use common::{World, expected, expected_dir};
use micro_mcp::{McpOptions, McpServer};
use serde_json::Value;

#[tokio::test]
async fn the_tools_have_the_expected_schemas() {
    let world = World::new();
    let _greeter = world.greeter().await;
    let listing = McpServer::new(world.client(), McpOptions::default())
        .list()
        .await
        .unwrap();
    let index = expected("tools.json");
    let index = index.as_object().unwrap();
    let names: Vec<&str> = listing.tools.iter().map(|t| &*t.name).collect();
    let indexed: Vec<&str> = index.keys().map(String::as_str).collect();
    assert_eq!(names, indexed, "every tool has its expected schemas");

    let bless = std::env::var("MICRO_BLESS").as_deref() == Ok("1");
    let mut differ = Vec::new();
    for tool in &listing.tools {
        let json = serde_json::to_value(tool).unwrap();
        for key in ["inputSchema", "outputSchema"] {
            let file = index[&*tool.name][key].as_str().unwrap();
            let actual = &json[key];
            assert!(actual.is_object(), "{} has an {key}", tool.name);
            if bless {
                let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
                std::fs::write(expected_dir().join(file), text).unwrap();
            } else if *actual != expected(file) {
                differ.push(format!(
                    "{} {key} differs from tests/expected/{file}; it is now:\n{}",
                    tool.name,
                    serde_json::to_string_pretty(actual).unwrap()
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}

/// The expected documents are JSON Schemas of the dialect micro writes,
/// objects at the top as MCP requires, whose `$ref`s all resolve.
#[test]
fn the_expected_documents_are_json_schemas() {
    let index = expected("tools.json");
    for entry in index.as_object().unwrap().values() {
        for file in entry.as_object().unwrap().values() {
            let schema = expected(file.as_str().unwrap());
            assert_eq!(schema["$schema"], micro_runtime::schema::DIALECT, "{file}");
            assert_eq!(schema["type"], "object", "{file}");
            let mut refs = Vec::new();
            collect_refs(&schema, &mut refs);
            for reference in refs {
                let pointer = reference.strip_prefix('#').unwrap();
                assert!(
                    schema.pointer(pointer).is_some(),
                    "{file}: {reference} does not resolve"
                );
            }
        }
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match value {
                    Value::String(target) if key == "$ref" => refs.push(target.clone()),
                    _ => collect_refs(value, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}
