//! `GET /openapi.json`: an OpenAPI 3.1 document of the registered services,
//! whose every `$ref` resolves inside it, checked by a real validator
//! (`openapi-spec-validator`) when one is installed.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::World;
use micro_gateway::GatewayOptions;
use serde_json::Value;

/// Where the validator is looked for when `MICRO_TEST_OPENAPI_VALIDATOR`
/// does not say.
const DEFAULT_VALIDATOR: &str = "/tmp/venv/bin/openapi-spec-validator";

#[tokio::test]
async fn the_document_describes_every_unary_and_server_streaming_endpoint() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let answer = gateway.get("/openapi.json").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    let doc = answer.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/com.example.srv.greeter/Greeter.Hello",
        "/api/com.example.srv.greeter/Mirror.Echo",
        "/api/com.example.srv.v1.greeter/Greeter.Hello",
        "/api/com.example.srv.echo/Echo.Seen",
        "/rpc",
        "/health",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing: {:?}",
            paths.keys()
        );
    }
    let stream = &paths["/api/com.example.srv.greeter/Greeter.HelloStream"]["post"]["responses"]["200"]
        ["content"];
    for media in ["text/event-stream", "application/x-ndjson"] {
        let item = &stream[media]["x-micro-item-schema"];
        assert_eq!(
            follow(&doc, item)["properties"]["greeting"]["type"],
            "string"
        );
    }
    for absent in ["Greeter.Collect", "Greeter.Chat", "Debug."] {
        assert!(
            paths.keys().all(|p| !p.contains(absent)),
            "{absent} listed: {:?}",
            paths.keys()
        );
    }
    let hello = &paths["/api/com.example.srv.greeter/Greeter.Hello"]["post"];
    let request = &hello["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(request["$ref"], "#/components/schemas/greeter.v1.Request");
    let schema = follow(&doc, request);
    assert_eq!(schema["properties"]["name"]["type"], "string", "{schema}");
    assert!(
        hello["description"].as_str().is_some_and(|d| !d.is_empty()),
        "{hello}"
    );
    let error = follow(
        &doc,
        &hello["responses"]["404"]["content"]["application/json"]["schema"],
    );
    assert_eq!(error["properties"]["code"]["type"], "integer");
    // The Thing's nested and recursive messages are components of their own.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(
        schemas.contains_key("describe.v1.Thing"),
        "{:?}",
        schemas.keys()
    );
    assert!(
        schemas.contains_key("describe.v1.Node"),
        "{:?}",
        schemas.keys()
    );
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 10, "{refs:?}");
    for target in &refs {
        assert!(
            target.starts_with("#/components/") && resolve(&doc, target).is_some(),
            "{target} does not resolve in the document"
        );
    }
    assert!(!doc.to_string().contains("$defs"));
    validate(&doc);
    gateway.stop().await;
}

/// The schema a `$ref` points at.
fn follow<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let target = schema["$ref"].as_str().expect("a $ref");
    resolve(doc, target).unwrap_or_else(|| panic!("{target} does not resolve"))
}

fn resolve<'a>(doc: &'a Value, target: &str) -> Option<&'a Value> {
    doc.pointer(target.strip_prefix('#')?)
}

/// Every `$ref` in the document (in schema positions).
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (k, v) in object {
                match (k.as_str(), v) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    ("enum" | "const" | "default" | "examples", _) => {}
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Runs `openapi-spec-validator` on `doc`, or says why it cannot.
fn validate(doc: &Value) {
    let validator = std::env::var_os("MICRO_TEST_OPENAPI_VALIDATOR")
        .map_or_else(|| PathBuf::from(DEFAULT_VALIDATOR), PathBuf::from);
    if !validator.exists() {
        assert!(
            std::env::var_os("MICRO_TEST_REQUIRE_BACKENDS").is_none(),
            "openapi-spec-validator is required (MICRO_TEST_REQUIRE_BACKENDS) but not at {}",
            validator.display()
        );
        println!(
            "skipped: openapi-spec-validator not at {} (set MICRO_TEST_OPENAPI_VALIDATOR)",
            validator.display()
        );
        return;
    }
    let file =
        std::env::temp_dir().join(format!("micro-gateway-openapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).unwrap();
    let mut child = Command::new(&validator)
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openapi-spec-validator did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&file);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "openapi-spec-validator: {text}");
    println!("openapi-spec-validator: {}", text.trim());
}
