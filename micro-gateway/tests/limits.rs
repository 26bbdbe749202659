//! The rate limit per client address (429 with `Retry-After`) and the
//! limit on calls in flight per service (503), through a real gateway on
//! 127.0.0.1 to real services (in-process, memory registry and
//! transport).

mod common;

use std::time::Duration;

use common::{Answer, SLOW_SERVICE, World};
use futures_util::{SinkExt, StreamExt};
use micro_gateway::{GatewayOptions, RateLimit};
use tokio_tungstenite::tungstenite::Message;

const HELLO: &str = "/api/greeter/hello";
const NAMED: &str = r#"{"name":"John"}"#;

/// The `Retry-After` of a 429, in seconds.
#[track_caller]
fn retry_after(answer: &Answer) -> u64 {
    let detail = answer.error(429, 429);
    assert!(detail.contains("per client address"), "{detail}");
    let seconds: u64 = answer
        .headers
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(seconds >= 1, "{seconds}");
    seconds
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_then_is_served_again() {
    let world = World::new();
    let _services = world.services().await;
    let rate = RateLimit::per_second(5).unwrap();
    let gateway = world.gateway(GatewayOptions::new().rate_limit(rate)).await;
    // Five at once (the burst), then one each 200 ms: requests sent back
    // to back run over it within a few more.
    let mut served = 0;
    let limited = loop {
        let answer = gateway.post(HELLO, NAMED).await;
        if answer.status != 200 {
            break answer;
        }
        served += 1;
        assert!(served < 200, "no 429 after {served} requests at 5/s");
    };
    assert!(served >= 5, "only {served} served before the first 429");
    let wait = retry_after(&limited);
    assert!(
        limited.json()["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "{}",
        limited.json()
    );
    // Every route counts, /health too.
    retry_after(&gateway.get("/health").await);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let answer = gateway.post(HELLO, NAMED).await;
    assert_eq!(answer.status, 200, "{}", answer.json());
    assert_eq!(answer.json()["greeting"], "Hello John");
    gateway.stop().await;
}

/// `POST /api/greeter/hello` as the client at `address` (by
/// `X-Forwarded-For`).
async fn hello_from(gateway: &common::Caller, address: &str) -> Answer {
    gateway
        .send(
            "POST",
            HELLO,
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", address),
            ],
            NAMED,
        )
        .await
}

#[tokio::test]
async fn each_client_address_has_its_own_budget() {
    let world = World::new();
    let _services = world.services().await;
    let rate: RateLimit = "2/m".parse().unwrap();
    // Behind a trusted proxy: the client is the last X-Forwarded-For.
    let proxied = world
        .gateway(GatewayOptions::new().rate_limit(rate).trust_forwarded(true))
        .await;
    for _ in 0..2 {
        assert_eq!(hello_from(&proxied, "192.0.2.1").await.status, 200);
    }
    let limited = hello_from(&proxied, "192.0.2.1").await;
    retry_after(&limited);
    assert!(limited.body.windows(9).any(|w| w == b"192.0.2.1"));
    // Other clients are served.
    assert_eq!(hello_from(&proxied, "192.0.2.2").await.status, 200);
    assert_eq!(
        hello_from(&proxied, "10.0.0.1, 192.0.2.3").await.status,
        200
    );
    // The proxy's own entry is the last one: what the client wrote before
    // it does not buy a fresh budget.
    retry_after(&hello_from(&proxied, "203.0.113.9, 192.0.2.1").await);

    // Without trust, X-Forwarded-For is the client's own word: ignored.
    let direct = world.gateway(GatewayOptions::new().rate_limit(rate)).await;
    assert_eq!(hello_from(&direct, "192.0.2.1").await.status, 200);
    assert_eq!(hello_from(&direct, "192.0.2.2").await.status, 200);
    retry_after(&hello_from(&direct, "192.0.2.3").await);
    proxied.stop().await;
    direct.stop().await;
}

#[tokio::test]
async fn a_call_beyond_the_in_flight_limit_answers_503_at_once() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new().max_concurrent(1)).await;
    let slow_path = format!("/api/{SLOW_SERVICE}/Greeter.Hello");
    let slow = {
        let http = gateway.caller();
        let path = slow_path.clone();
        tokio::spawn(async move {
            // A probe may hold the one place for a moment: try again.
            loop {
                let answer = http.post(&path, NAMED).await;
                if answer.status != 503 {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // Probes with a short deadline: 503 once the slow call holds the place
    // (504 when a probe got it first and its deadline passed).
    let mut probes = 0;
    let refused = loop {
        let answer = gateway
            .send("POST", &slow_path, &[("timeout", "100ms")], NAMED)
            .await;
        if answer.status == 503 {
            break answer;
        }
        answer.error(504, 408);
        probes += 1;
        assert!(probes < 40, "the slow call never held its place");
    };
    let detail = refused.error(503, 503);
    assert!(detail.contains("calls in flight"), "{detail}");
    assert!(detail.contains(SLOW_SERVICE), "{detail}");
    // The limit is per service: the greeter is served meanwhile.
    assert_eq!(gateway.post(HELLO, NAMED).await.status, 200);
    let done = tokio::time::timeout(Duration::from_secs(30), slow)
        .await
        .expect("the slow call ends")
        .unwrap();
    assert_eq!(done.status, 200, "{}", done.json());
    // Its place is free again.
    let answer = gateway.post(&slow_path, NAMED).await;
    assert_eq!(answer.json()["greeting"], "Hello John");
    gateway.stop().await;
}

#[tokio::test]
async fn an_open_stream_holds_its_place() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new().max_concurrent(1)).await;
    let mut socket = gateway.websocket("/api/greeter/chat").await;
    socket.send(Message::text(r#"{"name":"a"}"#)).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .expect("an answer")
        .unwrap()
        .unwrap();
    assert_eq!(frame, Message::text(r#"{"greeting":"Hello a"}"#));
    // The chat is open: the greeter has no place left.
    let detail = gateway.post(HELLO, NAMED).await.error(503, 503);
    assert!(detail.contains("--max-concurrent"), "{detail}");
    // Server-sent events count too.
    let events = gateway
        .send(
            "GET",
            "/api/greeter/hello-stream?name=x",
            &[("accept", "text/event-stream")],
            "",
        )
        .await;
    events.error(503, 503);
    socket.close(None).await.unwrap();
    drop(socket);
    // The place is given back once the gateway has seen the socket close.
    let mut tries = 0;
    loop {
        let answer = gateway.post(HELLO, NAMED).await;
        if answer.status == 200 {
            assert_eq!(answer.json()["greeting"], "Hello John");
            break;
        }
        answer.error(503, 503);
        tries += 1;
        assert!(tries < 200, "the chat's place was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway.stop().await;
}
