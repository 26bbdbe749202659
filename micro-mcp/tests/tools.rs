//! The tools of in-process services (memory registry and transport): names,
//! schemas, annotations, calls, errors, streams both ways, and a service
//! that starts later.

mod common;

use std::time::{Duration, Instant};

use common::World;
use examples::SERVICE;
use micro_mcp::{Filter, McpOptions, McpServer};
use micro_runtime::debug::Describer;
use serde_json::{Value, json};

const HELLO: &str = "com_example_srv_greeter_Greeter_Hello";
const STREAM: &str = "com_example_srv_greeter_Greeter_HelloStream";
const COLLECT: &str = "com_example_srv_greeter_Greeter_Collect";
const CHAT: &str = "com_example_srv_greeter_Greeter_Chat";
const ECHO: &str = "com_example_srv_greeter_Mirror_Echo";

fn tool_json(tools: &[rmcp::model::Tool], name: &str) -> Value {
    let tool = tools.iter().find(|t| t.name == name).unwrap_or_else(|| {
        panic!(
            "no tool {name} in {:?}",
            tools.iter().map(|t| &t.name).collect::<Vec<_>>()
        )
    });
    serde_json::to_value(tool).unwrap()
}

#[tokio::test]
async fn endpoints_are_tools_with_schemas_and_hints() {
    let world = World::new();
    let _greeter = world.greeter().await;
    let server = McpServer::new(world.client(), McpOptions::default());
    let listing = server.list().await.unwrap();
    let names: Vec<&str> = listing.tools.iter().map(|t| &*t.name).collect();
    assert_eq!(names, [CHAT, COLLECT, HELLO, STREAM, ECHO]);
    assert!(listing.left_out.is_empty(), "{:?}", listing.left_out);

    let hello = tool_json(&listing.tools, HELLO);
    assert_eq!(hello["inputSchema"]["type"], "object");
    assert_eq!(hello["inputSchema"]["properties"]["name"]["type"], "string");
    assert_eq!(
        hello["inputSchema"]["properties"]["name"]["description"],
        "The name to greet."
    );
    assert_eq!(
        hello["outputSchema"]["properties"]["greeting"]["type"],
        "string"
    );
    assert!(
        hello["description"]
            .as_str()
            .unwrap()
            .starts_with("Says hello to one person.")
    );
    assert!(hello["description"].as_str().unwrap().contains(SERVICE));
    assert_eq!(hello["annotations"]["idempotentHint"], true);
    assert_eq!(hello["annotations"]["readOnlyHint"], true);
    let stream = tool_json(&listing.tools, STREAM);
    assert_eq!(stream["annotations"]["idempotentHint"], false);
    assert_eq!(
        stream["outputSchema"]["properties"]["items"]["items"]["properties"]["greeting"]["type"],
        "string"
    );

    // The request schema is the service's own, whole: nested messages,
    // repeated, maps and enums, with `$defs`.
    let described = Describer::new(world.client())
        .describe(SERVICE)
        .await
        .unwrap();
    let echo = described[0]
        .endpoints
        .iter()
        .find(|e| e.name == "Mirror.Echo")
        .unwrap();
    let expected: Value = serde_json::from_str(&echo.request_schema).unwrap();
    let tool = tool_json(&listing.tools, ECHO);
    assert_eq!(tool["inputSchema"], expected);
    let props = &tool["inputSchema"]["properties"];
    assert_eq!(props["tags"]["type"], "array");
    assert_eq!(props["scores"]["type"], "object");
    assert!(props["scores"]["additionalProperties"].is_object());
    assert!(
        tool["inputSchema"]["$defs"]
            .as_object()
            .is_some_and(|d| !d.is_empty())
    );
}

#[tokio::test]
async fn calls_answer_results_and_errors() {
    let world = World::new();
    let _greeter = world.greeter().await;
    let server = McpServer::new(world.client(), McpOptions::default().max_stream_items(2));

    let args = |v: Value| v.as_object().cloned();
    let ok = server
        .call(HELLO, args(json!({"name": "John"})))
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false));
    assert_eq!(
        ok.structured_content,
        Some(json!({"greeting": "Hello John"}))
    );
    assert!(ok.content[0].as_text().unwrap().text.contains("Hello John"));

    let wrong = server.call(HELLO, args(json!({"name": 5}))).await.unwrap();
    assert_eq!(wrong.is_error, Some(true));
    let text = &wrong.content[0].as_text().unwrap().text;
    assert!(text.contains("(400)"), "{text}");
    assert_eq!(wrong.meta.as_ref().unwrap().0["code"], 400);

    let streamed = server
        .call(STREAM, args(json!({"name": "Ann"})))
        .await
        .unwrap();
    assert_eq!(
        streamed.structured_content,
        Some(
            json!({"items": [{"greeting": "Hello Ann #1"}, {"greeting": "Hello Ann #2"}], "truncated": true})
        )
    );

    let err = server.call("no_such_tool", None).await.unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn client_and_bidi_streams_take_an_array_of_messages() {
    let world = World::new();
    let _greeter = world.greeter().await;
    let server = McpServer::new(world.client(), McpOptions::default().max_stream_items(2));
    let listing = server.list().await.unwrap();
    let collect = tool_json(&listing.tools, COLLECT);
    assert_eq!(collect["inputSchema"]["required"], json!(["messages"]));
    assert_eq!(
        collect["inputSchema"]["properties"]["messages"]["items"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        collect["outputSchema"]["properties"]["greeting"]["type"],
        "string"
    );
    assert!(
        collect["description"]
            .as_str()
            .unwrap()
            .contains("`messages` holds the requests")
    );

    let args = |v: Value| v.as_object().cloned();
    let names = json!({"messages": [{"name": "A"}, {"name": "B"}, {"name": "C"}]});
    let collected = server.call(COLLECT, args(names.clone())).await.unwrap();
    assert_eq!(
        collected.structured_content,
        Some(json!({"greeting": "Hello A, B, C"}))
    );
    let none = server
        .call(COLLECT, args(json!({"messages": []})))
        .await
        .unwrap();
    assert_eq!(none.structured_content, Some(json!({"greeting": "Hello "})));

    // Answered one by one, cut at the limit (2) without waiting for the rest.
    let chat = server.call(CHAT, args(names)).await.unwrap();
    assert_eq!(
        chat.structured_content,
        Some(
            json!({"items": [{"greeting": "Hello A"}, {"greeting": "Hello B"}], "truncated": true})
        )
    );
    let many: Vec<Value> = (0..500).map(|i| json!({"name": format!("n{i}")})).collect();
    let chat = server
        .call(CHAT, args(json!({ "messages": many })))
        .await
        .unwrap();
    assert_eq!(chat.structured_content.unwrap()["truncated"], true);

    // Arguments of the wrong shape, or a message the codec refuses: error results.
    for wrong in [
        json!({}),
        json!({"messages": {"name": "A"}}),
        json!({"messages": [], "other": 1}),
        json!({"messages": [{"name": 5}]}),
    ] {
        let result = server.call(COLLECT, args(wrong.clone())).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{wrong}");
        let text = &result.content[0].as_text().unwrap().text;
        assert!(text.contains("(400)"), "{wrong}: {text}");
    }
}

#[tokio::test]
async fn filters_choose_services_and_tools() {
    let world = World::new();
    let _greeter = world.greeter().await;
    let options = McpOptions::default().tools(Filter::parse(["Greeter.*", "!*Stream"]));
    let listing = McpServer::new(world.client(), options)
        .list()
        .await
        .unwrap();
    let names: Vec<&str> = listing.tools.iter().map(|t| &*t.name).collect();
    assert_eq!(names, [CHAT, COLLECT, HELLO]);
    let none = McpOptions::default().services(Filter::parse(["org.*"]));
    assert!(
        McpServer::new(world.client(), none)
            .list()
            .await
            .unwrap()
            .tools
            .is_empty()
    );
}

#[tokio::test]
async fn a_service_started_later_becomes_tools() {
    let world = World::new();
    let _greeter = world.greeter().await;
    let server = McpServer::new(world.client(), McpOptions::default());
    assert_eq!(server.list().await.unwrap().tools.len(), 5);
    let _other = world.greeter_named("com.example.srv.other").await;
    // Called by name before the watch told: listed anew.
    let hello = "com_example_srv_other_Greeter_Hello";
    let args = json!({"name": "Bo"}).as_object().cloned();
    let ok = server.call(hello, args).await.unwrap();
    assert_eq!(ok.structured_content, Some(json!({"greeting": "Hello Bo"})));
    // And the list shows it once the registry watch has told.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.list().await.unwrap().tools.len() != 9 {
        assert!(
            Instant::now() < deadline,
            "the new service's tools never showed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
