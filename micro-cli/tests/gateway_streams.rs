//! Streaming and a changing registry through `micro gateway` as a real
//! process: a `greeter-server` and the gateway in a private network
//! namespace, discovering each other over mDNS, called from inside the
//! namespace by curl (Server-Sent Events, JSON lines) and by Python's
//! `websockets` (client and bidi streams over WebSocket); a service
//! started after the gateway becomes routable, and one that stops
//! answers 503.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::gateway::{Reply, curl, curl_with, gateway, greeter, stop};
use support::{LIMIT, Netns, no_panic, python};

/// The WebSocket client run inside the namespace.
const WS_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ws_client.py");

/// The greetings `HelloStream` answers `name` with.
fn stream_of(name: &str) -> Vec<Value> {
    (1..=3)
        .map(|i| json!({ "greeting": format!("Hello {name} #{i}") }))
        .collect()
}

/// The data of every `event: message` of a Server-Sent Events body, and
/// the names of all its events.
fn sse_messages(body: &str) -> (Vec<Value>, Vec<String>) {
    let mut data = Vec::new();
    let mut events = Vec::new();
    for event in body.split("\n\n").filter(|e| !e.trim().is_empty()) {
        for line in event.lines() {
            if let Some(name) = line.strip_prefix("event: ") {
                events.push(name.to_owned());
            } else if let Some(json) = line.strip_prefix("data: ") {
                data.push(serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}")));
            }
        }
    }
    (data, events)
}

/// The WebSocket client's run against `url` sending `names`: the frames it
/// received (JSON) and its last line (`close <code>`).
fn websocket(ns: &Netns, python: &str, url: &str, names: &[&str]) -> (Vec<Value>, String) {
    let mut cmd = ns.command(python);
    cmd.arg(WS_CLIENT).arg(url).args(names);
    let outcome = support::run(cmd, None);
    assert_eq!(outcome.code, Some(0), "the WebSocket client: {outcome}");
    let mut lines: Vec<&str> = outcome.stdout.lines().collect();
    let close = lines.pop().unwrap_or_default().to_owned();
    let frames = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}; {outcome}")))
        .collect();
    (frames, close)
}

#[test]
fn server_client_and_bidi_streams_through_the_gateway_process() {
    let ns = Netns::new();
    let node = greeter(&ns, "1.0.0");
    let (gateway, base) = gateway(&ns, &["--address", "127.0.0.1:0"], &[]);
    let hello_stream = format!("{base}/api/greeter/hello-stream");

    // Server-Sent Events, read as they come (-N), every message.
    let reply = curl_with(
        &ns,
        &["-N"],
        "POST",
        &hello_stream,
        &["Accept: text/event-stream"],
        Some(r#"{"name":"sse"}"#),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.headers.contains("content-type: text/event-stream"),
        "{reply:?}"
    );
    let (messages, events) = sse_messages(&reply.body);
    assert_eq!(messages, stream_of("sse"), "{reply:?}");
    assert_eq!(events, ["message"; 3], "{reply:?}");

    // JSON lines, from a GET with a query string.
    let reply = curl_with(
        &ns,
        &["-N"],
        "GET",
        &format!("{hello_stream}?name=lines"),
        &[],
        None,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.headers.contains("content-type: application/x-ndjson"),
        "{reply:?}"
    );
    let lines: Vec<Value> = reply
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}; {reply:?}")))
        .collect();
    assert_eq!(lines, stream_of("lines"));

    // WebSocket: a frame per request, an empty frame ends them.
    if let Some(python) = python() {
        let ws = base.replacen("http://", "ws://", 1);
        let (frames, close) = websocket(
            &ns,
            &python,
            &format!("{ws}/api/greeter/chat"),
            &["a", "b", "c"],
        );
        assert_eq!(
            frames,
            ["a", "b", "c"].map(|n| json!({ "greeting": format!("Hello {n}") })),
        );
        assert_eq!(close, "close 1000");
        let (frames, close) = websocket(
            &ns,
            &python,
            &format!("{ws}/api/greeter/collect"),
            &["a", "b"],
        );
        assert_eq!(frames, [json!({ "greeting": "Hello a, b" })]);
        assert_eq!(close, "close 1000");
    }

    let stderr = gateway.stderr();
    stop(gateway);
    no_panic(&stderr);
    stop(node);
}

/// POSTs `{"name":"late"}` to `url` until `done` says the answer is the
/// one awaited (bounded by [`LIMIT`]); every answer before must be one of
/// `passing`.
fn call_until(ns: &Netns, url: &str, passing: &[u16], done: impl Fn(&Reply) -> bool) -> Reply {
    let started = Instant::now();
    loop {
        let reply = curl(ns, "POST", url, &[], Some(r#"{"name":"late"}"#));
        if done(&reply) {
            return reply;
        }
        assert!(passing.contains(&reply.status), "{reply:?}");
        assert!(
            started.elapsed() < LIMIT,
            "not yet after {LIMIT:?}: {reply:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_service_started_after_the_gateway_is_routable_and_one_that_stops_answers_503() {
    let ns = Netns::new();
    let (gateway, base) = gateway(&ns, &["--address", "127.0.0.1:0"], &[]);
    let hello = format!("{base}/api/greeter/hello");
    let reply = curl(&ns, "POST", &hello, &[], Some("{}"));
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(
        reply.json()["detail"].as_str().unwrap().contains("greeter"),
        "{reply:?}"
    );

    // Started later: routable without restarting the gateway (404s only
    // until its mDNS announcement arrives).
    let node = greeter(&ns, "1.0.0");
    let reply = call_until(&ns, &hello, &[404], |r| r.status == 200);
    assert_eq!(reply.json(), json!({ "greeting": "Hello late" }));

    // Stopped (it deregisters): 503, never 404 or 500. Until the gateway
    // hears of it, the call to its old address answers 503 too.
    stop(node);
    let reply = call_until(&ns, &hello, &[200, 503], |r| {
        r.status == 503 && r.json()["id"] == "micro.gateway"
    });
    let detail = reply.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("com.example.srv.greeter") && detail.contains("no running nodes"),
        "{detail}"
    );

    let stderr = gateway.stderr();
    stop(gateway);
    no_panic(&stderr);
}
