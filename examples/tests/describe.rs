//! `Debug.Describe` end to end: a real service in-process (memory registry,
//! transport and broker) serving the greeter, the describe test proto's
//! `Mirror` and a code-first calculator, described through a `Client`.

use std::sync::Arc;

use base64::Engine as _;
use examples::{Greeter, Mirror, SERVICE, describe_pb, events};
use micro_runtime::broker::{MemoryBroker, Subscriber};
use micro_runtime::codec::ContentType;
use micro_runtime::debug::{DESCRIBE, DescribeRequest, Describer, ServiceDescription};
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::{CallOptions, Context, Result, Service};
use prost::Message as _;
use serde_json::{Value, json};

/// Terms to add.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Sum {
    /// The numbers.
    pub terms: Vec<i64>,
}

/// A sum.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Total {
    /// The result.
    pub value: i64,
}

/// A code-first service with serde types that also derive `JsonSchema`.
pub struct Calculator;

#[micro_runtime::service]
impl Calculator {
    /// Adds the terms.
    #[micro(idempotent)]
    async fn add(&self, _ctx: Context, req: Sum) -> Result<Total> {
        Ok(Total {
            value: req.terms.iter().sum(),
        })
    }

    #[subscriber(topic = "sums", queue = "adders")]
    async fn on_sum(&self, _ctx: Context, _sum: Sum) -> Result<()> {
        Ok(())
    }
}

async fn start() -> Service {
    let service = Service::builder()
        .name(SERVICE)
        .version("1.2.3")
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(MemoryTransport::new()))
        .broker(Arc::new(MemoryBroker::new()))
        .build()
        .unwrap();
    service.handle(Greeter::default()).unwrap();
    service.handle(Mirror).unwrap();
    service.handle(Calculator).unwrap();
    service
        .subscribe(Subscriber::new(
            "events",
            |_ctx: Context, _event: events::Event| async { Ok(()) },
        ))
        .unwrap();
    service.start().await.unwrap();
    service
}

async fn describe(service: &Service) -> ServiceDescription {
    service
        .client()
        .call(
            &Arc::from(SERVICE),
            &DESCRIBE,
            &DescribeRequest {},
            &CallOptions::new(),
        )
        .await
        .unwrap()
}

/// The description as JSON, fetched with the JSON content type.
async fn describe_json(service: &Service) -> Value {
    let body = service
        .client()
        .call_raw(
            SERVICE,
            "Debug.Describe",
            ContentType::Json,
            "{}".into(),
            &CallOptions::new(),
        )
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The item of list `list` of a JSON description whose `key` is `value`.
fn item<'a>(description: &'a Value, list: &str, key: &str, value: &str) -> &'a Value {
    description[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("{list}: {value} is not described"))
}

fn endpoint<'a>(description: &'a Value, name: &str) -> &'a Value {
    item(description, "endpoints", "name", name)
}

fn subscription<'a>(description: &'a Value, topic: &str) -> &'a Value {
    item(description, "subscriptions", "topic", topic)
}

async fn echo_json(service: &Service, body: &Value) -> Result<Value> {
    let rsp = service
        .client()
        .call_raw(
            SERVICE,
            "Mirror.Echo",
            ContentType::Json,
            body.to_string().into(),
            &CallOptions::new(),
        )
        .await?;
    Ok(serde_json::from_slice(&rsp).unwrap())
}

#[tokio::test]
async fn the_greeter_is_described_with_kinds_and_schemas_in_both_content_types() {
    let service = start().await;
    let json = describe_json(&service).await;
    assert_eq!(json["name"], SERVICE);
    assert_eq!(json["version"], "1.2.3");
    let names: Vec<&str> = json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Greeter.Hello",
            "Greeter.HelloStream",
            "Greeter.Collect",
            "Greeter.Chat",
            "Mirror.Echo",
            "Calculator.Add"
        ]
    );
    for (name, kind) in [
        ("Greeter.Hello", "unary"),
        ("Greeter.HelloStream", "server"),
        ("Greeter.Collect", "client"),
        ("Greeter.Chat", "bidi"),
    ] {
        let e = endpoint(&json, name);
        assert_eq!(e["kind"], kind, "{name}");
        assert_eq!(e["requestType"], "greeter.v1.Request");
        assert_eq!(e["responseType"], "greeter.v1.Response");
        assert_eq!(
            e["requestSchema"],
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "greeter.v1.Request",
                "description": "Who to greet.",
                "type": "object",
                "properties": {"name": {"type": "string", "description": "The name to greet."}},
                "additionalProperties": false,
            })
        );
        assert_eq!(
            e["responseSchema"]["properties"]["greeting"],
            json!({"type": "string", "description": "The text, e.g. \"Hello John\"."})
        );
    }
    let hello = endpoint(&json, "Greeter.Hello");
    assert_eq!(hello["idempotent"], true);
    assert_eq!(hello["docs"], "Says hello to one person.");
    assert_eq!(endpoint(&json, "Greeter.Chat")["idempotent"], false);

    // Protobuf says the same as JSON.
    let typed = describe(&service).await;
    assert_eq!(serde_json::to_value(&typed).unwrap(), json);
    assert_eq!(
        serde_json::from_value::<ServiceDescription>(json.clone()).unwrap(),
        typed
    );
    service.stop().await.unwrap();
}

#[tokio::test]
async fn descriptor_sets_come_once_per_package_with_comments_and_imports() {
    let service = start().await;
    let typed = describe(&service).await;
    let packages: Vec<&str> = typed
        .descriptor_sets
        .iter()
        .map(|d| d.package.as_str())
        .collect();
    assert_eq!(packages, ["describe.v1", "greeter.v1"]);
    let greeter =
        prost_types::FileDescriptorSet::decode(&typed.descriptor_sets[1].file_descriptor_set[..])
            .unwrap();
    assert_eq!(greeter.file.len(), 1);
    assert_eq!(greeter.file[0].service[0].method.len(), 4);
    let comments: Vec<&str> = greeter.file[0]
        .source_code_info
        .as_ref()
        .unwrap()
        .location
        .iter()
        .filter_map(|l| l.leading_comments.as_deref())
        .collect();
    assert!(
        comments.contains(&" Says hello to one person.\n"),
        "{comments:?}"
    );
    let thing =
        prost_types::FileDescriptorSet::decode(&typed.descriptor_sets[0].file_descriptor_set[..])
            .unwrap();
    let files: Vec<&str> = thing.file.iter().map(|f| f.name()).collect();
    for import in [
        "google/protobuf/timestamp.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/wrappers.proto",
        "describe_test.proto",
    ] {
        assert!(files.contains(&import), "{files:?}");
    }
    // In JSON the bytes are base64.
    let json = describe_json(&service).await;
    let encoded = json["descriptorSets"][1]["fileDescriptorSet"]
        .as_str()
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
        typed.descriptor_sets[1].file_descriptor_set
    );
    service.stop().await.unwrap();
}

#[tokio::test]
async fn the_thing_schema_is_right_field_by_field() {
    let service = start().await;
    let json = describe_json(&service).await;
    let echo = endpoint(&json, "Mirror.Echo");
    assert_eq!(echo["requestType"], "describe.v1.Thing");
    let schema = &echo["requestSchema"];
    assert_eq!(schema, &echo["responseSchema"]);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        schema["description"],
        "A thing with one field of every kind."
    );
    let part = json!({"$ref": "#/$defs/describe.v1.Thing.Part"});
    let int32 = json!({"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647});
    let expected = [
        ("displayName", json!({"type": "string"})),
        ("count", json!({"type": "string", "pattern": "^-?[0-9]+$"})),
        ("big", json!({"type": "string", "pattern": "^[0-9]+$"})),
        ("small", int32.clone()),
        (
            "payload",
            json!({"type": "string", "contentEncoding": "base64"}),
        ),
        (
            "priority",
            json!({"title": "describe.v1.Priority", "type": "string",
                "enum": ["PRIORITY_UNSPECIFIED", "PRIORITY_LOW", "PRIORITY_HIGH"]}),
        ),
        (
            "tags",
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        (
            "scores",
            json!({"type": "object", "additionalProperties": int32}),
        ),
        (
            "partsById",
            json!({"type": "object", "additionalProperties": part,
                "propertyNames": {"pattern": "^-?[0-9]+$"}}),
        ),
        ("main", part.clone()),
        ("parts", json!({"type": "array", "items": part})),
        ("text", json!({"type": "string", "x-oneof": "choice"})),
        ("number", json!({"type": "number", "x-oneof": "choice"})),
        ("limit", int32.clone()),
        ("tree", json!({"$ref": "#/$defs/describe.v1.Node"})),
        ("created", json!({"type": "string", "format": "date-time"})),
        (
            "ttl",
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"}),
        ),
        ("extra", json!({"type": "object"})),
        ("maybe", json!({"type": ["integer", "null"]})),
        ("note", json!({"type": ["string", "null"]})),
        ("done", json!({"type": "boolean"})),
        ("ratio", json!({"type": "number"})),
        ("children", json!({"type": "array", "items": {"$ref": "#"}})),
    ];
    let properties = schema["properties"].as_object().unwrap();
    assert_eq!(properties.len(), expected.len());
    for (name, want) in expected {
        let mut got = properties[name].clone();
        got.as_object_mut().unwrap().remove("description");
        assert_eq!(got, want, "property {name}");
    }
    assert_eq!(properties["count"]["description"], "A 64-bit counter.");
    assert_eq!(
        schema["$defs"]["describe.v1.Node"]["properties"]["children"]["items"],
        json!({"$ref": "#/$defs/describe.v1.Node"})
    );
    // What the service serves is what micro-codegen wrote.
    let generated = describe_pb::JSON_SCHEMAS
        .iter()
        .find(|(name, _)| *name == "describe.v1.Thing")
        .unwrap();
    assert_eq!(&serde_json::from_str::<Value>(generated.1).unwrap(), schema);
    service.stop().await.unwrap();
}

/// A request written by following the schema only.
fn thing_json() -> Value {
    json!({
        "displayName": "box",
        "count": "-9007199254740993",
        "big": "18446744073709551615",
        "small": -5,
        "payload": "aGVsbG8=",
        "priority": "PRIORITY_HIGH",
        "tags": ["a", "b"],
        "scores": {"x": 1, "y": -2},
        "partsById": {"7": {"id": "p7"}},
        "main": {"id": "m"},
        "parts": [{"id": "p1"}, {"id": "p2"}],
        "text": "chosen",
        "limit": 0,
        "tree": {"label": "root", "children": [{"label": "leaf"}]},
        // pbjson writes UTC as `+00:00`; `Z` is read too.
        "created": "2024-05-01T12:30:00+00:00",
        "ttl": "1.500s",
        "extra": {"k": [1.0, "two", null, {"n": true}]},
        "maybe": 42,
        "note": "memo",
        "done": true,
        "ratio": 0.5,
        "children": [{"displayName": "inner", "number": 2.5}]
    })
}

#[tokio::test]
async fn a_body_built_from_the_schema_round_trips_through_the_json_codec() {
    let service = start().await;
    let json = describe_json(&service).await;
    let schema = &endpoint(&json, "Mirror.Echo")["requestSchema"];
    let validator = jsonschema::validator_for(schema).unwrap();
    let body = thing_json();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(echo_json(&service, &body).await.unwrap(), body);

    // What the schema refuses, the codec refuses too.
    for bad in [
        json!({"text": "a", "number": 1.0}),
        json!({"nope": 1}),
        json!({"priority": "PRIORITY_URGENT"}),
        json!({"count": "twelve"}),
    ] {
        assert!(!validator.is_valid(&bad), "schema accepts {bad}");
        let err = echo_json(&service, &bad).await.unwrap_err();
        assert_eq!(err.code(), 400, "{bad}: {err}");
    }
    service.stop().await.unwrap();
}

#[tokio::test]
async fn code_first_types_are_described_by_schemars_or_as_any_object() {
    let service = start().await;
    let json = describe_json(&service).await;
    let add = endpoint(&json, "Calculator.Add");
    assert_eq!(add["requestType"], "Sum");
    assert_eq!(add["idempotent"], true);
    assert_eq!(add["docs"], "Adds the terms.");
    let sums = subscription(&json, "sums");
    assert_eq!(sums["queue"], "adders");
    assert_eq!(sums["messageType"], "Sum");
    let any_object =
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"});
    if cfg!(feature = "schemars") {
        let schema = &add["requestSchema"];
        assert_eq!(schema["title"], "Sum");
        assert_eq!(schema["properties"]["terms"]["type"], "array");
        assert_eq!(schema["properties"]["terms"]["description"], "The numbers.");
        assert_eq!(
            add["responseSchema"]["properties"]["value"]["type"],
            "integer"
        );
        assert_eq!(&sums["schema"], schema);
        let validator = jsonschema::validator_for(schema).unwrap();
        assert!(validator.is_valid(&json!({"terms": [1, 2]})));
        assert!(!validator.is_valid(&json!({"terms": "1"})));
    } else {
        assert_eq!(add["requestSchema"], any_object);
        assert_eq!(add["responseSchema"], any_object);
        assert_eq!(sums["schema"], any_object);
    }
    // A subscriber of a proto type added by hand has no known schema.
    let events = subscription(&json, "events");
    assert!(events.get("schema").is_none(), "{events}");
    service.stop().await.unwrap();
}

#[tokio::test]
async fn the_describer_fetches_once_per_version_and_names_what_is_missing() {
    let service = start().await;
    let describer = Describer::new(service.client());
    let first = describer.describe(SERVICE).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].version, "1.2.3");
    assert_eq!(*first[0], describe(&service).await);
    let again = describer.describe_version(SERVICE, "1.2.3").await.unwrap();
    assert!(
        Arc::ptr_eq(&first[0], &again),
        "the second ask is served from the cache"
    );
    describer.forget(SERVICE);
    let fresh = describer.describe_version(SERVICE, "1.2.3").await.unwrap();
    assert!(!Arc::ptr_eq(&first[0], &fresh));
    assert_eq!(fresh, first[0]);

    let address = service.address().await.unwrap();
    let node = describer.describe_node(SERVICE, &address).await.unwrap();
    assert_eq!(node.name, SERVICE);

    let missing = describer
        .describe("com.example.srv.nobody")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), 404, "{missing}");
    let wrong_version = describer
        .describe_version(SERVICE, "9.9.9")
        .await
        .unwrap_err();
    assert!(
        [404, 503].contains(&wrong_version.code()),
        "{wrong_version}"
    );
    service.stop().await.unwrap();
}

#[tokio::test]
async fn the_registry_advertises_names_and_kinds_but_no_schemas() {
    let service = start().await;
    let record = service.registration().await.unwrap();
    assert!(record.endpoints.iter().any(|e| e.name == "Mirror.Echo"));
    assert!(
        !record
            .endpoints
            .iter()
            .any(|e| e.name.starts_with("Debug."))
    );
    let text = serde_json::to_string(&record.endpoints).unwrap();
    assert!(!text.contains("$schema"), "{text}");
    assert!(!text.contains("properties"), "{text}");
    service.stop().await.unwrap();
}
