//! Garbage on the wire against a real greeter-server process: each bad
//! connection is closed with a logged reason, the server keeps serving, and
//! its memory returns to the baseline.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Proc, SERVER};
use examples::pb;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client};

fn start_server() -> (Proc, String) {
    let mut cmd = Command::new(SERVER);
    cmd.env("MICRO_REGISTRY", "memory")
        .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
        .env("MICRO_TRANSPORT_KEEPALIVE", "300ms")
        .env("RUST_LOG", "micro_runtime=warn");
    let server = Proc::spawn("greeter-server", cmd);
    let line = server.wait_line("listening on ", Duration::from_secs(20));
    let address = line.trim_start_matches("listening on ").to_owned();
    (server, address)
}

/// A client for calls at an address (no discovery).
fn direct_client() -> Client {
    Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::new(TcpOptions::default())))
        .build()
        .unwrap()
}

/// Hello, straight at `address` (no discovery).
async fn hello(client: &Client, address: &str) -> String {
    pb::GreeterClient::new(examples::SERVICE, client.clone())
        .hello_with(
            pb::Request {
                name: "probe".into(),
            },
            CallOptions::new()
                .address(address)
                .timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap_or_else(|e| panic!("the server stopped serving: {e}"))
        .greeting
}

/// Sends `bytes` and waits (bounded) for the server to close the connection.
fn closed_by_server(address: &str, bytes: &[u8]) {
    let mut socket = TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket.write_all(bytes).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("server kept the connection open: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_connections_close_alone_and_memory_returns_to_baseline() {
    let (server, address) = start_server();
    let client = direct_client();
    assert_eq!(hello(&client, &address).await, "Hello probe");
    // Warm the server up so the baseline includes its steady state.
    for _ in 0..200 {
        hello(&client, &address).await;
    }
    let baseline = server.rss_kib();

    // Random bytes instead of a preface.
    let noise: Vec<u8> = (0..8192).map(|_| fastrand::u8(..)).collect();
    closed_by_server(&address, &noise);
    // Random bytes after a valid preface.
    let mut after_preface = b"MICRO/1\n".to_vec();
    after_preface.extend(&noise);
    closed_by_server(&address, &after_preface);
    // A frame header announcing 1 GiB.
    let mut huge = b"MICRO/1\n".to_vec();
    huge.extend_from_slice(&[0x40, 0, 0, 0, 1, 0x01, 0, 0, 0, 1]);
    closed_by_server(&address, &huge);
    // Half a frame, then silence: the keepalive timeout closes it.
    let mut half = b"MICRO/1\n".to_vec();
    half.extend_from_slice(&[0, 0, 1, 0, 1, 0x01, 0, 0, 0, 1, 1, 2, 3]);
    closed_by_server(&address, &half);
    assert_eq!(hello(&client, &address).await, "Hello probe");

    // 1,000 connections opened and dropped.
    let started = Instant::now();
    for i in 0..1000 {
        let mut socket = TcpStream::connect(&address).unwrap();
        if i % 2 == 0 {
            let _ = socket.write_all(b"MICRO/1\n");
        }
    }
    println!(
        "1000 connections opened and dropped in {:?}",
        started.elapsed()
    );
    assert_eq!(hello(&client, &address).await, "Hello probe");

    // Memory: back near the baseline once the dropped connections are gone.
    let mut rss = server.rss_kib();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rss > baseline + 8 * 1024 && Instant::now() < deadline {
        hello(&client, &address).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss = server.rss_kib();
    }
    println!("server RSS: baseline {baseline} KiB, after garbage {rss} KiB");
    assert!(
        rss <= baseline + 8 * 1024,
        "RSS grew from {baseline} KiB to {rss} KiB"
    );

    let stderr = server.stderr();
    for reason in ["bad preface", "protocol error", "1073741824", "keepalive"] {
        assert!(
            stderr.contains(reason),
            "no logged reason {reason:?} in:\n{stderr}"
        );
    }
    drop(server);
}

/// Hello carrying `metadata`, straight at `address`: the error it gets.
async fn hello_with_metadata(
    client: &Client,
    address: &str,
    metadata: impl Iterator<Item = (String, String)>,
) -> micro_runtime::Error {
    let mut options = CallOptions::new()
        .address(address)
        .timeout(Duration::from_secs(10));
    for (key, value) in metadata {
        options = options.metadata(key, value);
    }
    pb::GreeterClient::new(examples::SERVICE, client.clone())
        .hello_with(pb::Request { name: "x".into() }, options)
        .await
        .expect_err("a head over the limits was served")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_over_the_metadata_limits_get_431_and_the_server_keeps_serving() {
    let (server, address) = start_server();
    let client = direct_client();

    // 65,535 keys (the most a head can say): refused on the count alone,
    // before one key is decoded.
    let many = (0..u16::MAX).map(|i| (format!("k{i:05}"), "v".to_owned()));
    let error = hello_with_metadata(&client, &address, many).await;
    assert_eq!(error.code(), 431, "{error}");
    assert!(error.detail().contains("65535 metadata entries"), "{error}");
    assert_eq!(hello(&client, &address).await, "Hello probe");

    // Few keys, long values: over the 64 KiB head.
    let long = (0..100).map(|i| (format!("k{i}"), "v".repeat(1000)));
    let error = hello_with_metadata(&client, &address, long).await;
    assert_eq!(error.code(), 431, "{error}");
    assert!(error.detail().contains("65536 bytes"), "{error}");
    assert_eq!(hello(&client, &address).await, "Hello probe");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_sends_without_reading_is_held_back_and_closed() {
    let (server, address) = start_server();
    let client = direct_client();
    assert_eq!(hello(&client, &address).await, "Hello probe");
    let baseline = server.rss_kib();

    // PINGs, each answered by a PING that this peer never reads: 1 MiB of
    // them per write, up to 256 MiB or until the server stops taking them.
    let ping: [u8; 18] = [0, 0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let batch: Vec<u8> = ping.iter().copied().cycle().take(18 << 16).collect();
    let mut socket = TcpStream::connect(&address).unwrap();
    socket
        .set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    socket.write_all(b"MICRO/1\n").unwrap();
    let mut sent = 0usize;
    while sent < 256 << 20 {
        match socket.write_all(&batch) {
            Ok(()) => sent += batch.len(),
            Err(_) => break, // held back (timed out), or closed by the server
        }
    }
    let rss = server.rss_kib();
    println!(
        "sent {} MiB of pings; server RSS {baseline} KiB before, {rss} KiB after",
        sent >> 20
    );
    assert!(
        rss <= baseline + 64 * 1024,
        "RSS grew from {baseline} KiB to {rss} KiB"
    );
    server.wait_stderr("peer does not read its answers", Duration::from_secs(20));
    assert_eq!(hello(&client, &address).await, "Hello probe");
    drop(socket);
    drop(server);
}
