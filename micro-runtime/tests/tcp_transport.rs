//! The native TCP protocol: size limits, flow control, keepalive, graceful
//! shutdown, and garbage on the wire.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{EchoClient, Kind, Msg, World, within_10s};
use micro_runtime::CallOptions;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{Client, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn oversized_messages_are_413_and_the_connection_survives() {
    let mut world = World::new(Kind::Tcp);
    world.echo("echo").await;
    let client = world.client();
    let echo = EchoClient::new("echo", client.clone());
    assert_eq!(echo.say(Msg::text("warm")).await.unwrap().text, "warm");
    let big = "x".repeat(5 * 1024 * 1024);
    let err = echo.say(Msg::text(big)).await.unwrap_err();
    assert_eq!(err.code(), 413, "{err}");
    assert!(err.detail().contains("frame limit"), "{err}");
    assert_eq!(echo.say(Msg::text("after")).await.unwrap().text, "after");
    assert_eq!(
        client.open_connections(),
        1,
        "the same connection keeps serving"
    );
    world.stop().await;
}

/// Encodes one frame as documented in `micro_runtime::transport::tcp`.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A unary request head for `service`/`endpoint`, protobuf, no deadline.
fn head(service: &str, endpoint: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for s in [service, endpoint] {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out
}

/// Reads frames until one on `stream` arrives: (kind, flags, payload).
async fn read_frame_on(socket: &mut TcpStream, stream: u32) -> (u8, u8, Vec<u8>) {
    loop {
        let mut header = [0u8; 10];
        socket.read_exact(&mut header).await.unwrap();
        let len = u32::from_be_bytes(header[0..4].try_into().unwrap()) as usize;
        let id = u32::from_be_bytes(header[6..10].try_into().unwrap());
        let mut payload = vec![0u8; len];
        socket.read_exact(&mut payload).await.unwrap();
        if id == stream {
            return (header[4], header[5], payload);
        }
    }
}

#[tokio::test]
async fn an_oversized_frame_fails_its_call_with_413_and_the_connection_lives() {
    // The server accepts 1 MiB frames; a raw peer ignores its SETTINGS.
    let registry = Arc::new(MemoryRegistry::new());
    let service = Service::builder()
        .name("echo")
        .address("127.0.0.1:0")
        .registry(registry)
        .transport(Arc::new(TcpTransport::new(TcpOptions {
            max_frame_size: 1024 * 1024,
            ..TcpOptions::default()
        })))
        .build()
        .unwrap();
    let mut world = World::new(Kind::Tcp);
    let (service, _) = world.add_echo(service).await;
    let address = service.address().await.unwrap();
    let mut socket = TcpStream::connect(&address).await.unwrap();
    socket.write_all(b"MICRO/1\n").await.unwrap();
    let mut big = head("echo", "Echo.Say");
    big.resize(2 * 1024 * 1024, 0);
    socket.write_all(&frame(1, 0x01, 1, &big)).await.unwrap();
    let (kind, flags, payload) =
        within_10s("413 for stream 1", read_frame_on(&mut socket, 1)).await;
    assert_eq!((kind, flags & 0x04), (3, 0x04), "END with ERROR");
    let err = micro_runtime::Error::from_json(&payload);
    assert_eq!(err.code(), 413, "{err}");
    // Same connection, next call: Debug.Health answers.
    socket
        .write_all(&frame(1, 0x01, 3, &head("echo", "Debug.Health")))
        .await
        .unwrap();
    let (kind, flags, _) = within_10s("health on stream 3", read_frame_on(&mut socket, 3)).await;
    assert_eq!((kind, flags & 0x01), (2, 0x01), "MESSAGE with END_STREAM");
    world.stop().await;
}

#[tokio::test]
async fn a_slow_reader_bounds_what_the_writer_sends() {
    use prost::Message as _;
    let mut world = World::new(Kind::Tcp);
    let (_, signals) = world.echo("echo").await;
    let echo = EchoClient::new("echo", world.client());
    // The window counts bytes: each flooded message costs its encoded
    // length plus the per-message overhead.
    let window = TcpOptions::default().stream_window as usize;
    let cost = Msg::text("x".repeat(1024)).encoded_len()
        + micro_runtime::transport::MESSAGE_OVERHEAD as usize;
    let ahead = window / cost;
    let mut stream = echo
        .flood(Msg {
            text: String::new(),
            n: 1024,
        })
        .await
        .unwrap();
    let reads = ahead * 3;
    for read in 0..reads {
        // The writer may be ahead by at most its window (plus the message it
        // is blocked sending), however long the reader takes.
        let sent = signals.flooded.load(Ordering::SeqCst);
        assert!(
            sent <= read + ahead + 1,
            "sent {sent} while {read} were read ({ahead} fit the window)"
        );
        stream.recv().await.unwrap().unwrap();
    }
    // Credit returns in batches of at least half a window: wait until the
    // writer has used every credit it got, then check it stopped there.
    let batch = (window / 2).div_ceil(cost);
    let granted = window + (reads / batch) * batch * cost;
    let expected = granted / cost + 1;
    within_10s("the writer using its credit", async {
        while signals.flooded.load(Ordering::SeqCst) < expected {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(signals.flooded.load(Ordering::SeqCst), expected);
    drop(stream);
    world.stop().await;
}

#[tokio::test]
async fn keepalive_detects_a_peer_that_stopped_answering() {
    // A "server" that accepts, reads whatever comes, and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut sink = vec![0u8; 4096];
        while socket.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let client = Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::new(TcpOptions {
            keepalive_interval: Duration::from_millis(100),
            keepalive_timeout: Duration::from_millis(300),
            ..TcpOptions::default()
        })))
        .build()
        .unwrap();
    let echo = EchoClient::new("echo", client);
    let err = echo
        .say_with(
            Msg::text("anyone?"),
            CallOptions::new()
                .address(address)
                .timeout(Duration::from_secs(30))
                .retries(0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(err.detail().contains("lost"), "{err}");
}

#[tokio::test]
async fn stopping_a_node_under_load_fails_no_call() {
    let mut world = World::new(Kind::Tcp);
    let (first, _) = world.echo("echo").await;
    world.echo("echo").await;
    let echo = EchoClient::new("echo", world.client());
    let calls = tokio::spawn(async move {
        let mut failures = Vec::new();
        for i in 0..400 {
            if let Err(err) = echo
                .say(Msg {
                    text: "x".into(),
                    n: i,
                })
                .await
            {
                failures.push(err.to_string());
            }
            if i % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
        failures
    });
    tokio::task::yield_now().await;
    first.stop().await.unwrap();
    let failures = calls.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    world.services.remove(0);
    world.stop().await;
}

/// Connects and sends raw bytes; returns what the server did.
async fn send_raw(address: &str, bytes: &[u8]) -> std::io::Result<usize> {
    let mut socket = TcpStream::connect(address).await?;
    socket.write_all(bytes).await?;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(total),
            Ok(Ok(n)) => total += n,
            Err(_) => panic!("the server kept a garbage connection open"),
        }
    }
}

#[tokio::test]
async fn garbage_closes_only_its_own_connection() {
    let mut world = World::new(Kind::Tcp);
    let (service, _) = world.echo("echo").await;
    let address = service.address().await.unwrap();
    let echo = EchoClient::new("echo", world.client());
    assert_eq!(echo.say(Msg::text("before")).await.unwrap().text, "before");

    // Not our protocol at all.
    send_raw(&address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Random bytes after a valid preface.
    let mut noise = b"MICRO/1\n".to_vec();
    noise.extend((0..4096).map(|_| fastrand::u8(..)));
    send_raw(&address, &noise).await.unwrap();
    // A header announcing 1 GiB.
    let mut huge = b"MICRO/1\n".to_vec();
    huge.extend_from_slice(&[0x40, 0, 0, 0, 1, 0x01, 0, 0, 0, 1]);
    send_raw(&address, &huge).await.unwrap();

    assert_eq!(echo.say(Msg::text("after")).await.unwrap().text, "after");
    world.stop().await;
}
