//! Garbage on the wire against a real greeter-server process: each bad
//! connection is closed with a logged reason, the server keeps serving, and
//! its memory returns to the baseline.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Proc, SERVER};
use examples::pb;
use micro_runtime::client::ClientOptions;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client};

fn start_server() -> (Proc, String) {
    start_server_with(&[])
}

/// A greeter-server with `env` on top of the tests' settings.
fn start_server_with(env: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = Command::new(SERVER);
    cmd.envs(env.iter().copied())
        .env("MICRO_REGISTRY", "memory")
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

/// A client holding one connection to a node, whatever its load.
fn one_connection_client() -> Client {
    let mut options = ClientOptions::default();
    options.pool.size = 1;
    options.retries = 0;
    Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::new(TcpOptions::default())))
        .options(options)
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
    // The server closes this peer: for not reading its answers, or (when
    // its reader paused first, on a loaded machine) for not answering its
    // keepalive pings. Either way the socket ends once its backlog is read.
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept a peer that never reads open for 30 s")
            }
            Err(_) => break, // reset by the server
        }
    }
    server.wait_stderr_any(
        &[
            "peer does not read its answers",
            "peer did not answer keepalive pings",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(hello(&client, &address).await, "Hello probe");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_calls_beyond_the_limits_are_refused_and_serving_goes_on() {
    let (server, address) = start_server_with(&[
        ("MICRO_TRANSPORT_MAX_CONNECTIONS", "4"),
        ("MICRO_TRANSPORT_MAX_STREAMS", "2"),
    ]);
    let client = one_connection_client();
    let greeter = pb::GreeterClient::new(examples::SERVICE, client.clone());
    let at = || {
        CallOptions::new()
            .address(&address)
            .timeout(Duration::from_secs(10))
    };

    // Two bidi calls held open fill the connection; a third is refused
    // unprocessed (the client could send it to another node).
    let first = greeter.chat_with(at()).await.unwrap();
    let second = greeter.chat_with(at()).await.unwrap();
    let refused = match greeter.chat_with(at()).await {
        Ok(mut third) => third.recv().await.expect_err("a third call was served"),
        Err(error) => error,
    };
    assert_eq!(refused.code(), 503, "{refused}");
    assert!(refused.detail().contains("2 calls in flight"), "{refused}");
    assert!(refused.is_not_sent(), "{refused:?}");
    drop((first, second));

    // The client's connection and three idle ones fill the server; a
    // fifth is closed as it arrives.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut socket = TcpStream::connect(&address).unwrap();
            socket.write_all(b"MICRO/1\n").unwrap();
            socket
        })
        .collect();
    let surplus = tokio::task::spawn_blocking({
        let address = address.clone();
        move || closed_by_server(&address, b"MICRO/1\n")
    });
    tokio::time::timeout(Duration::from_secs(20), surplus)
        .await
        .expect("the surplus connection was closed")
        .unwrap();
    server.wait_stderr("at the limit of 4 connections", Duration::from_secs(10));
    drop(idle);
    assert_eq!(hello(&client, &address).await, "Hello probe");
    drop(server);
}

/// The soft limit of open files of this process (from /proc).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_returns_after_bursts_of_connections() {
    let (server, address) = start_server();
    let client = direct_client();
    for _ in 0..200 {
        hello(&client, &address).await;
    }
    let baseline = server.rss_kib();
    // Up to 2,000 connections a burst, as the open-file limits allow
    // (the server holds one descriptor a connection too).
    let burst = 2000.min(open_files_limit().saturating_sub(200) / 2);
    // A preface and an empty SETTINGS frame.
    let hello_frames = b"MICRO/1\n\0\0\0\0\0\0\0\0\0\0";
    for round in 0..3 {
        let sockets = tokio::task::spawn_blocking({
            let address = address.clone();
            move || {
                (0..burst)
                    .map(|i| {
                        let mut socket = TcpStream::connect(&address).unwrap();
                        if i % 2 == 0 {
                            socket.write_all(hello_frames).unwrap();
                        }
                        socket
                    })
                    .collect::<Vec<_>>()
            }
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!(
            "burst {round}: {burst} connections, server RSS {} KiB",
            server.rss_kib()
        );
        drop(sockets);
    }
    assert_eq!(hello(&client, &address).await, "Hello probe");
    let bound = 2 * baseline + 20 * 1024;
    let mut rss = server.rss_kib();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rss > bound && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        rss = server.rss_kib();
    }
    println!("server RSS: baseline {baseline} KiB, after the bursts {rss} KiB (bound {bound} KiB)");
    assert!(rss <= bound, "RSS grew from {baseline} KiB to {rss} KiB");
    drop(server);
}
