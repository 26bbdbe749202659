//! The generated greeter over the NATS transport (`MICRO_TEST_NATS`, e.g.
//! `127.0.0.1:4222`): every kind in one process, and a greeter-server
//! process killed with SIGKILL in the middle of a stream and of a unary
//! call: the caller gets 503 promptly, never hangs.
#![cfg(feature = "nats")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Proc, SERVER};
use examples::{Greeter, SERVICE, World, pb};
use micro_runtime::CallOptions;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::nats::{NatsTransport, NatsTransportOptions};

/// The NATS URL from `MICRO_TEST_NATS`; `None` (after printing `skipped: …`)
/// when unset, unless `MICRO_TEST_REQUIRE_BACKENDS=1`.
fn nats_url() -> Option<String> {
    match std::env::var("MICRO_TEST_NATS") {
        Ok(address) if !address.trim().is_empty() => Some(format!(
            "nats://{}",
            address.trim().trim_start_matches("nats://")
        )),
        _ => {
            let why = "MICRO_TEST_NATS is not set (host:port) to reach a NATS server";
            assert!(
                std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "MICRO_TEST_REQUIRE_BACKENDS=1 but {why}"
            );
            println!("skipped: {why}");
            None
        }
    }
}

fn transport(url: &str) -> Arc<NatsTransport> {
    Arc::new(NatsTransport::new(NatsTransportOptions {
        address: url.to_owned(),
        ..NatsTransportOptions::default()
    }))
}

fn req(name: &str) -> pb::Request {
    pb::Request { name: name.into() }
}

/// A service name of its own, so runs sharing the NATS server stay apart.
fn unique_name() -> String {
    format!("{SERVICE}-{:x}", fastrand::u64(..))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_greeter_over_nats_every_kind() {
    let Some(url) = nats_url() else { return };
    let world = World {
        registry: Arc::new(MemoryRegistry::new()),
        transport: transport(&url),
    };
    let name = unique_name();
    let service = world
        .service(&name, |s| s.handle(Greeter::default()).unwrap())
        .await;
    let greeter = pb::GreeterClient::new(name.clone(), world.client());
    assert_eq!(
        greeter.hello(req("John")).await.unwrap().greeting,
        "Hello John"
    );
    let all: Vec<String> = greeter
        .hello_stream(req("Jane"))
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.greeting)
        .collect();
    assert_eq!(all, ["Hello Jane #1", "Hello Jane #2", "Hello Jane #3"]);
    let collect = greeter.collect().await.unwrap();
    for who in ["Ann", "Bob"] {
        collect.send(req(who)).await.unwrap();
    }
    assert_eq!(
        collect.close_and_recv().await.unwrap().greeting,
        "Hello Ann, Bob"
    );
    let mut chat = greeter.chat().await.unwrap();
    for who in ["Dee", "Eve"] {
        chat.send(req(who)).await.unwrap();
        assert_eq!(
            chat.recv().await.unwrap().unwrap().greeting,
            format!("Hello {who}")
        );
    }
    let mut rest = chat.close_send();
    assert!(rest.recv().await.unwrap().is_none());
    service.stop().await.unwrap();
}

/// A greeter-server process on the NATS at `url` (its own memory registry:
/// the test calls it at the address it prints).
fn server_process(url: &str, name: &str, extra: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = std::process::Command::new(SERVER);
    cmd.env("MICRO_TRANSPORT", "nats")
        .env("MICRO_TRANSPORT_ADDRESS", url)
        .env("MICRO_REGISTRY", "memory")
        .env("MICRO_BROKER", "memory")
        .env("GREETER_NAME", name)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        );
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let proc = Proc::spawn("greeter-server", cmd);
    let line = proc.wait_line("listening on ", Duration::from_secs(20));
    let address = line.trim_start_matches("listening on ").trim().to_owned();
    assert!(address.starts_with("nats:micro.rpc."), "{address}");
    (proc, address)
}

fn client(url: &str) -> micro_runtime::Client {
    micro_runtime::Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(transport(url))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_stream_fails_the_stream_with_503() {
    let Some(url) = nats_url() else { return };
    let name = unique_name();
    let (mut server, address) = server_process(&url, &name, &[]);
    let greeter = pb::GreeterClient::new(name, client(&url));
    let mut chat = greeter
        .chat_with(
            CallOptions::new()
                .address(address)
                .timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    chat.send(req("Ada")).await.unwrap();
    assert_eq!(chat.recv().await.unwrap().unwrap().greeting, "Hello Ada");

    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));
    let killed = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(15), chat.recv())
        .await
        .expect("the stream must fail well before its 60 s deadline")
        .unwrap_err();
    println!(
        "FIGURES stream failed {:?} after SIGKILL: {err}",
        killed.elapsed()
    );
    assert_eq!(err.code(), 503, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_unary_call_fails_it_with_503() {
    let Some(url) = nats_url() else { return };
    let name = unique_name();
    let (mut server, address) = server_process(&url, &name, &[("GREETER_DELAY_MS", "60000")]);
    let greeter = pb::GreeterClient::new(name, client(&url));
    let call = tokio::spawn(async move {
        greeter
            .hello_with(
                req("Bo"),
                CallOptions::new()
                    .address(address)
                    .timeout(Duration::from_secs(60))
                    .retries(0),
            )
            .await
    });
    // The call is in the handler's delay once the probes find the node
    // alive; then the process dies.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "{:?}", call.await);
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));
    let killed = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(15), call)
        .await
        .expect("the call must fail well before its 60 s deadline")
        .unwrap()
        .unwrap_err();
    println!(
        "FIGURES unary call failed {:?} after SIGKILL: {err}",
        killed.elapsed()
    );
    assert_eq!(err.code(), 503, "{err}");
}
