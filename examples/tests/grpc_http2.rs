//! gRPC requests written by hand with hyper's HTTP/2 client against a real
//! greeter-server (with `Mirror`): what a gRPC library would not send, and
//! a server-side deadline no client timer races.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{direct_server, stop_server};
use examples::{describe_pb, pb};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;

/// What came back: the HTTP status, the headers, the messages' bytes, the
/// trailers (or, for a trailers-only answer, the headers).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    data: Bytes,
    trailers: HeaderMap,
}

impl Answer {
    fn grpc_status(&self) -> Option<&str> {
        self.trailers
            .get("grpc-status")
            .or_else(|| self.headers.get("grpc-status"))
            .map(|v| v.to_str().unwrap())
    }

    /// micro's error from the `micro-error-bin` trailer.
    fn micro_error(&self) -> serde_json::Value {
        use base64::Engine;
        let value = self
            .trailers
            .get("micro-error-bin")
            .or_else(|| self.headers.get("micro-error-bin"))
            .expect("a micro-error-bin trailer");
        let json = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(value.to_str().unwrap().trim_end_matches('='))
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }
}

/// One length-prefixed gRPC message.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

async fn send(
    address: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("an HTTP/2 handshake with the micro port");
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"))
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("an answer in time")
        .unwrap();
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    Answer {
        status: parts.status,
        headers: parts.headers,
        data: collected.to_bytes(),
        trailers,
    }
}

const GRPC: (&str, &str) = ("content-type", "application/grpc");

fn thing(name: &str) -> Vec<u8> {
    framed(
        &describe_pb::Thing {
            display_name: name.into(),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_what_grpc_libraries_would_not_send() {
    let (server, address) = direct_server(&[("GREETER_MIRROR", "1")]);
    let echo = "/describe.v1.Mirror/Echo";

    // A sound call, to know the helper works.
    let ok = send(&address, Method::POST, echo, &[GRPC], thing("plain")).await;
    assert_eq!(ok.grpc_status(), Some("0"));
    let answer = describe_pb::Thing::decode(&ok.data[5..]).unwrap();
    assert_eq!(answer.display_name, "plain");

    // The server's own deadline: DEADLINE_EXCEEDED with micro's 408.
    let slow = send(
        &address,
        Method::POST,
        echo,
        &[GRPC, ("grpc-timeout", "200m")],
        thing("mirror:sleep:20000"),
    )
    .await;
    assert_eq!(slow.grpc_status(), Some("4"));
    assert_eq!(slow.micro_error()["code"], 408);

    // Proto3 JSON messages (what micro's gRPC client sends for a JSON call).
    let json = send(
        &address,
        Method::POST,
        echo,
        &[("content-type", "application/grpc+json")],
        framed(br#"{"displayName":"in json"}"#),
    )
    .await;
    assert_eq!(json.grpc_status(), Some("0"));
    assert_eq!(json.headers["content-type"], "application/grpc+json");
    let answer: serde_json::Value = serde_json::from_slice(&json.data[5..]).unwrap();
    assert_eq!(answer["displayName"], "in json");

    let hello = framed(&pb::Request { name: "x".into() }.encode_to_vec());
    let path = "/greeter.v1.Greeter/Hello";
    let wrong_type = send(
        &address,
        Method::POST,
        path,
        &[("content-type", "application/json")],
        hello.clone(),
    )
    .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let get = send(&address, Method::GET, path, &[GRPC], Vec::new()).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);

    let bad_timeout = send(
        &address,
        Method::POST,
        path,
        &[GRPC, ("grpc-timeout", "soon")],
        hello.clone(),
    )
    .await;
    assert_eq!(bad_timeout.grpc_status(), Some("3"), "INVALID_ARGUMENT");
    let brotli = send(
        &address,
        Method::POST,
        path,
        &[GRPC, ("grpc-encoding", "br")],
        hello.clone(),
    )
    .await;
    assert_eq!(brotli.grpc_status(), Some("12"), "UNIMPLEMENTED");
    let mut two = hello.clone();
    two.extend_from_slice(&hello);
    let two = send(&address, Method::POST, path, &[GRPC], two).await;
    assert_eq!(
        two.grpc_status(),
        Some("3"),
        "two messages to a unary method"
    );
    let empty = send(&address, Method::POST, path, &[GRPC], Vec::new()).await;
    assert_eq!(empty.grpc_status(), Some("3"), "no message");
    // A message announced larger than the 4 MiB limit.
    let mut huge = vec![0];
    huge.extend_from_slice(&(5u32 << 20).to_be_bytes());
    let huge = send(&address, Method::POST, path, &[GRPC], huge).await;
    assert_eq!(huge.grpc_status(), Some("8"), "RESOURCE_EXHAUSTED");
    assert_eq!(huge.micro_error()["code"], 413);

    // Still serving.
    let ok = send(&address, Method::POST, path, &[GRPC], hello).await;
    assert_eq!(ok.grpc_status(), Some("0"));
    assert_eq!(
        pb::Response::decode(&ok.data[5..]).unwrap().greeting,
        "Hello x"
    );
    stop_server(server);
}
