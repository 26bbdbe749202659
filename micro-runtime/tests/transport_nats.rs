//! The NATS transport against a real NATS server (`MICRO_TEST_NATS`, e.g.
//! `127.0.0.1:4222`): the four kinds, errors, deadlines, metadata,
//! cancellation, flow control, two nodes and the service's queue group, a
//! node that vanishes mid-stream, and garbage on a node's subject.
#![cfg(feature = "nats")]

mod broker_support;
mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use common::{EchoClient, Msg, World, within_10s};
use futures_util::StreamExt;
use micro_runtime::CallOptions;
use micro_runtime::codec::ContentType;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::nats::{NatsTransport, NatsTransportOptions};

fn address() -> Option<String> {
    broker_support::backend_address("MICRO_TEST_NATS", "a NATS server")
        .map(|a| format!("nats://{}", a.trim_start_matches("nats://")))
}

fn transport(address: &str) -> Arc<NatsTransport> {
    Arc::new(NatsTransport::new(NatsTransportOptions {
        address: address.to_owned(),
        probe_after: Duration::from_millis(200),
        ..NatsTransportOptions::default()
    }))
}

/// A world whose services and clients talk over NATS.
fn world(address: &str) -> World {
    World {
        registry: Arc::new(MemoryRegistry::new()),
        transport: transport(address),
        services: Vec::new(),
    }
}

/// A service name unique to this run (tests share the NATS server).
fn name(prefix: &str) -> String {
    broker_support::unique(prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_kinds_json_and_the_registered_address() {
    let Some(address) = address() else { return };
    let mut world = world(&address);
    let svc = name("echo");
    let (service, _) = world.echo(&svc).await;
    let node = service.address().await.unwrap();
    assert!(node.starts_with("nats:micro.rpc.echo-"), "{node}");
    let record = service.registration().await.unwrap();
    assert_eq!(record.nodes[0].metadata["transport"], "nats");
    let echo = EchoClient::new(svc.clone(), world.client());

    assert_eq!(echo.say(Msg::text("hi")).await.unwrap().text, "hi");
    let json = echo
        .say_with(
            Msg::text("json"),
            CallOptions::new().content_type(ContentType::Json),
        )
        .await
        .unwrap();
    assert_eq!(json.text, "json");

    let counted = echo
        .count(Msg {
            text: "c".into(),
            n: 5,
        })
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(
        counted.iter().map(|m| m.n).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );

    let sum = echo.sum().await.unwrap();
    for n in 1..=10 {
        sum.send(Msg {
            text: String::new(),
            n,
        })
        .await
        .unwrap();
    }
    assert_eq!(sum.close_and_recv().await.unwrap().n, 55);

    let mut bidi = echo.echo().await.unwrap();
    for n in 0..3 {
        bidi.send(Msg {
            text: "b".into(),
            n,
        })
        .await
        .unwrap();
        assert_eq!(bidi.recv().await.unwrap().unwrap().n, n);
    }
    let mut rest = bidi.close_send();
    assert!(rest.recv().await.unwrap().is_none());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_deadlines_and_metadata_travel() {
    let Some(address) = address() else { return };
    let mut world = world(&address);
    let svc = name("echo");
    let (_, signals) = world.echo(&svc).await;
    let echo = EchoClient::new(svc.clone(), world.client());

    let err = echo
        .fail(Msg {
            text: "name taken".into(),
            n: 409,
        })
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.detail()), (409, "name taken"), "{err}");
    assert_eq!(err.id(), svc);
    let err = echo.explode(Msg::text("")).await.unwrap_err();
    assert_eq!(err.code(), 500, "{err}");

    let seen = echo
        .whoami_with(
            Msg::default(),
            CallOptions::new()
                .metadata("x-trace", "trace-42")
                .timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(seen.text, "trace-42");
    assert!((1..=5000).contains(&seen.n), "deadline seen: {} ms", seen.n);

    // A handler that never answers: 408 at the deadline, and the handler's
    // future is dropped on the node.
    let cancelled = signals.cancelled.notified();
    let err = echo
        .hang_with(
            Msg::default(),
            CallOptions::new()
                .timeout(Duration::from_millis(300))
                .retries(0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    within_10s("the hung handler dropped", cancelled).await;

    // A caller that drops its call (long before the deadline): the node is
    // told and drops the handler.
    let started = signals.started.notified();
    let cancelled = signals.cancelled.notified();
    let caller = echo.clone();
    let call = tokio::spawn(async move {
        caller
            .hang_with(
                Msg::default(),
                CallOptions::new()
                    .timeout(Duration::from_secs(60))
                    .retries(0),
            )
            .await
    });
    within_10s("the handler started", started).await;
    call.abort();
    within_10s("the dropped call's handler dropped", cancelled).await;

    // An unknown endpoint: 404 naming it.
    let err = world
        .client()
        .call_raw(
            &svc,
            "Echo.Nope",
            ContentType::Json,
            "{}".into(),
            &CallOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 404, "{err}");
    assert!(err.detail().contains("Echo.Nope"), "{err}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_bounds_the_writer_and_dropping_a_stream_cancels_it() {
    use prost::Message as _;
    let Some(address) = address() else { return };
    let mut world = world(&address);
    let svc = name("echo");
    let (_, signals) = world.echo(&svc).await;
    let echo = EchoClient::new(svc.clone(), world.client());
    let window = NatsTransportOptions::default().stream_window as usize;
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
        let sent = signals.flooded.load(Ordering::SeqCst);
        assert!(
            sent <= read + ahead + 1,
            "sent {sent} while {read} were read ({ahead} fit the window)"
        );
        stream.recv().await.unwrap().unwrap();
    }
    // The writer is blocked on credit now; dropping the reader cancels the
    // call on the node, which drops the handler.
    let cancelled = signals.cancelled.notified();
    drop(stream);
    within_10s("the flooding handler dropped", cancelled).await;
    assert_eq!(signals.cancellations.load(Ordering::SeqCst), 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_calls_and_the_queue_group_answers_without_the_selector() {
    let Some(address) = address() else { return };
    let mut world = world(&address);
    let svc = name("echo");
    let a = world.builder(&svc).build().unwrap();
    let (a, _) = world.add_node(a, "a", false).await;
    let b = world.builder(&svc).build().unwrap();
    world.add_node(b, "b", false).await;
    let client = world.client();
    let echo = EchoClient::new(svc.clone(), client.clone());

    // Through the selector: both nodes answer.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        seen.insert(echo.label(Msg::default()).await.unwrap().text);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    // Straight to the service subject: NATS picks a member of the group.
    let group = format!("nats:micro.rpc.{svc}");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let label = echo
            .label_with(Msg::default(), CallOptions::new().address(group.clone()))
            .await
            .unwrap();
        seen.insert(label.text);
    }
    assert_eq!(seen.len(), 2, "the queue group spreads calls: {seen:?}");

    // A node stopped leaves the group: the other answers every call.
    a.stop().await.unwrap();
    world.services.remove(0);
    for _ in 0..20 {
        let label = echo
            .label_with(Msg::default(), CallOptions::new().address(group.clone()))
            .await
            .unwrap();
        assert_eq!(label.text, "b");
    }
    // And the stopped node's own address is refused unprocessed.
    let gone = a_node_address(&a).await;
    let err = echo
        .label_with(Msg::default(), CallOptions::new().address(gone).retries(0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    world.stop().await;
}

async fn a_node_address(service: &micro_runtime::Service) -> String {
    service
        .registration()
        .await
        .map(|r| r.nodes[0].address.clone())
        .unwrap_or_else(|| "nats:micro.rpc.gone.node".into())
}

/// A fake node on a raw NATS client: it answers the ping, accepts a stream,
/// sends one message, then its connection drops (as a killed process's
/// would). The caller must get 503 soon, not hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_vanishes_mid_stream_fails_the_stream_with_503() {
    let Some(address) = address() else { return };
    let fake = async_nats::connect(&address).await.unwrap();
    let node = format!("micro.rpc.{}.{:032x}", name("vanish"), fastrand::u128(..));
    let mut requests = fake.subscribe(node.clone()).await.unwrap();
    let mut control = fake.subscribe(format!("{node}.>")).await.unwrap();
    fake.flush().await.unwrap();
    let answering = fake.clone();
    let node_subject = node.clone();
    let served = tokio::spawn(async move {
        // The dial's ping, then the stream request.
        for _ in 0..2 {
            let message = requests.next().await.unwrap();
            let reply = message.reply.unwrap();
            let frame = header(&message.headers, "Micro-Rpc-Frame");
            let mut headers = HeaderMap::new();
            if frame.as_deref() == Some("ping") {
                headers.insert("Micro-Rpc-Frame", "pong");
                headers.insert("Micro-Rpc-Subject", node_subject.as_str());
                headers.insert("Micro-Rpc-Window", "262144");
                answering
                    .publish_with_headers(reply, headers, Bytes::new())
                    .await
                    .unwrap();
            } else {
                headers.insert("Micro-Rpc-Frame", "accept");
                headers.insert("Micro-Rpc-Subject", format!("{node_subject}.1").as_str());
                headers.insert("Micro-Rpc-Window", "262144");
                answering
                    .publish_with_headers(reply.clone(), headers, Bytes::new())
                    .await
                    .unwrap();
                use prost::Message as _;
                let msg = Msg::text("only one").encode_to_vec();
                answering.publish(reply, msg.into()).await.unwrap();
            }
        }
        answering.flush().await.unwrap();
    });
    let client = micro_runtime::Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(transport(&address))
        .build()
        .unwrap();
    let echo = EchoClient::new("vanish", client);
    let mut stream = echo
        .count_with(
            Msg::text("x"),
            CallOptions::new()
                .address(format!("nats:{node}"))
                .timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(stream.recv().await.unwrap().unwrap().text, "only one");
    served.await.unwrap();
    // The caller's credit or the probes now meet no responders.
    drop(control.unsubscribe().await);
    drop(fake);
    let started = std::time::Instant::now();
    let err = within_10s("the stream failing", stream.recv())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A caller on a raw NATS client opens a client stream to a real node, then
/// its connection drops (as a killed process's would): the node's probe of
/// the caller's inbox meets no responders and the handler is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_vanishes_mid_stream_has_its_handler_dropped() {
    let Some(address) = address() else { return };
    let mut world = world(&address);
    let svc = name("echo");
    let (service, signals) = world.echo(&svc).await;
    let node = service.address().await.unwrap();
    let subject = node.strip_prefix("nats:").unwrap().to_owned();
    let caller = async_nats::connect(&address).await.unwrap();
    let inbox = caller.new_inbox();
    let mut replies = caller.subscribe(format!("{inbox}.*")).await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("Micro-Rpc-Service", svc.as_str());
    headers.insert("Micro-Rpc-Endpoint", "Echo.Sum");
    headers.insert("Micro-Rpc-Kind", "client");
    headers.insert("Micro-Rpc-Window", "262144");
    caller
        .publish_with_reply_and_headers(subject, format!("{inbox}.1"), headers, Bytes::new())
        .await
        .unwrap();
    let accept = within_10s("the stream accepted", replies.next())
        .await
        .unwrap();
    assert_eq!(
        header(&accept.headers, "Micro-Rpc-Frame").as_deref(),
        Some("accept")
    );
    let cancelled = signals.cancelled.notified();
    drop(replies);
    drop(caller);
    within_10s("the handler of the vanished caller dropped", cancelled).await;
    assert_eq!(signals.cancellations.load(Ordering::SeqCst), 1);
    world.stop().await;
}

fn header(headers: &Option<HeaderMap>, name: &str) -> Option<String> {
    headers.as_ref()?.get(name).map(|v| v.as_str().to_owned())
}

/// Garbage on a node's subject gets a 400 (when it has a reply subject)
/// and the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_400_and_the_node_keeps_serving() {
    let Some(address) = address() else { return };
    let mut world = world(&address);
    let svc = name("echo");
    let (service, _) = world.echo(&svc).await;
    let node = service.address().await.unwrap();
    let subject = node.strip_prefix("nats:").unwrap().to_owned();
    let raw = async_nats::connect(&address).await.unwrap();

    // No headers at all.
    let answer = raw
        .request(subject.clone(), Bytes::from_static(b"\x00\xffgarbage"))
        .await
        .unwrap();
    assert_eq!(
        header(&answer.headers, "Micro-Rpc-Code").as_deref(),
        Some("400")
    );
    let err = micro_runtime::Error::from_json(&answer.payload);
    assert_eq!(err.code(), 400, "{err}");

    // An unknown frame, a bad timeout, an unknown kind, a stream without a window.
    let cases: [&[(&str, &str)]; 4] = [
        &[("Micro-Rpc-Frame", "teleport")],
        &[
            ("Micro-Rpc-Service", &svc),
            ("Micro-Rpc-Endpoint", "Echo.Say"),
            ("Micro-Rpc-Timeout", "soon"),
        ],
        &[
            ("Micro-Rpc-Service", &svc),
            ("Micro-Rpc-Endpoint", "Echo.Say"),
            ("Micro-Rpc-Kind", "sideways"),
        ],
        &[
            ("Micro-Rpc-Service", &svc),
            ("Micro-Rpc-Endpoint", "Echo.Count"),
            ("Micro-Rpc-Kind", "server"),
        ],
    ];
    for case in cases {
        let mut headers = HeaderMap::new();
        for (k, v) in case {
            headers.insert(*k, *v);
        }
        let answer = raw
            .request_with_headers(subject.clone(), headers, Bytes::new())
            .await
            .unwrap();
        assert_eq!(
            header(&answer.headers, "Micro-Rpc-Code").as_deref(),
            Some("400"),
            "{case:?}"
        );
    }
    // A body that does not decode: 400 from the codec.
    let mut headers = HeaderMap::new();
    headers.insert("Micro-Rpc-Service", svc.as_str());
    headers.insert("Micro-Rpc-Endpoint", "Echo.Say");
    let answer = raw
        .request_with_headers(
            subject.clone(),
            headers,
            Bytes::from_static(b"\xff\xff\xff"),
        )
        .await
        .unwrap();
    assert_eq!(
        header(&answer.headers, "Micro-Rpc-Code").as_deref(),
        Some("400")
    );
    // Without a reply subject, and on control subjects: dropped.
    raw.publish(subject.clone(), Bytes::from_static(b"junk"))
        .await
        .unwrap();
    raw.publish(format!("{subject}.999"), Bytes::from_static(b"junk"))
        .await
        .unwrap();
    raw.publish(format!("{subject}.nope"), Bytes::from_static(b"junk"))
        .await
        .unwrap();
    raw.flush().await.unwrap();

    let echo = EchoClient::new(svc.clone(), world.client());
    assert_eq!(
        echo.say(Msg::text("still here")).await.unwrap().text,
        "still here"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_node_under_load_fails_no_call() {
    let Some(address) = address() else { return };
    let mut world = world(&address);
    let svc = name("echo");
    let (first, _) = world.echo(&svc).await;
    world.echo(&svc).await;
    let echo = EchoClient::new(svc.clone(), world.client());
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
