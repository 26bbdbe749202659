//! A micro service answers gRPC on the port it serves its native protocol:
//! real tonic clients against real greeter-server processes (unary, server
//! streaming, bidi, error statuses with micro's error trailer), a native
//! and a gRPC call at the same time on one port, a graceful shutdown that
//! lets a gRPC stream finish and tells health watchers, and a handler
//! wrapper seeing a gRPC call's metadata.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{direct_server, stop_server};
use examples::{Greeter, describe_pb, pb};
use micro_runtime::broker::MemoryBroker;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::wrapper::{HandlerNext, HandlerRequest, handler_fn};
use micro_runtime::{CallOptions, Client, Service};
use tokio::sync::mpsc;
use tokio_stream_like::ReceiverStream;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_prost::ProstCodec;

/// `mpsc::Receiver` as a `Stream`, for tonic's streaming requests.
mod tokio_stream_like {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc;

    pub(crate) struct ReceiverStream<T>(pub(crate) mpsc::Receiver<T>);

    impl<T> futures_core::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

const T: Duration = Duration::from_secs(20);

async fn grpc(address: &str) -> Grpc<Channel> {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_timeout(T)
        .connect()
        .await
        .expect("an HTTP/2 connection to the micro port");
    Grpc::new(channel)
}

fn path(p: &'static str) -> PathAndQuery {
    PathAndQuery::from_static(p)
}

async fn hello(grpc: &mut Grpc<Channel>, name: &str) -> Result<String, tonic::Status> {
    grpc.ready().await.unwrap();
    let response = grpc
        .unary(
            Request::new(pb::Request { name: name.into() }),
            path("/greeter.v1.Greeter/Hello"),
            ProstCodec::<pb::Request, pb::Response>::default(),
        )
        .await?;
    Ok(response.into_inner().greeting)
}

/// A bidi `Chat`: the sender of names and the stream of greetings.
async fn chat(
    grpc: &mut Grpc<Channel>,
) -> (mpsc::Sender<pb::Request>, tonic::Streaming<pb::Response>) {
    let (tx, rx) = mpsc::channel(4);
    grpc.ready().await.unwrap();
    let responses = grpc
        .streaming(
            Request::new(ReceiverStream(rx)),
            path("/greeter.v1.Greeter/Chat"),
            ProstCodec::<pb::Request, pb::Response>::default(),
        )
        .await
        .expect("Chat opens")
        .into_inner();
    (tx, responses)
}

async fn say(
    tx: &mpsc::Sender<pb::Request>,
    rx: &mut tonic::Streaming<pb::Response>,
    name: &str,
) -> String {
    tx.send(pb::Request { name: name.into() }).await.unwrap();
    tokio::time::timeout(T, rx.message())
        .await
        .expect("a greeting in time")
        .expect("a greeting")
        .expect("the stream is open")
        .greeting
}

/// A native client calling `address` directly.
fn native_client() -> Client {
    Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::new(TcpOptions::default())))
        .build()
        .unwrap()
}

async fn native_hello(client: &Client, address: &str, name: &str) -> String {
    pb::GreeterClient::new(examples::SERVICE, client.clone())
        .hello_with(
            pb::Request { name: name.into() },
            CallOptions::new().address(address).timeout(T),
        )
        .await
        .expect("a native call on the same port")
        .greeting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_calls_a_micro_server_beside_native_calls() {
    let (server, address) = direct_server(&[("GREETER_MIRROR", "1")]);
    let mut grpc = grpc(&address).await;

    assert_eq!(hello(&mut grpc, "Ada").await.unwrap(), "Hello Ada");

    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(
            Request::new(pb::Request { name: "Bo".into() }),
            path("/greeter.v1.Greeter/HelloStream"),
            ProstCodec::<pb::Request, pb::Response>::default(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut greetings = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        greetings.push(message.greeting);
    }
    assert_eq!(greetings, ["Hello Bo #1", "Hello Bo #2", "Hello Bo #3"]);

    // A bidi stream stays open while a native call uses the same port.
    let (tx, mut rx) = chat(&mut grpc).await;
    assert_eq!(say(&tx, &mut rx, "X").await, "Hello X");
    let native = native_client();
    assert_eq!(
        native_hello(&native, &address, "native").await,
        "Hello native"
    );
    assert_eq!(say(&tx, &mut rx, "Y").await, "Hello Y");
    drop(tx);
    assert!(
        rx.message().await.unwrap().is_none(),
        "Chat ends after its requests"
    );

    // Errors: the status, and micro's error in its trailer.
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            Request::new(describe_pb::Thing {
                display_name: "mirror:fail:404".into(),
                ..Default::default()
            }),
            path("/describe.v1.Mirror/Echo"),
            ProstCodec::<describe_pb::Thing, describe_pb::Thing>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "mirror asked to fail");
    let error_bin = status
        .metadata()
        .get_bin("micro-error-bin")
        .expect("micro's error trailer")
        .to_bytes()
        .unwrap();
    let error: serde_json::Value = serde_json::from_slice(&error_bin).unwrap();
    assert_eq!(error["code"], 404);
    assert_eq!(error["id"], examples::SERVICE);

    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            Request::new(pb::Request::default()),
            path("/greeter.v1.Greeter/Missing"),
            ProstCodec::<pb::Request, pb::Response>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

    assert_eq!(hello(&mut grpc, "after").await.unwrap(), "Hello after");
    assert_eq!(native_hello(&native, &address, "end").await, "Hello end");
    stop_server(server);
}

/// `grpc.health.v1` messages (the test's own, as the server's are).
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_grpc_streams_finish_and_tells_health_watchers() {
    let (mut server, address) = direct_server(&[("MICRO_SERVER_GRACE", "30s")]);
    let mut grpc = grpc(&address).await;

    grpc.ready().await.unwrap();
    let mut watch = grpc
        .server_streaming(
            Request::new(HealthCheckRequest::default()),
            path("/grpc.health.v1.Health/Watch"),
            ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, SERVING);

    let (tx, mut rx) = chat(&mut grpc).await;
    assert_eq!(say(&tx, &mut rx, "before").await, "Hello before");

    server.signal("TERM");
    let drained = tokio::time::timeout(T, watch.message())
        .await
        .expect("the watch hears of the shutdown")
        .unwrap()
        .expect("a status before the end");
    assert_eq!(drained.status, NOT_SERVING);
    assert!(
        watch.message().await.unwrap().is_none(),
        "the watch then ends"
    );

    // The stream in flight is still served while the server drains...
    assert_eq!(say(&tx, &mut rx, "during").await, "Hello during");
    drop(tx);
    assert!(rx.message().await.unwrap().is_none());
    // ...and the server exits once it is done, well before its grace.
    let status = server.wait_exit(T);
    assert!(status.success(), "{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_grpc_call_cancels_its_handler() {
    // A long grace: a handler left running would hold the shutdown for it.
    let (mut server, address) =
        direct_server(&[("GREETER_MIRROR", "1"), ("MICRO_SERVER_GRACE", "120s")]);
    let mut grpc = grpc(&address).await;
    grpc.ready().await.unwrap();
    let mut slow_grpc = grpc.clone();
    let mut slow = Box::pin(async move {
        slow_grpc.ready().await.unwrap();
        slow_grpc
            .unary(
                Request::new(describe_pb::Thing {
                    display_name: "mirror:sleep:100000".into(),
                    ..Default::default()
                }),
                path("/describe.v1.Mirror/Echo"),
                ProstCodec::<describe_pb::Thing, describe_pb::Thing>::default(),
            )
            .await
    });
    // The slow call goes out first; a call answered after it on the same
    // connection means the server took it in.
    tokio::select! {
        biased;
        _ = &mut slow => panic!("the slow call answered"),
        greeting = hello(&mut grpc, "after") => assert_eq!(greeting.unwrap(), "Hello after"),
    }
    // Dropping the call resets its stream (RST_STREAM).
    drop(slow);
    assert_eq!(hello(&mut grpc, "still").await.unwrap(), "Hello still");

    server.signal("TERM");
    let status = server.wait_exit(T);
    assert!(status.success(), "{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_wrapper_sees_the_metadata_of_a_grpc_call() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let service = Service::builder()
        .name("com.example.srv.greeter")
        .address("127.0.0.1:0")
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::default()))
        .broker(Arc::new(MemoryBroker::new()))
        .wrap_handler(handler_fn(move |req: HandlerRequest, next: HandlerNext| {
            let metadata = req.context().metadata();
            record.lock().unwrap().push((
                req.endpoint().name,
                metadata.get("x-tenant").map(str::to_owned),
                metadata.get("trace-bin").map(str::to_owned),
                req.context().deadline().is_some(),
            ));
            let refuse = metadata.get("x-tenant").is_none();
            async move {
                if refuse {
                    return Err(micro_runtime::Error::unauthorized("x-tenant is required"));
                }
                next.run(req).await
            }
        }))
        .build()
        .unwrap();
    service.handle(Greeter::default()).unwrap();
    service.start().await.unwrap();
    let address = service.address().await.unwrap();

    let mut grpc = grpc(&address).await;
    grpc.ready().await.unwrap();
    let mut request = Request::new(pb::Request { name: "Ada".into() });
    request
        .metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    request.metadata_mut().insert_bin(
        "trace-bin",
        tonic::metadata::MetadataValue::from_bytes(&[0, 1, 2]),
    );
    request.set_timeout(Duration::from_secs(30));
    let response = grpc
        .unary(
            request,
            path("/greeter.v1.Greeter/Hello"),
            ProstCodec::<pb::Request, pb::Response>::default(),
        )
        .await
        .unwrap();
    assert_eq!(response.into_inner().greeting, "Hello Ada");
    let calls = seen.lock().unwrap().clone();
    assert!(
        calls.contains(&(
            "Greeter.Hello",
            Some("acme".into()),
            Some("AAEC".into()),
            true
        )),
        "{calls:?}"
    );

    // Health is dispatched like any call: the wrapper's refusal is the
    // answer, not NOT_SERVING.
    let check = |tenant: Option<&str>| {
        let mut grpc = grpc.clone();
        let mut request = Request::new(HealthCheckRequest::default());
        if let Some(tenant) = tenant {
            request
                .metadata_mut()
                .insert("x-tenant", tenant.parse().unwrap());
        }
        async move {
            grpc.ready().await.unwrap();
            grpc.unary(
                request,
                path("/grpc.health.v1.Health/Check"),
                ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default(),
            )
            .await
        }
    };
    let refused = check(None).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(
        check(Some("acme")).await.unwrap().into_inner().status,
        SERVING
    );
    service.stop().await.unwrap();
}
