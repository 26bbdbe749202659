//! The Slack input against a local stand-in for Slack: a Web API
//! (`auth.test`, `apps.connections.open`, `chat.postMessage`) and a
//! socket-mode WebSocket fed with recorded envelopes (`tests/slack/`).
//! Slack itself cannot be reached from the tests.
#![cfg(feature = "slack")]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use micro_bot::Bot;
use micro_bot::builtin::Ping;
use micro_bot::input::{Slack, SlackOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Frame;

/// The longest any one step may take.
const LIMIT: Duration = Duration::from_secs(30);

/// One Web API call: method, bearer token, JSON body.
type Call = (String, String, Value);

/// The stand-in: calls and sockets as they arrive.
struct FakeSlack {
    api_url: String,
    calls: mpsc::UnboundedReceiver<Call>,
    sockets: mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
}

impl FakeSlack {
    async fn start() -> Self {
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!("ws://{}/link/?ticket=t", ws.local_addr().unwrap());
        let (socket_tx, sockets) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                let _ = socket_tx.send(socket);
            }
        });
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}/api", http.local_addr().unwrap());
        let (call_tx, calls) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = http.accept().await {
                tokio::spawn(answer(stream, call_tx.clone(), ws_url.clone()));
            }
        });
        FakeSlack {
            api_url,
            calls,
            sockets,
        }
    }

    async fn call(&mut self) -> Call {
        tokio::time::timeout(LIMIT, self.calls.recv())
            .await
            .expect("a Web API call in time")
            .expect("the fake runs")
    }

    async fn socket(&mut self) -> WebSocketStream<TcpStream> {
        tokio::time::timeout(LIMIT, self.sockets.recv())
            .await
            .expect("a socket-mode connection in time")
            .expect("the fake runs")
    }
}

/// Answers one HTTP/1.1 request as Slack's Web API would.
async fn answer(mut stream: TcpStream, calls: mpsc::UnboundedSender<Call>, ws_url: String) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the request ended early");
        bytes.extend_from_slice(&buf[..n]);
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while bytes.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        bytes.extend_from_slice(&buf[..n]);
    }
    let path = head.split(' ').nth(1).unwrap_or_default();
    let method = path.rsplit('/').next().unwrap_or_default().to_owned();
    let token = header("authorization")
        .trim_start_matches("Bearer ")
        .to_owned();
    let body: Value =
        serde_json::from_slice(&bytes[head_end..head_end + length]).unwrap_or(Value::Null);
    let reply = match method.as_str() {
        "auth.test" => {
            json!({"ok": true, "user_id": "U0BOT", "bot_id": "B0BOT", "team_id": "T0TEAM"})
        }
        "apps.connections.open" => json!({"ok": true, "url": ws_url}),
        "chat.postMessage" => {
            json!({"ok": true, "channel": body["channel"], "ts": "1700000099.000100"})
        }
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    let _ = calls.send((method, token, body));
    let reply = reply.to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    stream.write_all(response.as_bytes()).await.unwrap();
}

async fn send(socket: &mut WebSocketStream<TcpStream>, text: &str) {
    socket.send(Frame::text(text.to_owned())).await.unwrap();
}

/// The next acknowledgement on `socket`.
async fn ack(socket: &mut WebSocketStream<TcpStream>) -> Value {
    let frame = tokio::time::timeout(LIMIT, socket.next())
        .await
        .expect("an ack in time")
        .expect("the socket is open")
        .unwrap();
    serde_json::from_str(frame.to_text().unwrap()).unwrap()
}

/// The next `chat.postMessage`: (channel, text).
async fn post(fake: &mut FakeSlack) -> (String, String) {
    let (method, token, body) = fake.call().await;
    assert_eq!(
        (method.as_str(), token.as_str()),
        ("chat.postMessage", "xoxb-test")
    );
    (
        body["channel"].as_str().unwrap().to_owned(),
        body["text"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_on_recorded_payloads() {
    let mut fake = FakeSlack::start().await;
    let options = SlackOptions {
        app_token: "xapp-test".into(),
        bot_token: "xoxb-test".into(),
        api_url: fake.api_url.clone(),
    };
    assert!(
        !format!("{options:?}").contains("xapp-test"),
        "tokens are never printed"
    );
    let bot = Bot::new()
        .commands([Arc::new(Ping) as Arc<dyn micro_bot::Command>])
        .input(Slack::new(options));
    let running = tokio::spawn(bot.run());

    let (method, token, _) = fake.call().await;
    assert_eq!(
        (method.as_str(), token.as_str()),
        ("auth.test", "xoxb-test")
    );
    let (method, token, _) = fake.call().await;
    assert_eq!(
        (method.as_str(), token.as_str()),
        ("apps.connections.open", "xapp-test")
    );
    let mut socket = fake.socket().await;
    send(
        &mut socket,
        r#"{"type":"hello","num_connections":1,"connection_info":{"app_id":"A0APP"}}"#,
    )
    .await;

    // A message in a channel: acknowledged by its envelope id, answered.
    send(&mut socket, include_str!("slack/message.json")).await;
    assert_eq!(
        ack(&mut socket).await,
        json!({"envelope_id": "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545"})
    );
    assert_eq!(post(&mut fake).await, ("C0CHAN".into(), "pong".into()));

    // Garbage, the bot's own message, an edit and the same message again
    // get no answer (the envelopes are still acknowledged); the direct
    // message after them is the next to be answered.
    send(&mut socket, "{not json").await;
    send(&mut socket, include_str!("slack/bot_message.json")).await;
    assert_eq!(
        ack(&mut socket).await["envelope_id"],
        "c0ffee00-1111-4222-8333-444455556666"
    );
    send(&mut socket, include_str!("slack/message_changed.json")).await;
    assert_eq!(
        ack(&mut socket).await["envelope_id"],
        "deadbeef-2222-4333-8444-555566667777"
    );
    send(&mut socket, include_str!("slack/message.json")).await;
    ack(&mut socket).await;
    send(&mut socket, include_str!("slack/direct_message.json")).await;
    assert_eq!(
        ack(&mut socket).await["envelope_id"],
        "a3c1e2d4-0f9b-4e8a-b7c6-d5e4f3a2b1c0"
    );
    assert_eq!(
        post(&mut fake).await,
        (
            "D0DM".into(),
            r#"error: not found (404): unknown command "frobnicate"; try "help""#.into()
        )
    );
    // A mention: the mention is not part of the command.
    send(&mut socket, include_str!("slack/app_mention.json")).await;
    ack(&mut socket).await;
    assert_eq!(
        post(&mut fake).await,
        (
            "C0CHAN".into(),
            r#"error: not found (404): unknown command "call"; try "help""#.into()
        )
    );

    // Slack asks for a refresh: the bot opens a new connection.
    send(
        &mut socket,
        r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-1"}}"#,
    )
    .await;
    let (method, token, _) = fake.call().await;
    assert_eq!(
        (method.as_str(), token.as_str()),
        ("apps.connections.open", "xapp-test")
    );
    let mut socket = fake.socket().await;
    send(&mut socket, r#"{"type":"hello","num_connections":1}"#).await;
    let again = include_str!("slack/message.json")
        .replace("dbdd0ef3-1543-4f94-bfb4-133d0e6c1545", "e-after-refresh")
        .replace("1700000000.000100", "1700000010.000100");
    send(&mut socket, &again).await;
    assert_eq!(ack(&mut socket).await["envelope_id"], "e-after-refresh");
    assert_eq!(post(&mut fake).await, ("C0CHAN".into(), "pong".into()));

    running.abort();
}
