//! The generated greeter API end to end in one process: handler trait,
//! `#[service]`, typed client, every RPC kind, over TCP.

use std::sync::Arc;

use examples::{Greeter, SERVICE, pb};
use micro_runtime::codec::ContentType;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::TcpTransport;
use micro_runtime::{CallOptions, Service};

async fn start() -> Service {
    let service = Service::builder()
        .name(SERVICE)
        .version("1.0.0")
        .address("127.0.0.1:0")
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::default()))
        .build()
        .unwrap();
    service.handle(Greeter::default()).unwrap();
    service.start().await.unwrap();
    service
}

fn req(name: &str) -> pb::Request {
    pb::Request { name: name.into() }
}

#[tokio::test]
async fn all_four_kinds_through_the_generated_client() {
    let service = start().await;
    let greeter = pb::GreeterClient::new(SERVICE, service.client());
    assert_eq!(
        greeter.hello(req("John")).await.unwrap().greeting,
        "Hello John"
    );

    let stream = greeter.hello_stream(req("Jane")).await.unwrap();
    let all: Vec<String> = stream
        .collect_all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.greeting)
        .collect();
    assert_eq!(all, ["Hello Jane #1", "Hello Jane #2", "Hello Jane #3"]);

    let collect = greeter.collect().await.unwrap();
    for name in ["Ann", "Bob"] {
        collect.send(req(name)).await.unwrap();
    }
    assert_eq!(
        collect.close_and_recv().await.unwrap().greeting,
        "Hello Ann, Bob"
    );

    let (tx, mut rx) = greeter.chat().await.unwrap().split();
    let sender = tokio::spawn(async move {
        for name in ["Dee", "Eve", "Fay"] {
            tx.send(req(name)).await.unwrap();
        }
    });
    let mut got = Vec::new();
    while let Some(rsp) = rx.recv().await.unwrap() {
        got.push(rsp.greeting);
    }
    sender.await.unwrap();
    assert_eq!(got, ["Hello Dee", "Hello Eve", "Hello Fay"]);
    service.stop().await.unwrap();
}

#[tokio::test]
async fn proto3_json_mapping_over_the_wire() {
    let service = start().await;
    let client = service.client();
    let body = client
        .call_raw(
            SERVICE,
            "Greeter.Hello",
            ContentType::Json,
            r#"{"name":"Json"}"#.into(),
            &CallOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(&body[..], br#"{"greeting":"Hello Json"}"#);
    let greeter = pb::GreeterClient::new(SERVICE, client)
        .with_options(CallOptions::new().content_type(ContentType::Json));
    assert_eq!(
        greeter.hello(req("typed")).await.unwrap().greeting,
        "Hello typed"
    );
    service.stop().await.unwrap();
}

#[tokio::test]
async fn the_registry_record_describes_the_endpoints() {
    let service = start().await;
    let record = service.registration().await.unwrap();
    assert_eq!(record.version, "1.0.0");
    let hello = record
        .endpoints
        .iter()
        .find(|e| e.name == "Greeter.Hello")
        .unwrap();
    assert_eq!(hello.request, "greeter.v1.Request");
    assert_eq!(hello.metadata["idempotent"], "true");
    assert_eq!(hello.metadata["description"], "Says hello to one person.");
    let chat = record
        .endpoints
        .iter()
        .find(|e| e.name == "Greeter.Chat")
        .unwrap();
    assert_eq!(chat.metadata["stream"], "bidi");
    assert_eq!(pb::GreeterClient::ENDPOINTS.len(), 4);
    service.stop().await.unwrap();
}
