//! `micro mcp list` and `micro mcp call` against a greeter-server process
//! over mDNS in a private network namespace: every endpoint is a tool
//! (client and bidi streams take `{"messages": [...]}`), calls answer as
//! an agent would see them, and bad arguments fail with their code.

mod support;

use serde_json::{Value, json};
use support::{Place, squeeze};

const COLLECT: &str = "com_example_srv_greeter_Greeter_Collect";
const CHAT: &str = "com_example_srv_greeter_Greeter_Chat";
const EXPECTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../micro-mcp/tests/expected");

fn expected(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{EXPECTED}/{file}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn list_shows_every_endpoint_as_a_tool_and_call_calls_it() {
    let place = Place::mdns();
    let _greeter = place.greeter("1.0.0", &[]);

    let table = squeeze(place.run(&["mcp", "list"]).ok());
    assert!(
        table.contains(&format!("{COLLECT} Greeter.Collect messages: array"))
            && table.contains(&format!("{CHAT} Greeter.Chat messages: array"))
            && table.contains("com_example_srv_greeter_Greeter_Hello Greeter.Hello read-only, idempotent name: string"),
        "{table}"
    );
    assert!(!table.contains("left out"), "{table}");

    let listing = place.run(&["mcp", "list", "-o", "json"]).json();
    assert_eq!(listing["left_out"], json!([]));
    let tools = listing["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            CHAT,
            COLLECT,
            "com_example_srv_greeter_Greeter_Hello",
            "com_example_srv_greeter_Greeter_HelloStream"
        ]
    );
    let chat = &tools[0];
    assert_eq!(
        chat["inputSchema"],
        expected("greeter.v1.Request.messages.json")
    );
    assert_eq!(
        chat["outputSchema"],
        expected("greeter.v1.Response.items.json")
    );

    let collected = place.run(&[
        "mcp",
        "call",
        COLLECT,
        r#"{"messages":[{"name":"A"},{"name":"B"}]}"#,
    ]);
    assert_eq!(collected.json(), json!({"greeting": "Hello A, B"}));
    let chatted = place.run(&[
        "mcp",
        "call",
        CHAT,
        r#"{"messages":[{"name":"A"},{"name":"B"}]}"#,
    ]);
    assert_eq!(
        chatted.json(),
        json!({"items": [{"greeting": "Hello A"}, {"greeting": "Hello B"}], "truncated": false})
    );

    let line = place
        .run(&["mcp", "call", CHAT, r#"{"messages":{"name":"A"}}"#])
        .fails_with(400)
        .to_owned();
    assert!(line.contains(r#"{"messages": [request, ...]}"#), "{line}");
    place
        .run(&["mcp", "call", COLLECT, r#"{"messages":[{"name":5}]}"#])
        .fails_with(400);
    place
        .run(&["mcp", "call", "no_such_tool", "{}"])
        .fails_with(404);
}
