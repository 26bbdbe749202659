//! Bad HTTP/2 on the micro port of a real greeter-server: garbage after a
//! valid HTTP/2 preface is closed, a connection that sends the preface and
//! then nothing is left waiting, a bad preface is closed with the logged
//! reason, and native calls succeed meanwhile and afterwards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{direct_server, stop_server};
use examples::pb;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn native_hello(address: &str, name: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = Client::builder()
            .registry(Arc::new(MemoryRegistry::new()))
            .transport(Arc::new(TcpTransport::new(TcpOptions::default())))
            .build()
            .unwrap();
        pb::GreeterClient::new(examples::SERVICE, client)
            .hello_with(
                pb::Request { name: name.into() },
                CallOptions::new()
                    .address(address)
                    .timeout(Duration::from_secs(10)),
            )
            .await
            .unwrap_or_else(|e| panic!("a native call failed: {e}"))
            .greeting
    })
}

/// Reads until the server closes the connection (bounded); what it sent.
fn read_until_closed(socket: &mut TcpStream) -> Vec<u8> {
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return received,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

#[test]
fn bad_http2_leaves_native_calls_alone() {
    let (server, address) = direct_server(&[("RUST_LOG", "micro_runtime=debug")]);

    // Preface, then silence: the connection stays open, waiting.
    let mut half_open = TcpStream::connect(&address).unwrap();
    half_open.write_all(H2_PREFACE).unwrap();
    // The server answers with its SETTINGS: this is served as HTTP/2.
    half_open
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = [0u8; 9];
    half_open.read_exact(&mut head).unwrap();
    assert_eq!(head[3], 0x4, "an HTTP/2 SETTINGS frame first");

    assert_eq!(native_hello(&address, "meanwhile"), "Hello meanwhile");

    // Preface, then garbage instead of frames: closed.
    let mut garbage = TcpStream::connect(&address).unwrap();
    garbage.write_all(H2_PREFACE).unwrap();
    garbage
        .write_all(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff this is not HTTP/2 at all")
        .unwrap();
    read_until_closed(&mut garbage);

    // A preface that starts like HTTP/2's and is not: closed, with the reason.
    let mut bad = TcpStream::connect(&address).unwrap();
    bad.write_all(b"PRI * HTTP/1.1\r\n\r\nxxxxxxxx").unwrap();
    assert!(read_until_closed(&mut bad).is_empty());
    server.wait_stderr("not a micro client (bad preface)", Duration::from_secs(10));

    assert_eq!(native_hello(&address, "after"), "Hello after");
    // The half-open connection is still there; the server still serves.
    drop(half_open);
    assert_eq!(native_hello(&address, "end"), "Hello end");
    stop_server(server);
}
