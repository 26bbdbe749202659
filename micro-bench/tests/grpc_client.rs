//! A micro client calls a plain tonic gRPC server over real TCP: by
//! address with the gRPC transport, and through the registry where the
//! server's node says `protocols=grpc`. All four kinds, metadata, errors
//! mapped from gRPC statuses, deadlines that cancel the handler, and a dead
//! address refused as "not sent".

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use micro_bench::pb;
use micro_bench::tonic_pb;
use micro_bench::tonic_pb::greeter_server::{Greeter, GreeterServer};
use micro_runtime::codec::ContentType;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::registry::{Node, Registry, Service};
use micro_runtime::transport::PROTOCOLS_METADATA;
use micro_runtime::transport::grpc::{GrpcOptions, GrpcTransport};
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client};
use tokio::sync::mpsc;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

type Responses = Pin<Box<dyn Stream<Item = Result<tonic_pb::Response, Status>> + Send>>;

/// A tonic greeter whose names steer it: `status:<n>` fails with gRPC
/// status n, `slow` never answers (and reports when it is dropped),
/// `meta` greets with the `x-trace` header.
struct TestGreeter {
    cancelled: mpsc::UnboundedSender<()>,
}

/// Tells the test when a handler's future is dropped unfinished.
struct OnDrop(mpsc::UnboundedSender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn greeting(text: &str) -> tonic_pb::Response {
    tonic_pb::Response {
        greeting: format!("Hello {text}"),
    }
}

fn status_for(name: &str) -> Option<Status> {
    let code = name.strip_prefix("status:")?.parse::<i32>().ok()?;
    Some(Status::new(tonic::Code::from(code), format!("{name} ✓")))
}

#[tonic::async_trait]
impl Greeter for TestGreeter {
    async fn hello(
        &self,
        request: Request<tonic_pb::Request>,
    ) -> Result<Response<tonic_pb::Response>, Status> {
        let trace = request
            .metadata()
            .get("x-trace")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        let name = request.into_inner().name;
        if let Some(status) = status_for(&name) {
            return Err(status);
        }
        match name.as_str() {
            "slow" => {
                let _guard = OnDrop(self.cancelled.clone());
                std::future::pending::<()>().await;
                unreachable!()
            }
            "meta" => Ok(Response::new(greeting(&trace))),
            _ => Ok(Response::new(greeting(&name))),
        }
    }

    type HelloStreamStream = Responses;

    async fn hello_stream(
        &self,
        request: Request<tonic_pb::Request>,
    ) -> Result<Response<Responses>, Status> {
        let name = request.into_inner().name;
        if name == "midway" {
            let items = vec![
                Ok(greeting("first")),
                Err(Status::aborted("stopped midway")),
            ];
            return Ok(Response::new(Box::pin(stream::iter(items))));
        }
        let items = (1..=3).map(move |i| Ok(greeting(&format!("{name} #{i}"))));
        Ok(Response::new(Box::pin(stream::iter(items))))
    }

    async fn collect(
        &self,
        request: Request<Streaming<tonic_pb::Request>>,
    ) -> Result<Response<tonic_pb::Response>, Status> {
        let mut requests = request.into_inner();
        let mut names = Vec::new();
        while let Some(request) = requests.message().await? {
            names.push(request.name);
        }
        Ok(Response::new(greeting(&names.join(", "))))
    }

    type ChatStream = Responses;

    async fn chat(
        &self,
        request: Request<Streaming<tonic_pb::Request>>,
    ) -> Result<Response<Responses>, Status> {
        let responses = request
            .into_inner()
            .map(|request| request.map(|request| greeting(&request.name)));
        Ok(Response::new(Box::pin(responses)))
    }
}

/// A tonic server on 127.0.0.1 and where it reports cancelled handlers.
async fn tonic_server() -> (String, mpsc::UnboundedReceiver<()>) {
    let incoming = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let address = incoming.local_addr().unwrap().to_string();
    let (cancelled, cancellations) = mpsc::unbounded_channel();
    tokio::spawn(
        Server::builder()
            .add_service(GreeterServer::new(TestGreeter { cancelled }))
            .serve_with_incoming(incoming),
    );
    (address, cancellations)
}

/// A client whose every call goes over gRPC.
fn grpc_client() -> Client {
    Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(GrpcTransport::new(GrpcOptions::default())))
        .build()
        .unwrap()
}

/// A typed stub whose every call goes over gRPC, to `address`.
fn grpc_client_to(address: &str) -> pb::GreeterClient {
    pb::GreeterClient::new("tonic.greeter", grpc_client())
        .with_options(CallOptions::new().address(address).retries(0))
}

fn request(name: &str) -> pb::Request {
    pb::Request { name: name.into() }
}

/// Unary, server, client and bidi streaming against `greeter`.
async fn all_four_kinds(greeter: &pb::GreeterClient) {
    let rsp = greeter.hello(request("John")).await.unwrap();
    assert_eq!(rsp.greeting, "Hello John");

    let stream = greeter.hello_stream(request("Ann")).await.unwrap();
    let greetings: Vec<_> = stream
        .collect_all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.greeting)
        .collect();
    assert_eq!(greetings, ["Hello Ann #1", "Hello Ann #2", "Hello Ann #3"]);

    let collect = greeter.collect().await.unwrap();
    for name in ["A", "B", "C"] {
        collect.send(request(name)).await.unwrap();
    }
    assert_eq!(
        collect.close_and_recv().await.unwrap().greeting,
        "Hello A, B, C"
    );

    let mut chat = greeter.chat().await.unwrap();
    for name in ["X", "Y"] {
        chat.send(request(name)).await.unwrap();
        let answer = chat.recv().await.unwrap().unwrap();
        assert_eq!(answer.greeting, format!("Hello {name}"));
    }
    let mut rest = chat.close_send();
    assert!(rest.recv().await.unwrap().is_none());
}

#[tokio::test]
async fn by_address_all_four_kinds_and_metadata() {
    let (address, _cancellations) = tonic_server().await;
    let greeter = grpc_client_to(&address);
    all_four_kinds(&greeter).await;

    let rsp = greeter
        .hello_with(
            request("meta"),
            CallOptions::new().metadata("x-trace", "t-42"),
        )
        .await
        .unwrap();
    assert_eq!(rsp.greeting, "Hello t-42");

    // By name, without a descriptor: the endpoint named in full gives the
    // gRPC path; the short name alone has no package, which tonic refuses.
    let client = grpc_client();
    let options = CallOptions::new().address(&address).retries(0);
    let body = prost::Message::encode_to_vec(&request("Raw"));
    let rsp = client
        .call_raw(
            "tonic.greeter",
            "greeter.v1.Greeter.Hello",
            ContentType::Protobuf,
            body.clone().into(),
            &options,
        )
        .await
        .unwrap();
    let rsp: pb::Response = prost::Message::decode(rsp).unwrap();
    assert_eq!(rsp.greeting, "Hello Raw");
    let err = client
        .call_raw(
            "tonic.greeter",
            "Greeter.Hello",
            ContentType::Protobuf,
            body.into(),
            &options,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 404, "UNIMPLEMENTED: {err}");
}

#[tokio::test]
async fn grpc_statuses_become_micro_codes() {
    let (address, _cancellations) = tonic_server().await;
    let greeter = grpc_client_to(&address);
    for (status, code) in [(6, 409), (5, 404), (3, 400), (7, 403), (16, 401), (13, 500)] {
        let err = greeter
            .hello(request(&format!("status:{status}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "gRPC status {status}: {err}");
        assert_eq!(err.detail(), format!("status:{status} ✓"));
    }

    // An error after a message: the message, then the status.
    let mut stream = greeter.hello_stream(request("midway")).await.unwrap();
    assert_eq!(
        stream.recv().await.unwrap().unwrap().greeting,
        "Hello first"
    );
    let err = stream.recv().await.unwrap_err();
    assert_eq!((err.code(), err.detail()), (409, "stopped midway"));

    // The connection still serves.
    assert_eq!(
        greeter.hello(request("again")).await.unwrap().greeting,
        "Hello again"
    );
}

#[tokio::test]
async fn a_deadline_is_408_and_cancels_the_handler() {
    let (address, mut cancellations) = tonic_server().await;
    let greeter = grpc_client_to(&address);
    let err = greeter
        .hello_with(
            request("slow"),
            CallOptions::new().timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    tokio::time::timeout(Duration::from_secs(30), cancellations.recv())
        .await
        .expect("the tonic handler was not cancelled")
        .unwrap();
    assert_eq!(
        greeter.hello(request("after")).await.unwrap().greeting,
        "Hello after"
    );
}

#[tokio::test]
async fn a_dead_address_is_503_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = grpc_client_to(&address)
        .hello(request("anyone"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(err.is_not_sent(), "{err:?}");
}

#[tokio::test]
async fn a_registered_grpc_only_node_is_called_over_grpc() {
    let (address, _cancellations) = tonic_server().await;
    let registry = Arc::new(MemoryRegistry::new());
    let service = Service {
        name: "tonic.greeter".into(),
        version: "1.0.0".into(),
        nodes: vec![Node {
            id: "tonic.greeter-1".into(),
            address,
            metadata: BTreeMap::from([(PROTOCOLS_METADATA.to_owned(), "grpc".to_owned())]),
        }],
        ..Service::default()
    };
    registry
        .register(&service, Duration::from_secs(300))
        .await
        .unwrap();
    // The client's own transport is the native one: the node's metadata
    // alone sends the calls over gRPC.
    let client = Client::builder()
        .registry(registry)
        .transport(Arc::new(TcpTransport::new(TcpOptions::default())))
        .build()
        .unwrap();
    let greeter = pb::GreeterClient::new("tonic.greeter", client);
    all_four_kinds(&greeter).await;
    let err = greeter.hello(request("status:5")).await.unwrap_err();
    assert_eq!(err.code(), 404, "{err}");
}

#[tokio::test]
async fn oversized_messages_and_bad_metadata_are_refused_and_the_connection_serves_on() {
    let (address, _cancellations) = tonic_server().await;
    let client = Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(GrpcTransport::new(GrpcOptions {
            max_message: 1024,
        })))
        .build()
        .unwrap();
    let greeter = pb::GreeterClient::new("tonic.greeter", client)
        .with_options(CallOptions::new().address(&address).retries(0));

    // A request over the limit is refused before it is sent.
    let err = greeter.hello(request(&"x".repeat(2000))).await.unwrap_err();
    assert_eq!(err.code(), 413, "{err}");
    // A response over the limit (the greeting adds "Hello ").
    let err = greeter.hello(request(&"y".repeat(1020))).await.unwrap_err();
    assert_eq!(err.code(), 413, "{err}");
    // Metadata that is no HTTP/2 header.
    let err = greeter
        .hello_with(
            request("meta"),
            CallOptions::new().metadata("x-trace", "two\nlines"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.detail().contains("x-trace"), "{err}");

    let rsp = greeter.hello(request(&"z".repeat(900))).await.unwrap();
    assert_eq!(rsp.greeting.len(), 906);
}
