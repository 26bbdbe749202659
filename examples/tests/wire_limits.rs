//! Limits a server puts on its connections, against a real greeter-server
//! process: the budget of bytes all connections may hold in partly received
//! frames (`MICRO_TRANSPORT_MAX_PENDING_BYTES`), and the close of idle
//! connections (`MICRO_TRANSPORT_IDLE_TIMEOUT`) that clients never notice.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Proc, SERVER};
use examples::pb;
use micro_runtime::client::ClientOptions;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client};

const MIB: usize = 1024 * 1024;

/// A greeter-server on 127.0.0.1 with `env` on top; it and its address.
fn start_server(env: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = Command::new(SERVER);
    cmd.env("MICRO_REGISTRY", "memory")
        .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
        .env("RUST_LOG", "micro_runtime=warn")
        .envs(env.iter().copied());
    let server = Proc::spawn("greeter-server", cmd);
    let line = server.wait_line("listening on ", Duration::from_secs(20));
    let address = line.trim_start_matches("listening on ").to_owned();
    (server, address)
}

/// A client with one connection per node and no retries: a call that the
/// transport fails is a failed call.
fn strict_client() -> Client {
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

fn at(address: &str) -> CallOptions {
    CallOptions::new()
        .address(address)
        .timeout(Duration::from_secs(10))
}

async fn hello(client: &Client, address: &str) -> String {
    pb::GreeterClient::new(examples::SERVICE, client.clone())
        .hello_with(pb::Request { name: "A".into() }, at(address))
        .await
        .unwrap_or_else(|e| panic!("the call failed: {e}"))
        .greeting
}

/// The most resident memory the process ever had, in KiB.
fn peak_rss_kib(server: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Connects, sends the preface, a header announcing `announced` bytes and
/// `sent` of them; once every connection sent its part and the test had
/// its look (`all_sent`, `measured`), says it sends nothing more, and reads
/// until the server closes (it took all the bytes, or refused to hold
/// them). Until then the server holds every partial frame at once.
fn partial_frame(
    address: &str,
    announced: usize,
    sent: usize,
    all_sent: &Barrier,
    measured: &Barrier,
) {
    let mut socket = TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut start = b"MICRO/1\n".to_vec();
    start.extend_from_slice(&(announced as u32).to_be_bytes());
    start.extend_from_slice(&[2, 0, 0, 0, 0, 1]); // MESSAGE on stream 1
    let chunk = vec![7u8; 64 * 1024];
    let written = socket.write_all(&start).is_ok()
        && (0..sent / chunk.len()).all(|_| socket.write_all(&chunk).is_ok());
    all_sent.wait();
    measured.wait();
    if written {
        let _ = socket.shutdown(Shutdown::Write);
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// Waits (at most 30 s) until the server has read every byte sent to
/// `port`: no established connection to it has bytes unsent, nor unread by
/// the server (`/proc/net/tcp`: `tx_queue:rx_queue` of both ends).
fn wait_until_read(port: u16) {
    let port = format!(":{port:04X}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let queued = table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (tx, rx) = fields[4].split_once(':').unwrap();
            let server_unread = fields[1].ends_with(&port) && rx != "00000000";
            let client_unsent = fields[2].ends_with(&port) && tx != "00000000";
            fields[3] == "01" && (server_unread || client_unsent)
        });
        if !queued {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server left bytes unread for 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn partial_frames_of_many_connections_stay_within_the_listener_budget() {
    let budget = 8 * MIB;
    let (server, address) =
        start_server(&[("MICRO_TRANSPORT_MAX_PENDING_BYTES", &budget.to_string())]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = strict_client();
    for _ in 0..50 {
        runtime.block_on(hello(&client, &address));
    }
    let before = peak_rss_kib(&server);

    // 48 connections each send 2 MiB of a 3 MiB frame at once: 96 MiB of
    // partial frames (more, with the buffers' room) without the budget.
    let connections = 48;
    let (all_sent, measured) = (Barrier::new(connections + 1), Barrier::new(connections + 1));
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let grew_kib = std::thread::scope(|scope| {
        for _ in 0..connections {
            scope.spawn(|| partial_frame(&address, 3 * MIB, 2 * MIB, &all_sent, &measured));
        }
        all_sent.wait();
        wait_until_read(port);
        let grew = peak_rss_kib(&server).saturating_sub(before);
        measured.wait();
        grew
    });
    server.wait_stderr("MICRO_TRANSPORT_MAX_PENDING_BYTES", Duration::from_secs(10));

    println!(
        "{connections} connections with 2 MiB partial frames: peak RSS grew {} MiB (budget {} MiB)",
        grew_kib / 1024,
        budget / MIB
    );
    assert!(
        grew_kib < 32 * 1024,
        "peak RSS grew {grew_kib} KiB with a budget of {budget} bytes"
    );
    // And the server serves on.
    assert_eq!(runtime.block_on(hello(&client, &address)), "Hello A");
}

/// Reads frames off a raw connection until the server closes it; the
/// kinds and payloads seen.
fn frames_until_closed(socket: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    socket.read_to_end(&mut bytes).unwrap();
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 10 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        frames.push((rest[4], rest[10..10 + len].to_vec()));
        rest = &rest[10 + len..];
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_with_goaway_and_calls_never_notice() {
    let (server, address) = start_server(&[
        ("MICRO_TRANSPORT_IDLE_TIMEOUT", "300ms"),
        // Pings every 100 ms, which are no traffic; a silent peer is
        // closed for that only after 10 s.
        ("MICRO_TRANSPORT_KEEPALIVE", "100ms"),
        ("MICRO_TRANSPORT_KEEPALIVE_TIMEOUT", "10s"),
    ]);
    let client = strict_client();
    assert_eq!(hello(&client, &address).await, "Hello A");

    // A second client with a bidi stream open and silent, from before the
    // raw connection below: it is no less idle than that one, but it has a
    // call open, so it stays.
    let streaming = strict_client();
    let mut chat = pb::GreeterClient::new(examples::SERVICE, streaming.clone())
        .chat_with(at(&address))
        .await
        .unwrap();

    // A raw connection that sends its preface and nothing more: closed
    // with GOAWAY, reason "idle".
    let mut raw = TcpStream::connect(&address).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    raw.write_all(b"MICRO/1\n").unwrap();
    let raw_address = address.clone();
    let frames = tokio::task::spawn_blocking(move || frames_until_closed(&mut raw))
        .await
        .unwrap();
    let goaway = frames
        .iter()
        .find(|(kind, _)| *kind == 7)
        .unwrap_or_else(|| panic!("no GOAWAY from {raw_address} before the close: {frames:?}"));
    assert_eq!(&goaway.1[4..], b"idle");

    // The stream outlived it.
    chat.send(pb::Request { name: "B".into() }).await.unwrap();
    assert_eq!(chat.recv().await.unwrap().unwrap().greeting, "Hello B");
    drop(chat);

    // The first client's connection was idle as long: closed too. Its
    // next call dials again and succeeds, with no retry to hide a failure.
    assert_eq!(hello(&client, &address).await, "Hello A");
    assert_eq!(hello(&client, &address).await, "Hello A");
    drop(server);
}
