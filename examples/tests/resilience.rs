//! The rate limit and the circuit breaker against real greeter-server
//! processes: a burst over `MICRO_RATE_LIMIT` gets 429 and recovers; a
//! client's breaker opens against a killed node and closes once it is
//! back.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Proc, SERVER, direct_server};
use examples::pb;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::resilience::{CircuitBreaker, CircuitState};
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client, Error};

const T: Duration = Duration::from_secs(30);

fn client(breaker: Option<CircuitBreaker>) -> Client {
    let mut client = Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::new(TcpOptions::default())));
    if let Some(breaker) = breaker {
        client = client.wrap(breaker);
    }
    client.build().unwrap()
}

async fn hello(client: &Client, address: &str) -> Result<String, Error> {
    pb::GreeterClient::new(examples::SERVICE, client.clone())
        .hello_with(
            pb::Request { name: "Ada".into() },
            CallOptions::new()
                .address(address)
                .timeout(Duration::from_secs(10))
                .retries(0),
        )
        .await
        .map(|r| r.greeting)
}

/// The wait a 429's detail asks for (`… retry after <n>ms`).
fn retry_after(err: &Error) -> Duration {
    let ms = err
        .detail()
        .rsplit_once("retry after ")
        .and_then(|(_, rest)| rest.strip_suffix("ms"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no retry-after in {err}"));
    Duration::from_millis(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_rate_gets_429_then_recovers() {
    let (_server, address) = direct_server(&[("MICRO_RATE_LIMIT", "10/m")]);
    let client = client(None);
    let mut refused = Vec::new();
    for _ in 0..20 {
        match hello(&client, &address).await {
            Ok(greeting) => assert_eq!(greeting, "Hello Ada"),
            Err(err) => refused.push(err),
        }
    }
    // 10 a minute, all at once: at most one more came back in the burst.
    assert!(refused.len() >= 9, "{refused:?}");
    for err in &refused {
        assert!(err.is_too_many_requests(), "{err}");
        assert!(err.detail().contains("rate limit 10/m exceeded"), "{err}");
    }
    // As told, after the wait the service answers again.
    let wait = retry_after(refused.last().unwrap());
    assert!(wait <= Duration::from_secs(6), "{wait:?}");
    tokio::time::sleep(wait).await;
    let deadline = Instant::now() + T;
    loop {
        match hello(&client, &address).await {
            Ok(greeting) => break assert_eq!(greeting, "Hello Ada"),
            Err(err) if err.is_too_many_requests() && Instant::now() < deadline => {
                tokio::time::sleep(retry_after(&err)).await;
            }
            Err(err) => panic!("{err}"),
        }
    }
}

/// A greeter-server listening on `address`.
fn server_at(address: &str) -> Proc {
    let mut cmd = std::process::Command::new(SERVER);
    cmd.env("MICRO_REGISTRY", "memory")
        .env("MICRO_SERVER_ADDRESS", address)
        .env("RUST_LOG", "warn");
    let server = Proc::spawn("greeter-server", cmd);
    server.wait_line("listening on ", T);
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_against_a_killed_node_and_closes_when_it_returns() {
    // A port of our own to come back on.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut server = server_at(&address);
    let breaker = CircuitBreaker::new(3, Duration::from_millis(200));
    let client = client(Some(breaker.clone()));
    assert_eq!(hello(&client, &address).await.unwrap(), "Hello Ada");

    server.signal("KILL");
    server.wait_exit(T);
    for _ in 0..3 {
        let err = hello(&client, &address).await.unwrap_err();
        assert!(err.is_server_error(), "{err}");
        assert!(!err.detail().contains("circuit"), "{err}");
    }
    assert_eq!(breaker.state(examples::SERVICE), CircuitState::Open);
    let err = hello(&client, &address).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.detail().contains("circuit open"), "{err}");

    let _server = server_at(&address);
    let deadline = Instant::now() + T;
    while breaker.state(examples::SERVICE) != CircuitState::HalfOpen {
        assert!(Instant::now() < deadline, "the cool-down never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The probe reaches the node again: closed.
    assert_eq!(hello(&client, &address).await.unwrap(), "Hello Ada");
    assert_eq!(breaker.state(examples::SERVICE), CircuitState::Closed);
    assert_eq!(hello(&client, &address).await.unwrap(), "Hello Ada");
}
