//! The RabbitMQ broker against a real server: `MICRO_TEST_RABBITMQ` (e.g.
//! `127.0.0.1:5672`, user guest/guest).
//!
//! Durability is shown in one process: the durable subscriber's service is
//! stopped, events are published, and a new service on a new broker (a new
//! connection, as a restarted process would have) consumes the same queue
//! and receives them all.
#![cfg(feature = "rabbitmq")]

mod broker_support;

use std::sync::Arc;

use broker_support::*;
use futures_util::StreamExt;
use lapin::options::QueueDeleteOptions;
use micro_runtime::broker::{Broker, Message, RabbitMqBroker, RabbitMqOptions, SubscribeOptions};

fn address() -> Option<String> {
    backend_address("MICRO_TEST_RABBITMQ", "RabbitMQ (guest/guest)").map(|a| {
        if a.starts_with("amqp://") {
            a
        } else {
            format!("amqp://guest:guest@{a}/%2f")
        }
    })
}

fn broker(address: &str) -> Arc<dyn Broker> {
    Arc::new(RabbitMqBroker::new(RabbitMqOptions {
        address: address.to_owned(),
        ..RabbitMqOptions::default()
    }))
}

/// Deletes the durable queues the broker declared for `topic`.
async fn delete_queues(address: &str, topic: &str, groups: &[&str]) {
    let Ok(connection) =
        lapin::Connection::connect(address, lapin::ConnectionProperties::default()).await
    else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    let mut queues: Vec<String> = groups.iter().map(|g| format!("{topic}.{g}")).collect();
    queues.push(format!("{topic}.dead-letter"));
    for queue in queues {
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "done".into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_publish_subscribe() {
    let Some(address) = address() else { return };
    let topic = unique("typed");
    typed_round_trip(broker(&address), &topic, Some("typed")).await;
    delete_queues(&address, &topic, &["typed"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_group_once_each_and_broadcast_to_all() {
    let Some(address) = address() else { return };
    let topic = unique("group");
    let (published, handled) = group_and_broadcast(
        || broker(&address),
        || broker(&address),
        broker(&address),
        &topic,
        true,
    )
    .await;
    println!(
        "rabbitmq: 3000 published (confirmed) in {published:.2} s, all handled after {handled:.2} s"
    );
    delete_queues(&address, &topic, &["workers"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_durable() {
    let Some(address) = address() else { return };
    let topic = unique("poison.durable");
    poison_is_dead_lettered(broker(&address), &topic, true).await;
    delete_queues(&address, &topic, &["poison"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_exclusive() {
    let Some(address) = address() else { return };
    let topic = unique("poison.exclusive");
    poison_is_dead_lettered(broker(&address), &topic, false).await;
    delete_queues(&address, &topic, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_wait_in_their_queue() {
    let Some(address) = address() else { return };
    let topic = unique("parked");
    let broker = broker(&address);
    let mut sub = broker
        .subscribe(
            &topic,
            SubscribeOptions {
                queue: Some("g".into()),
                ..SubscribeOptions::default()
            },
        )
        .await
        .unwrap();
    broker
        .publish(&topic, Message::new("poison").with_header("x-user", "ada"))
        .await
        .unwrap();
    let delivery = within(20, "the delivery", sub.next()).await.unwrap();
    delivery.dead_letter("test").await.unwrap();
    sub.unsubscribe().await.unwrap();
    // Nobody listened on the dead-letter topic: the durable queue of that
    // name kept it.
    let dead_queue = format!("{topic}.dead-letter");
    let connection = lapin::Connection::connect(&address, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut parked = channel
        .basic_consume(
            dead_queue.as_str().into(),
            "".into(),
            lapin::options::BasicConsumeOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
    let kept = within(20, "the parked message", parked.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.data, b"poison");
    let headers = kept.properties.headers().clone().unwrap();
    assert!(headers.inner().contains_key("x-death"), "{headers:?}");
    kept.ack(lapin::options::BasicAckOptions::default())
        .await
        .unwrap();
    drop(parked);
    let _ = connection.close(200, "done".into()).await;
    delete_queues(&address, &topic, &["g"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_queue_keeps_messages_while_the_subscriber_is_down() {
    let Some(address) = address() else { return };
    let topic = unique("durable");
    let (published, drained) = durable_while_down(|| broker(&address), &topic, "keeper").await;
    println!(
        "rabbitmq durability: 1000 published while down in {published:.2} s, \
         all 1000 received {drained:.2} s after the restart"
    );
    delete_queues(&address, &topic, &["keeper"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_503_naming_the_address() {
    let port = free_port();
    let broker = broker(&format!("amqp://guest:secret@127.0.0.1:{port}/%2f"));
    let err = broker.connect().await.unwrap_err();
    assert_eq!(err.code(), 503, "{err:?}");
    assert!(err.detail().contains(&port.to_string()), "{err:?}");
    assert!(
        !err.detail().contains("secret"),
        "the password is left out: {err:?}"
    );
    let err = broker.publish("t", Message::new("x")).await.unwrap_err();
    assert_eq!(err.code(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_continue_after_the_connection_is_lost() {
    let Some(address) = address() else { return };
    let target = address
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5672")
        .to_owned();
    let proxy = Proxy::start(&target).await;
    let via_proxy = format!("amqp://guest:guest@{}/%2f", proxy.address);
    let topic = unique("lost");
    let durable = Recorder::default();
    let exclusive = Recorder::default();
    let durable_service = start_with(
        "lost-durable",
        broker(&via_proxy),
        vec![durable.subscriber(&topic).queue("survivors")],
    )
    .await;
    let exclusive_service = start_with(
        "lost-exclusive",
        broker(&via_proxy),
        vec![exclusive.subscriber(&topic)],
    )
    .await;
    let client = service("lost-pub", broker(&via_proxy))
        .build()
        .unwrap()
        .client();

    assert_eq!(publish_range(&client, &topic, 0..100, 16).await, 0);
    durable
        .wait_distinct(100, 30, "durable, before the cut")
        .await;
    exclusive
        .wait_distinct(100, 30, "exclusive, before the cut")
        .await;

    let cut = proxy.cut();
    assert!(cut >= 3, "every broker had a connection: {cut}");
    let started = std::time::Instant::now();
    let failed = publish_range(&client, &topic, 100..200, 1).await;
    // The exclusive queue was gone with the connection: once it consumes
    // again (probes from 1000 until it sees one), what follows reaches it.
    let mut probe = 1000;
    while !exclusive
        .wait_until(std::time::Duration::from_millis(200), |c| {
            c.keys().any(|n| *n >= 100)
        })
        .await
    {
        assert!(
            started.elapsed().as_secs() < 30,
            "the exclusive subscriber never came back"
        );
        publish_retrying(&client, &topic, probe).await;
        probe += 1;
    }
    let seen = exclusive.distinct();
    assert_eq!(publish_range(&client, &topic, 200..300, 16).await, 0);
    let all = durable
        .wait_until(std::time::Duration::from_secs(60), |c| {
            (0..300).all(|n| c.contains_key(&n))
        })
        .await;
    assert!(all, "the durable queue lost: {:?}", durable.missing(0..300));
    exclusive
        .wait_distinct(seen + 100, 30, "exclusive: C")
        .await;
    assert!(exclusive.has_all(200..300));
    println!(
        "rabbitmq connection loss: {cut} connections cut; {failed} publish attempts failed; the \
         durable group had all 300 {:.2} s after the cut",
        started.elapsed().as_secs_f64()
    );
    durable_service.stop().await.unwrap();
    exclusive_service.stop().await.unwrap();
    delete_queues(&address, &topic, &["survivors"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_redelivers_then_dead_letters_durable() {
    let Some(address) = address() else { return };
    let topic = unique("retry.durable");
    failures_are_redelivered_then_dead_lettered(broker(&address), &topic, true).await;
    delete_queues(&address, &topic, &["retry"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_redelivers_then_dead_letters_not_durable() {
    let Some(address) = address() else { return };
    let topic = unique("retry.plain");
    failures_are_redelivered_then_dead_lettered(broker(&address), &topic, false).await;
    delete_queues(&address, &topic, &[]).await;
}
