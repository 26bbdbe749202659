//! Endpoints known only at run time (`HandlerBuilder::dynamic_unary`):
//! advertised in the registry, described with their schemas, called with
//! raw JSON; a stream call or a body the handler refuses is an error.

use std::sync::Arc;

use bytes::Bytes;
use micro_runtime::codec::ContentType;
use micro_runtime::debug::Describer;
use micro_runtime::endpoint::{CallKind, DynamicEndpoint};
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::server::HandlerBuilder;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::{CallOptions, Client, Error, Service};
use serde_json::{Value, json};

#[tokio::test]
async fn dynamic_endpoints_are_advertised_described_and_called() {
    let registry = Arc::new(MemoryRegistry::new());
    let transport = Arc::new(MemoryTransport::new());
    let service = Service::builder()
        .name("dyn")
        .registry(registry.clone())
        .transport(transport.clone())
        .build()
        .unwrap();
    let mut echo = DynamicEndpoint::new(String::from("Shop.Echo"));
    echo.docs = "Echoes JSON.".into();
    echo.request_schema = Some(json!({"type": "object", "properties": {"n": {"type": "integer"}}}));
    let handler = HandlerBuilder::new(())
        .dynamic_unary(echo, |ctx, ct, body: Bytes| async move {
            if ct != ContentType::Json {
                return Err(Error::unsupported_media_type("JSON only"));
            }
            let mut value: Value = serde_json::from_slice(&body).unwrap();
            value["tenant"] = ctx.metadata().get("tenant").unwrap_or("").into();
            Ok(Bytes::from(value.to_string()))
        })
        .dynamic_unary(
            DynamicEndpoint::new("Shop.Other"),
            |_, _, body| async move { Ok(body) },
        )
        .build();
    service.handle(handler).unwrap();
    service.start().await.unwrap();

    let client = Client::builder()
        .registry(registry)
        .transport(transport)
        .build()
        .unwrap();
    let answer = client
        .call_raw(
            "dyn",
            "Shop.Echo",
            ContentType::Json,
            Bytes::from_static(br#"{"n":1}"#),
            &CallOptions::new().metadata("tenant", "acme"),
        )
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer, json!({"n": 1, "tenant": "acme"}));

    let refused = client
        .call_raw(
            "dyn",
            "Shop.Echo",
            ContentType::Protobuf,
            Bytes::new(),
            &CallOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), 415, "{refused}");
    assert_eq!(
        client.call_kind("dyn", "Shop.Echo").await.unwrap(),
        CallKind::Unary
    );

    let services = client.services().await.unwrap();
    let record = services.iter().find(|s| s.name == "dyn").unwrap();
    let mut names: Vec<&str> = record.endpoints.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Shop.Echo", "Shop.Other"]);

    let described = Describer::new(client.clone())
        .describe("dyn")
        .await
        .unwrap();
    let endpoints = &described[0].endpoints;
    let echo = endpoints.iter().find(|e| e.name == "Shop.Echo").unwrap();
    assert_eq!(echo.docs, "Echoes JSON.");
    assert_eq!(echo.kind, "unary");
    assert_eq!(echo.request_type, "Shop.Echo.Request");
    let schema: Value = serde_json::from_str(&echo.request_schema).unwrap();
    assert_eq!(schema["properties"]["n"]["type"], "integer");
    let other = endpoints.iter().find(|e| e.name == "Shop.Other").unwrap();
    let schema: Value = serde_json::from_str(&other.response_schema).unwrap();
    assert_eq!(schema["type"], "object");

    service.stop().await.unwrap();
}
