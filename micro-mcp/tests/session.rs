//! A whole MCP session in-process: rmcp's client against the server over
//! an in-memory pipe, with services on a memory registry. Checks the
//! handshake, `tools/list`, `tools/call` (a result, an error result, a
//! stream with progress) and `notifications/tools/list_changed` when a
//! service starts and when it stops.

mod common;

use std::time::Duration;

use common::World;
use examples::SERVICE;
use micro_mcp::{McpOptions, McpServer};
use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressNotificationParam, ProgressToken,
    RequestMetaObject,
};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(20);

/// What the client hears.
#[derive(Debug)]
enum Heard {
    ListChanged,
    Progress(f64),
}

#[derive(Clone)]
struct Listener(mpsc::UnboundedSender<Heard>);

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.0.send(Heard::ListChanged);
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(Heard::Progress(params.progress));
    }
}

/// Waits (at most `LIMIT`) for `notifications/tools/list_changed`.
async fn hear_list_changed(heard: &mut mpsc::UnboundedReceiver<Heard>) {
    loop {
        match tokio::time::timeout(LIMIT, heard.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Heard::ListChanged => return,
            Heard::Progress(_) => {}
        }
    }
}

/// The names of the tools the session lists now.
async fn tool_names(session: &rmcp::service::RunningService<RoleClient, Listener>) -> Vec<String> {
    let tools = session.list_all_tools().await.unwrap();
    tools.iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn a_session_lists_calls_and_hears_of_changes() {
    let world = World::new();
    let _greeter = world.greeter_named(SERVICE).await;
    let server = McpServer::new(world.client(), McpOptions::default());

    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let serving = tokio::spawn(async move {
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let (heard_tx, mut heard) = mpsc::unbounded_channel();
    let session = tokio::time::timeout(LIMIT, Listener(heard_tx).serve(client_io))
        .await
        .unwrap()
        .unwrap();
    let info = session.peer_info().unwrap();
    assert!(info.capabilities.tools.as_ref().unwrap().list_changed == Some(true));

    let tools = session.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| &*t.name).collect();
    assert_eq!(
        names,
        [
            "com_example_srv_greeter_Greeter_Chat",
            "com_example_srv_greeter_Greeter_Collect",
            "com_example_srv_greeter_Greeter_Hello",
            "com_example_srv_greeter_Greeter_HelloStream"
        ]
    );

    let args = |v: serde_json::Value| v.as_object().unwrap().clone();
    let ok = session
        .call_tool(
            CallToolRequestParams::new("com_example_srv_greeter_Greeter_Hello")
                .with_arguments(args(json!({"name": "John"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        ok.structured_content,
        Some(json!({"greeting": "Hello John"}))
    );

    let wrong = session
        .call_tool(
            CallToolRequestParams::new("com_example_srv_greeter_Greeter_Hello")
                .with_arguments(args(json!({"name": 5}))),
        )
        .await
        .unwrap();
    assert_eq!(
        wrong.is_error,
        Some(true),
        "an RPC error is a result, not a protocol error"
    );

    // A stream: its messages collected, progress reported as they come.
    let mut meta = RequestMetaObject::default();
    meta.set_progress_token(ProgressToken(NumberOrString::Number(7)));
    let mut params = CallToolRequestParams::new("com_example_srv_greeter_Greeter_HelloStream")
        .with_arguments(args(json!({"name": "Ann"})));
    params.meta = Some(meta);
    let streamed = session.call_tool(params).await.unwrap();
    let items = &streamed.structured_content.as_ref().unwrap()["items"];
    assert_eq!(items.as_array().unwrap().len(), 3);
    assert_eq!(items[2]["greeting"], "Hello Ann #3");
    let mut progress = Vec::new();
    while progress.len() < 3 {
        match tokio::time::timeout(LIMIT, heard.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Heard::Progress(p) => progress.push(p),
            Heard::ListChanged => panic!("no service changed yet"),
        }
    }
    assert_eq!(progress, [1.0, 2.0, 3.0]);

    let unknown = session
        .call_tool(CallToolRequestParams::new("nope"))
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("nope"), "{unknown}");

    // A service that starts: the client hears of it, then lists its tools;
    // one that stops: the client hears of it, and its tools are gone.
    let other = world.greeter_named("com.example.srv.other").await;
    hear_list_changed(&mut heard).await;
    let other_tools = |names: &[String]| names.iter().filter(|n| n.contains("_other_")).count();
    let names = tool_names(&session).await;
    assert_eq!((names.len(), other_tools(&names)), (8, 4), "{names:?}");
    other.stop().await.unwrap();
    hear_list_changed(&mut heard).await;
    let names = tool_names(&session).await;
    assert_eq!((names.len(), other_tools(&names)), (4, 0), "{names:?}");

    session.cancel().await.unwrap();
    tokio::time::timeout(LIMIT, serving).await.unwrap().unwrap();
}
