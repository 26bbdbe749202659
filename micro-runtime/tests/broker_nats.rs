//! The NATS broker against a real server: `MICRO_TEST_NATS` (e.g.
//! `127.0.0.1:4222`, JetStream enabled) for most tests; the restart test
//! starts its own `nats-server` (`MICRO_TEST_NATS_SERVER`, default
//! `/usr/sbin/nats-server`).
//!
//! Durability is shown in one process: the durable subscriber's service is
//! stopped, events are published, and a new service on a new broker (a new
//! connection, as a restarted process would have) joins the same durable
//! group and receives them all.
#![cfg(feature = "nats")]

mod broker_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_support::*;
use futures_util::StreamExt;
use micro_runtime::broker::{Broker, NatsBroker, NatsOptions};

fn address() -> Option<String> {
    backend_address("MICRO_TEST_NATS", "a NATS server with JetStream")
        .map(|a| format!("nats://{}", a.trim_start_matches("nats://")))
}

fn broker(address: &str, jetstream: bool) -> Arc<dyn Broker> {
    Arc::new(NatsBroker::new(NatsOptions {
        address: address.to_owned(),
        jetstream,
        ..NatsOptions::default()
    }))
}

/// Deletes the JetStream streams the broker made for topics containing `id`.
async fn delete_streams(address: &str, id: &str) {
    let Ok(client) = async_nats::connect(address).await else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    let id = id.replace('.', "_");
    let names: Vec<String> = js
        .stream_names()
        .filter_map(|n| async move { n.ok() })
        .collect()
        .await;
    for name in names.into_iter().filter(|n| n.contains(&id)) {
        let _ = js.delete_stream(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_publish_subscribe() {
    let Some(address) = address() else { return };
    let topic = unique("typed");
    // A queue group: a JetStream durable consumer, the whole envelope on
    // the wire.
    typed_round_trip(broker(&address, true), &topic, Some("typed")).await;
    delete_streams(&address, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_publish_subscribe_core() {
    let Some(address) = address() else { return };
    // Core NATS: only metadata and a non-protobuf content type travel as
    // headers; the handler sees the same envelope as on every backend.
    typed_round_trip(broker(&address, true), &unique("typed.core"), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_events_get_their_own_envelope_on_core_nats() {
    let Some(address) = address() else { return };
    let (first, second) = (unique("forward.in"), unique("forward.out"));
    forwarded_event_has_its_own_envelope(broker(&address, true), &first, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_queue_group_once_each_and_broadcast_to_all() {
    let Some(address) = address() else { return };
    let topic = unique("core.group");
    // JetStream off: the queue group is a core NATS queue group.
    let (published, handled) = group_and_broadcast(
        || broker(&address, false),
        || broker(&address, false),
        broker(&address, false),
        &topic,
        true,
    )
    .await;
    println!("core: 3000 published in {published:.2} s, all handled after {handled:.2} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_queue_group_once_each_and_broadcast_to_all() {
    let Some(address) = address() else { return };
    let topic = unique("js.group");
    // The group is a JetStream durable consumer; the listeners without a
    // group are core subscriptions of the same subject.
    let (published, handled) = group_and_broadcast(
        || broker(&address, true),
        || broker(&address, true),
        broker(&address, true),
        &topic,
        true,
    )
    .await;
    println!("jetstream: 3000 published in {published:.2} s, all handled after {handled:.2} s");
    delete_streams(&address, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_jetstream() {
    let Some(address) = address() else { return };
    let topic = unique("poison.js");
    poison_is_dead_lettered(broker(&address, true), &topic, true).await;
    delete_streams(&address, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_core() {
    let Some(address) = address() else { return };
    let topic = unique("poison.core");
    poison_is_dead_lettered(broker(&address, true), &topic, false).await;
    delete_streams(&address, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_keeps_messages_while_the_subscriber_is_down() {
    let Some(address) = address() else { return };
    let topic = unique("durable");
    let (published, drained) =
        durable_while_down(|| broker(&address, true), &topic, "keeper").await;
    println!(
        "jetstream durability: 1000 published while down in {published:.2} s, \
         all 1000 received {drained:.2} s after the restart"
    );
    delete_streams(&address, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_503_naming_the_address() {
    let port = free_port();
    let broker = broker(&format!("nats://127.0.0.1:{port}"), true);
    let err = broker.connect().await.unwrap_err();
    assert_eq!(err.code(), 503, "{err:?}");
    assert!(err.detail().contains(&port.to_string()), "{err:?}");
    let err = broker
        .publish("t", micro_runtime::broker::Message::new("x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503);
}

/// A `nats-server` of the test's own, with JetStream in `store`.
struct OwnServer {
    guard: ChildGuard,
}

impl OwnServer {
    /// Starts it and waits (bounded) for its "Server is ready" line.
    fn start(port: u16, store: &std::path::Path) -> Self {
        let binary = std::env::var("MICRO_TEST_NATS_SERVER")
            .unwrap_or_else(|_| "/usr/sbin/nats-server".to_owned());
        let mut child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let guard = ChildGuard(Some(child));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("Server is ready") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("nats-server did not say it is ready within 20 s");
        Self { guard }
    }

    /// SIGKILL, and reaped.
    fn kill(mut self) {
        self.guard.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_continue_after_the_server_restarts() {
    if address().is_none() {
        return;
    }
    let port = free_port();
    let store = TempDir::new("micro-nats-store");
    let server = OwnServer::start(port, &store.0);
    let address = format!("nats://127.0.0.1:{port}");
    let topic = unique("restart");

    // On the same subject: a JetStream durable group and a core listener.
    let durable = Recorder::default();
    let core = Recorder::default();
    let durable_service = start_with(
        "restart-durable",
        broker(&address, true),
        vec![durable.subscriber(&topic).queue("survivors")],
    )
    .await;
    let core_service = start_with(
        "restart-core",
        broker(&address, true),
        vec![core.subscriber(&topic)],
    )
    .await;
    let client = service("restart-pub", broker(&address, true))
        .build()
        .unwrap()
        .client();

    // A: before the restart.
    assert_eq!(publish_range(&client, &topic, 0..100, 16).await, 0);
    durable
        .wait_distinct(100, 30, "durable, before the restart")
        .await;
    core.wait_distinct(100, 30, "core, before the restart")
        .await;

    server.kill();
    // B: published from the moment it is down. Every attempt fails (503,
    // the message was not published) and is retried until the server is
    // back; once 20 attempts failed (about a second), it starts again on
    // the same port and store.
    let failures = tokio::sync::watch::channel(0usize).0;
    let b = {
        let (client, topic, failures) = (client.clone(), topic.clone(), failures.clone());
        tokio::spawn(async move {
            publish_range_counting(&client, &topic, 100..200, 1, &failures).await;
        })
    };
    let down = Instant::now();
    within(
        30,
        "20 failed publishes",
        failures.subscribe().wait_for(|f| *f >= 20),
    )
    .await
    .unwrap();
    let outage = down.elapsed().as_secs_f64();
    let server = OwnServer::start(port, &store.0);
    let back = Instant::now();
    within(60, "publishing B", b).await.unwrap();
    let b_published = back.elapsed().as_secs_f64();
    let failed = *failures.borrow();

    // C: once the core listener saw something published after the restart
    // (probes, 1000 and up, until it does), so its subscription is back.
    let mut probe = 1000;
    while !core
        .wait_until(Duration::from_millis(200), |c| c.keys().any(|n| *n >= 100))
        .await
    {
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "the core listener never came back"
        );
        publish_retrying(&client, &topic, probe).await;
        probe += 1;
    }
    let seen = core.distinct();
    assert_eq!(publish_range(&client, &topic, 200..300, 16).await, 0);

    let all = durable
        .wait_until(Duration::from_secs(60), |c| {
            (0..300).all(|n| c.contains_key(&n))
        })
        .await;
    let resumed = back.elapsed().as_secs_f64();
    assert!(all, "JetStream lost: {:?}", durable.missing(0..300));
    core.wait_distinct(seen + 100, 30, "core: C").await;
    assert!(
        core.has_all(200..300),
        "core lost after resubscribing: {:?}",
        core.missing(200..300)
    );
    println!(
        "restart: down {outage:.2} s ({failed} publish attempts failed, each 503); after the \
         server was back, B was stored within {b_published:.2} s and the JetStream group had \
         all 300 within {resumed:.2} s; the core listener got {} of B (at-most-once: those \
         before it resubscribed are lost) and all of C",
        core.counts()
            .keys()
            .filter(|n| (100..200).contains(*n))
            .count()
    );
    durable_service.stop().await.unwrap();
    core_service.stop().await.unwrap();
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_redelivers_then_dead_letters_durable() {
    let Some(address) = address() else { return };
    let topic = unique("retry.durable");
    failures_are_redelivered_then_dead_lettered(broker(&address, true), &topic, true).await;
    delete_streams(&address, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_redelivers_then_dead_letters_not_durable() {
    let Some(address) = address() else { return };
    let topic = unique("retry.plain");
    failures_are_redelivered_then_dead_lettered(broker(&address, true), &topic, false).await;
    delete_streams(&address, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_core_subscription_ends_when_unsubscribed() {
    let Some(address) = address() else { return };
    let topic = unique("raw.core");
    let broker = broker(&address, true);
    let mut subscription = broker
        .subscribe(&topic, micro_runtime::broker::SubscribeOptions::default())
        .await
        .unwrap();
    let message = micro_runtime::broker::Message::new(&b"one"[..]).with_header("x-k", "v");
    broker.publish(&topic, message).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("the message arrives")
        .expect("the subscription is open");
    assert_eq!(&delivery.message.body[..], b"one");
    assert_eq!(delivery.message.headers.get("x-k"), Some("v"));
    assert_eq!(delivery.topic(), topic);
    delivery.ack().await.unwrap();
    // Ended through its handle (as a service stopping does): the stream
    // ends rather than waiting for messages forever.
    subscription.handle().unwrap().unsubscribe().await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
    assert!(matches!(next, Ok(None)), "the subscription ended");
}
