//! Streaming through the gateway with real HTTP and WebSocket clients:
//! Server-Sent Events and JSON lines for server streams, WebSocket for
//! client and bidi streams, JSON-lines bodies for client streams, errors
//! in the middle of a stream, and a client that goes away cancelling the
//! call on the service.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::World;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use micro_gateway::GatewayOptions;
use micro_runtime::{Context, Error, Result, Sender};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long any one wait of these tests may take.
const LIMIT: Duration = Duration::from_secs(20);

/// The ticker's name.
const TICKER: &str = "com.example.srv.ticker";

/// What ticks to send.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Ticks {
    /// How many (0: until the caller goes away).
    count: u32,
    /// Fail with 409 after the ticks.
    fail: bool,
}

/// One tick.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Tick {
    /// Its number, from 1.
    n: u32,
}

/// Sends ticks, and tells when a call of it ended.
struct Ticker {
    ended: Arc<Notify>,
}

/// Notifies when dropped: when the handler returned or was aborted.
struct Ended(Arc<Notify>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

#[micro_runtime::service]
impl Ticker {
    /// `count` ticks (endless for 0), then an error if asked for one.
    async fn ticks(&self, _ctx: Context, request: Ticks, responses: Sender<Tick>) -> Result<()> {
        let _ended = Ended(self.ended.clone());
        let mut n = 0;
        while request.count == 0 || n < request.count {
            n += 1;
            responses.send(Tick { n }).await?;
        }
        if request.fail {
            return Err(Error::conflict("the ticks ran out"));
        }
        Ok(())
    }
}

/// Runs `f` within [`LIMIT`].
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// The greeter and its twins, the ticker (whose ends are notified on the
/// returned `Notify`), and a gateway.
async fn setup() -> (
    World,
    Vec<micro_runtime::Service>,
    common::Gateway,
    Arc<Notify>,
) {
    let world = World::new();
    let mut services = world.services().await;
    let ended = Arc::new(Notify::new());
    let ticker = Ticker {
        ended: ended.clone(),
    };
    services.push(world.service(TICKER, |s| s.handle(ticker).unwrap()).await);
    let gateway = world.gateway(GatewayOptions::new()).await;
    (world, services, gateway, ended)
}

/// A streamed HTTP answer: status, content type and the body's chunks as
/// they arrived.
struct Streamed {
    status: u16,
    content_type: String,
    body: String,
}

/// Sends a request and reads the streamed body to its end.
async fn stream(
    gateway: &common::Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Streamed {
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", gateway.base));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    within(path, async {
        let response = http.request(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let mut body = response.into_body();
        let mut text = String::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                text.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
        Streamed {
            status,
            content_type,
            body: text,
        }
    })
    .await
}

/// The `(event, data)` pairs of an event stream (comments skipped).
fn events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut event = "message".to_owned();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (!data.is_empty()).then(|| (event, data.join("\n")))
        })
        .collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn server_stream_as_server_sent_events() {
    let (_world, _services, gateway, _) = setup().await;
    let answer = stream(
        &gateway,
        "POST",
        "/api/greeter/hello-stream",
        &[
            ("accept", "text/event-stream"),
            ("content-type", "application/json"),
        ],
        r#"{"name":"z"}"#,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "text/event-stream");
    let events = events(&answer.body);
    let greetings: Vec<_> = events
        .iter()
        .map(|(event, data)| {
            assert_eq!(event, "message");
            json(data)["greeting"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(greetings, ["Hello z #1", "Hello z #2", "Hello z #3"]);
    gateway.stop().await;
}

#[tokio::test]
async fn server_stream_as_json_lines_from_a_body_or_a_query() {
    let (_world, _services, gateway, _) = setup().await;
    for (method, path, body) in [
        ("POST", "/api/greeter/hello-stream", r#"{"name":"z"}"#),
        (
            "GET",
            "/api/com.example.srv.greeter/Greeter.HelloStream?name=z",
            "",
        ),
    ] {
        let answer = stream(&gateway, method, path, &[], body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.content_type, "application/x-ndjson");
        let greetings: Vec<_> = answer
            .body
            .lines()
            .map(|line| json(line)["greeting"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(greetings, ["Hello z #1", "Hello z #2", "Hello z #3"]);
        assert!(answer.body.ends_with('\n'));
    }
    gateway.stop().await;
}

#[tokio::test]
async fn an_error_mid_stream_ends_it_with_the_error() {
    let (_world, _services, gateway, _) = setup().await;
    let path = format!("/api/{TICKER}/Ticker.Ticks");
    let request = r#"{"count":2,"fail":true}"#;

    let answer = stream(
        &gateway,
        "POST",
        &path,
        &[("accept", "text/event-stream")],
        request,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let events = events(&answer.body);
    assert_eq!(events.len(), 3, "{}", answer.body);
    assert_eq!(events[0].0, "message");
    assert_eq!(json(&events[1].1)["n"], 2);
    assert_eq!(events[2].0, "error");
    let error = json(&events[2].1);
    assert_eq!(error["code"], 409, "{error}");
    assert_eq!(error["detail"], "the ticks ran out");

    let answer = stream(&gateway, "POST", &path, &[], request).await;
    let lines: Vec<Value> = answer.body.lines().map(json).collect();
    assert_eq!(lines.len(), 3, "{}", answer.body);
    assert_eq!(lines[1]["n"], 2);
    assert_eq!(lines[2]["error"]["code"], 409, "{}", answer.body);
    assert_eq!(lines[2]["error"]["status"], "Conflict", "{}", answer.body);
    gateway.stop().await;
}

#[tokio::test]
async fn an_error_before_the_first_response_answers_with_its_status() {
    let (_world, _services, gateway, _) = setup().await;
    let path = format!("/api/{TICKER}/Ticker.Ticks");
    for accept in ["text/event-stream", "application/x-ndjson"] {
        // A request the service cannot decode: 400, as a unary call.
        let answer = stream(
            &gateway,
            "POST",
            &path,
            &[("accept", accept)],
            r#"{"count":"x"}"#,
        )
        .await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.content_type, "application/json");
        let error = json(&answer.body);
        assert_eq!(error["code"], 400, "{error}");
        assert!(
            error["detail"].as_str().unwrap().contains("Ticks"),
            "{error}"
        );
    }
    gateway.stop().await;
}

/// The next frame that is not a ping or pong.
async fn next<S>(socket: &mut S) -> Message
where
    S: futures_util::Stream<Item = tokio_tungstenite::tungstenite::Result<Message>> + Unpin,
{
    within("a frame", async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(frame) => return frame.unwrap(),
                None => panic!("the socket ended without a close frame"),
            }
        }
    })
    .await
}

fn text(frame: Message) -> Value {
    match frame {
        Message::Text(text) => json(&text),
        other => panic!("not a text frame: {other:?}"),
    }
}

#[track_caller]
fn close(frame: Message) -> (CloseCode, String) {
    match frame {
        Message::Close(Some(close)) => (close.code, close.reason.to_string()),
        other => panic!("not a close frame with a code: {other:?}"),
    }
}

#[tokio::test]
async fn bidi_over_a_websocket_answers_frame_by_frame() {
    let (_world, _services, gateway, _) = setup().await;
    let mut socket = gateway.websocket("/api/greeter/chat").await;
    // Each answer is read before the next request is written: the call
    // streams both ways.
    for name in ["a", "b", "c"] {
        let request = format!(r#"{{"name":"{name}"}}"#);
        socket.send(Message::text(request)).await.unwrap();
        let answer = text(next(&mut socket).await);
        assert_eq!(answer["greeting"], format!("Hello {name}"));
    }
    // An empty frame ends the requests; the service ends, the gateway closes.
    socket.send(Message::text("")).await.unwrap();
    let (code, _) = close(next(&mut socket).await);
    assert_eq!(code, CloseCode::Normal);
    gateway.stop().await;
}

#[tokio::test]
async fn client_stream_over_a_websocket() {
    let (_world, _services, gateway, _) = setup().await;
    let mut socket = gateway
        .websocket("/api/com.example.srv.greeter/Greeter.Collect")
        .await;
    for name in ["a", "b"] {
        let request = format!(r#"{{"name":"{name}"}}"#);
        socket.send(Message::text(request)).await.unwrap();
    }
    socket.send(Message::text("")).await.unwrap();
    assert_eq!(text(next(&mut socket).await)["greeting"], "Hello a, b");
    let (code, _) = close(next(&mut socket).await);
    assert_eq!(code, CloseCode::Normal);
    gateway.stop().await;
}

#[tokio::test]
async fn client_stream_as_a_json_lines_post() {
    let (_world, _services, gateway, _) = setup().await;
    let answer = gateway
        .post(
            "/api/greeter/collect",
            "{\"name\":\"a\"}\n{\"name\":\"b\"}\n",
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.json()["greeting"], "Hello a, b");

    // One object (however laid out) is one request.
    let answer = gateway
        .post("/api/greeter/collect", "{\n  \"name\": \"a\"\n}")
        .await;
    assert_eq!(answer.json()["greeting"], "Hello a");

    let detail = gateway
        .post("/api/greeter/collect", "{\"name\":\"a\"}\n{\"name\": }\n")
        .await
        .error(400, 400);
    assert!(detail.starts_with("line 2 "), "{detail}");

    // Without a WebSocket or a body to read requests from.
    let detail = gateway.get("/api/greeter/collect").await.error(400, 400);
    assert!(detail.contains("WebSocket"), "{detail}");

    // Bidi too: the answers stream back as JSON lines.
    let answer = stream(
        &gateway,
        "POST",
        "/api/greeter/chat",
        &[],
        "{\"name\":\"a\"}\n{\"name\":\"b\"}\n",
    )
    .await;
    assert_eq!(answer.content_type, "application/x-ndjson");
    let greetings: Vec<_> = answer
        .body
        .lines()
        .map(|line| json(line)["greeting"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(greetings, ["Hello a", "Hello b"]);
    gateway.stop().await;
}

#[tokio::test]
async fn a_malformed_frame_fails_the_call_and_the_gateway_serves_on() {
    let (_world, _services, gateway, _) = setup().await;
    let mut socket = gateway.websocket("/api/greeter/chat").await;
    socket.send(Message::text(r#"{"name":"a"}"#)).await.unwrap();
    assert_eq!(text(next(&mut socket).await)["greeting"], "Hello a");
    socket.send(Message::text(r#"{"name": }"#)).await.unwrap();
    let error = text(next(&mut socket).await);
    assert_eq!(error["error"]["code"], 400, "{error}");
    let detail = error["error"]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("frame 2: the request body is not valid JSON"),
        "{detail}"
    );
    let (code, reason) = close(next(&mut socket).await);
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.len() <= 123, "{reason}");
    assert!(reason.contains("\"code\":400"), "{reason}");

    // A new socket, and plain calls, still work.
    let mut socket = gateway.websocket("/api/greeter/chat").await;
    socket.send(Message::text(r#"{"name":"b"}"#)).await.unwrap();
    assert_eq!(text(next(&mut socket).await)["greeting"], "Hello b");
    let answer = gateway.post("/api/greeter/hello", r#"{"name":"c"}"#).await;
    assert_eq!(answer.json()["greeting"], "Hello c");
    gateway.stop().await;
}

#[tokio::test]
async fn an_error_closes_the_websocket_with_1011() {
    let (_world, _services, gateway, _) = setup().await;
    let mut socket = gateway
        .websocket(&format!("/api/{TICKER}/Ticker.Ticks"))
        .await;
    socket
        .send(Message::text(r#"{"count":1,"fail":true}"#))
        .await
        .unwrap();
    assert_eq!(text(next(&mut socket).await)["n"], 1);
    let error = text(next(&mut socket).await);
    assert_eq!(error["error"]["code"], 409, "{error}");
    let (code, reason) = close(next(&mut socket).await);
    assert_eq!(code, CloseCode::Error);
    assert!(reason.contains("the ticks ran out"), "{reason}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_call() {
    let (_world, _services, gateway, ended) = setup().await;
    let address = gateway.base.strip_prefix("http://").unwrap().to_owned();

    // Server-Sent Events over a bare connection, dropped after the first
    // event: the endless ticks end only when the call is cancelled.
    let body = "{}";
    let request = format!(
        "POST /api/{TICKER}/Ticker.Ticks HTTP/1.1\r\nhost: {address}\r\n\
         accept: text/event-stream\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    connection.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    within("the first event", async {
        let mut buffer = [0_u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("data:") {
            let n = connection.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    drop(connection);
    within("the call to end", ended.notified()).await;

    // The same over a WebSocket.
    let mut socket = gateway
        .websocket(&format!("/api/{TICKER}/Ticker.Ticks"))
        .await;
    socket.send(Message::text("{}")).await.unwrap();
    assert_eq!(text(next(&mut socket).await)["n"], 1);
    drop(socket);
    within("the call to end", ended.notified()).await;

    let answer = gateway.post("/api/greeter/hello", r#"{"name":"c"}"#).await;
    assert_eq!(answer.json()["greeting"], "Hello c");
    gateway.stop().await;
}

#[tokio::test]
async fn over_tcp_the_same_streams_and_cancellation() {
    use micro_runtime::registry::memory::MemoryRegistry;
    use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};

    let world = World(examples::World {
        registry: Arc::new(MemoryRegistry::new()),
        transport: Arc::new(TcpTransport::new(TcpOptions::default())),
    });
    let ended = Arc::new(Notify::new());
    let mut services = Vec::new();
    for name in [examples::SERVICE, TICKER] {
        let service = micro_runtime::Service::builder()
            .name(name)
            .version("1.0.0")
            .address("127.0.0.1:0")
            .registry(world.registry.clone())
            .transport(world.transport.clone())
            .build()
            .unwrap();
        if name == TICKER {
            service
                .handle(Ticker {
                    ended: ended.clone(),
                })
                .unwrap();
        } else {
            service.handle(examples::Greeter::default()).unwrap();
        }
        within("the service to start", service.start())
            .await
            .unwrap();
        services.push(service);
    }
    let gateway = world.gateway(GatewayOptions::new()).await;

    let answer = stream(
        &gateway,
        "GET",
        "/api/greeter/hello-stream?name=t",
        &[("accept", "text/event-stream")],
        "",
    )
    .await;
    let greetings: Vec<_> = events(&answer.body)
        .iter()
        .map(|(_, data)| json(data)["greeting"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(greetings, ["Hello t #1", "Hello t #2", "Hello t #3"]);

    let mut socket = gateway.websocket("/api/greeter/chat").await;
    for name in ["a", "b"] {
        let request = format!(r#"{{"name":"{name}"}}"#);
        socket.send(Message::text(request)).await.unwrap();
        assert_eq!(
            text(next(&mut socket).await)["greeting"],
            format!("Hello {name}")
        );
    }
    socket.send(Message::text("")).await.unwrap();
    assert_eq!(close(next(&mut socket).await).0, CloseCode::Normal);

    // JSON lines this time, read until the first line, then dropped.
    let address = gateway.base.strip_prefix("http://").unwrap().to_owned();
    let request = format!("GET /api/{TICKER}/Ticker.Ticks HTTP/1.1\r\nhost: {address}\r\n\r\n");
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    connection.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    within("the first line", async {
        let mut buffer = [0_u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("{\"n\":1}\n") {
            let n = connection.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert!(String::from_utf8_lossy(&seen).contains("application/x-ndjson"));
    drop(connection);
    within("the call to end", ended.notified()).await;

    gateway.stop().await;
    for service in services {
        within("the service to stop", service.stop()).await.unwrap();
    }
}

#[tokio::test]
async fn a_broken_websocket_handshake_is_400() {
    let (_world, _services, gateway, _) = setup().await;
    let answer = gateway
        .send(
            "GET",
            "/api/greeter/chat",
            &[("connection", "upgrade"), ("upgrade", "websocket")],
            Bytes::new(),
        )
        .await;
    let detail = answer.error(400, 400);
    assert!(
        detail.starts_with("the WebSocket handshake failed"),
        "{detail}"
    );
    gateway.stop().await;
}
