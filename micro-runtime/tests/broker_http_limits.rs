//! The HTTP broker's subscriber under abuse: connections that send half a
//! header or a short body are closed after the read timeout, connections
//! beyond the limit are closed as they arrive, deliveries without the
//! subscription's token are refused (and never dead-lettered), and
//! deliveries go on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use micro_runtime::broker::http::{HttpBroker, HttpBrokerOptions};
use micro_runtime::broker::{Broker, Message, SubscribeOptions};
use micro_runtime::registry::Registry;
use micro_runtime::registry::memory::MemoryRegistry;

/// How long the subscriber waits for headers, then for a body.
const READ_TIMEOUT: Duration = Duration::from_millis(500);
/// Connections the subscriber serves at once.
const MAX_CONNECTIONS: usize = 20;

/// Waits (at most 10 s) until the server closes `socket`; what it said.
fn closed_by_server(mut socket: TcpStream) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut said = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&said).into_owned(),
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&said).into_owned();
            }
            Err(e) => panic!("the subscriber kept the connection open: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_surplus_connections_are_closed_and_deliveries_go_on() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let broker = HttpBroker::new(
        registry.clone(),
        HttpBrokerOptions {
            address: "127.0.0.1:0".into(),
            read_timeout: READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            ..HttpBrokerOptions::default()
        },
    );
    let mut subscription = broker
        .subscribe("limits", SubscribeOptions::default())
        .await
        .unwrap();
    let nodes = registry
        .get_service(&HttpBroker::subscribers_service("limits"))
        .await
        .unwrap();
    let node = nodes[0].nodes[0].clone();
    let (address, inbox) = (node.address, format!("/_sub/{}", node.id));
    let token = node.metadata["token"].clone();

    let attack = tokio::task::spawn_blocking(move || {
        // Half a header on every slot and beyond: the surplus is closed
        // at once, the rest when the read timeout passes.
        let half: Vec<TcpStream> = (0..MAX_CONNECTIONS + 10)
            .map(|_| {
                let mut socket = TcpStream::connect(&address).unwrap();
                socket
                    .write_all(b"POST /_sub/x HTTP/1.1\r\nHost: a\r\n")
                    .unwrap();
                socket
            })
            .collect();
        for socket in half {
            closed_by_server(socket);
        }
        // A whole header promising a body that never comes.
        let mut short = TcpStream::connect(&address).unwrap();
        short
            .write_all(
                format!(
                    "POST {inbox} HTTP/1.1\r\nHost: a\r\nX-Micro-Broker-Token: {token}\r\n\
                     Content-Length: 100\r\n\r\n0123456789"
                )
                .as_bytes(),
            )
            .unwrap();
        closed_by_server(short)
    });
    let said = tokio::time::timeout(Duration::from_secs(60), attack)
        .await
        .expect("the attack ended within 60 s")
        .unwrap();
    assert!(
        said.starts_with("HTTP/1.1 408") && said.contains("did not arrive"),
        "answer to a body that never came: {said:?}"
    );

    // Deliveries go on (a publish returns once the subscriber settled it).
    let publisher = broker.clone();
    let published = tokio::spawn(async move {
        publisher
            .publish("limits", Message::new(&b"after"[..]))
            .await
    });
    let delivery = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("a delivery within 10 s")
        .expect("the subscription is open");
    assert_eq!(&delivery.message.body[..], b"after");
    delivery.ack().await.unwrap();
    published.await.unwrap().unwrap();
}

/// POSTs `body` to `url` with curl (a real HTTP client in another process),
/// with `headers`; the status code and the answer.
fn curl_post(url: &str, headers: &[String], body: &[u8]) -> (u16, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--data-binary",
        "@-",
    ])
    .args(["-H", "Content-Type: application/x-micro-broker"]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    let mut child = cmd
        .arg(url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (answer, code) = text.rsplit_once('\n').expect("curl printed the status");
    (
        code.trim().parse().expect("a status code"),
        answer.to_owned(),
    )
}

/// A valid envelope (headers as JSON, then the body) whose body does not
/// decode as the subscriber's protobuf type.
fn forged_envelope() -> Vec<u8> {
    let headers = br#"{"content-type":"application/protobuf","micro-topic":"orders"}"#;
    let mut body = (headers.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(headers);
    body.extend_from_slice(&[0x0a, 0xff, 0xff]);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_deliveries_are_refused_and_never_dead_lettered() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let broker = HttpBroker::new(
        registry.clone(),
        HttpBrokerOptions {
            address: "127.0.0.1:0".into(),
            ..HttpBrokerOptions::default()
        },
    );
    let mut orders = broker
        .subscribe("orders", SubscribeOptions::default())
        .await
        .unwrap();
    let mut dead = broker
        .subscribe("orders.dead-letter", SubscribeOptions::default())
        .await
        .unwrap();
    let nodes = registry
        .get_service(&HttpBroker::subscribers_service("orders"))
        .await
        .unwrap();
    let node = nodes[0].nodes[0].clone();
    let url = format!("http://{}/_sub/{}", node.address, node.id);
    let token = node.metadata["token"].clone();
    assert_eq!(token.len(), 32, "128 bits in hex: {token}");

    let attacks = tokio::task::spawn_blocking(move || {
        let forged = forged_envelope();
        let without = curl_post(&url, &[], &forged);
        let wrong = curl_post(
            &url,
            &[format!("X-Micro-Broker-Token: {}", "0".repeat(32))],
            &forged,
        );
        (without, wrong)
    });
    let ((without, why_without), (wrong, why_wrong)) = attacks.await.unwrap();
    assert_eq!(without, 401, "{why_without}");
    assert!(why_without.contains("token"), "{why_without}");
    assert_eq!(wrong, 403, "{why_wrong}");

    // Real publishers read the token from the registry: their messages
    // arrive, and are the first to (the forged ones never did).
    // (A publish returns once the subscriber settled the message.)
    let publisher = broker.clone();
    let published = tokio::spawn(async move {
        publisher
            .publish("orders", Message::new(&b"real"[..]))
            .await
    });
    let first = tokio::time::timeout(Duration::from_secs(10), orders.next())
        .await
        .expect("a delivery within 10 s")
        .expect("the subscription is open");
    assert_eq!(&first.message.body[..], b"real");
    first.ack().await.unwrap();
    published.await.unwrap().unwrap();
    // Nothing was moved aside: the first dead letter is one published there.
    let publisher = broker.clone();
    tokio::spawn(async move {
        publisher
            .publish("orders.dead-letter", Message::new(&b"marker"[..]))
            .await
    });
    let moved = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .expect("the marker within 10 s")
        .expect("the subscription is open");
    assert_eq!(&moved.message.body[..], b"marker");
    moved.ack().await.unwrap();
}
