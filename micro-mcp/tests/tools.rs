//! The tools of in-process services (memory registry and transport): names,
//! schemas, annotations, calls, errors, streams, and a service that starts
//! later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::{Greeter, SERVICE, describe_pb};
use micro_mcp::{Filter, McpOptions, McpServer};
use micro_runtime::debug::Describer;
use micro_runtime::registry::Registry;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::Transport;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::{Client, Context, Result, Service};
use serde_json::{Value, json};

const HELLO: &str = "com_example_srv_greeter_Greeter_Hello";
const STREAM: &str = "com_example_srv_greeter_Greeter_HelloStream";
const ECHO: &str = "com_example_srv_greeter_Mirror_Echo";

/// Answers its input.
struct Mirror;

#[micro_runtime::service]
impl describe_pb::Mirror for Mirror {
    async fn echo(&self, _ctx: Context, request: describe_pb::Thing) -> Result<describe_pb::Thing> {
        Ok(request)
    }
}

struct World {
    registry: Arc<dyn Registry>,
    transport: Arc<dyn Transport>,
}

impl World {
    fn new() -> Self {
        Self {
            registry: Arc::new(MemoryRegistry::new()),
            transport: Arc::new(MemoryTransport::new()),
        }
    }

    async fn service(&self, name: &str, handle: impl FnOnce(&Service)) -> Service {
        let service = Service::builder()
            .name(name)
            .version("1.0.0")
            .registry(self.registry.clone())
            .transport(self.transport.clone())
            .build()
            .unwrap();
        handle(&service);
        service.start().await.unwrap();
        service
    }

    async fn greeter(&self) -> Service {
        self.service(SERVICE, |s| {
            s.handle(Greeter::default()).unwrap();
            s.handle(Mirror).unwrap();
        })
        .await
    }

    fn client(&self) -> Client {
        Client::builder()
            .registry(self.registry.clone())
            .transport(self.transport.clone())
            .build()
            .unwrap()
    }
}

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
    assert_eq!(
        names,
        [HELLO, STREAM, ECHO],
        "client and bidi streams are not tools"
    );
    let left: Vec<&str> = listing
        .left_out
        .iter()
        .map(|(_, e, _)| e.as_str())
        .collect();
    assert_eq!(left, ["Greeter.Collect", "Greeter.Chat"]);

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
async fn filters_choose_services_and_tools() {
    let world = World::new();
    let _greeter = world.greeter().await;
    let options = McpOptions::default().tools(Filter::parse(["Greeter.*", "!*Stream"]));
    let listing = McpServer::new(world.client(), options)
        .list()
        .await
        .unwrap();
    let names: Vec<&str> = listing.tools.iter().map(|t| &*t.name).collect();
    assert_eq!(names, [HELLO]);
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
    assert_eq!(server.list().await.unwrap().tools.len(), 3);
    let _other = world
        .service("com.example.srv.other", |s| {
            s.handle(Greeter::default()).unwrap()
        })
        .await;
    // Called by name before the watch told: listed anew.
    let hello = "com_example_srv_other_Greeter_Hello";
    let args = json!({"name": "Bo"}).as_object().cloned();
    let ok = server.call(hello, args).await.unwrap();
    assert_eq!(ok.structured_content, Some(json!({"greeting": "Hello Bo"})));
    // And the list shows it once the registry watch has told.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.list().await.unwrap().tools.len() != 5 {
        assert!(
            Instant::now() < deadline,
            "the new service's tools never showed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
