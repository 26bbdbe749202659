//! The Kafka broker against librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`: real Kafka protocol on loopback,
//! consumer groups and offset commits included), so these tests always run
//! when the `kafka` feature is on.
//!
//! Durability (committed offsets) is shown in one process: the group's
//! service is stopped, events are published, and a new service on a new
//! broker joins the same group and receives them all.
#![cfg(feature = "kafka")]

mod broker_support;

use std::sync::Arc;
use std::time::Duration;

use broker_support::*;
use micro_runtime::broker::{Broker, KafkaBroker, KafkaOptions, dead_letter_topic};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

type Cluster = MockCluster<'static, DefaultProducerContext>;

/// A mock cluster of 3 brokers with `topics` made, each with `partitions`.
fn cluster(topics: &[&str], partitions: i32) -> Cluster {
    let cluster = MockCluster::new(3).expect("a mock cluster");
    for topic in topics {
        cluster.create_topic(topic, partitions, 3).unwrap();
    }
    cluster
}

fn broker(cluster: &Cluster) -> Arc<dyn Broker> {
    // The mock's group coordinator waits up to the session timeout before
    // it completes a rebalance in which a member joined or left (a real
    // broker finishes once the known members rejoined): keep it short.
    // MICRO_KAFKA_PROPERTIES (e.g. debug=cgrp) reaches librdkafka.
    Arc::new(KafkaBroker::new(KafkaOptions {
        address: cluster.bootstrap_servers(),
        session_timeout: Duration::from_secs(6),
        ..KafkaOptions::from_env().unwrap()
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_publish_subscribe() {
    let topic = unique("typed");
    let cluster = cluster(&[&topic], 1);
    typed_round_trip(broker(&cluster), &topic, Some("typed")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_group_once_each_and_broadcast_to_all() {
    let topic = unique("group");
    let cluster = cluster(&[&topic], 3);
    let (published, handled) = group_and_broadcast(
        || broker(&cluster),
        || broker(&cluster),
        broker(&cluster),
        &topic,
        true,
    )
    .await;
    println!(
        "kafka (mock, 3 partitions): 3000 published in {published:.2} s, all handled after {handled:.2} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_group() {
    let topic = unique("poison-group");
    let cluster = cluster(&[&topic, &dead_letter_topic(&topic)], 1);
    poison_is_dead_lettered(broker(&cluster), &topic, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_broadcast() {
    let topic = unique("poison-all");
    let cluster = cluster(&[&topic, &dead_letter_topic(&topic)], 1);
    poison_is_dead_lettered(broker(&cluster), &topic, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_resumes_after_its_commits() {
    let topic = unique("durable");
    let cluster = cluster(&[&topic], 3);
    let (published, drained) = durable_while_down(|| broker(&cluster), &topic, "keeper").await;
    println!(
        "kafka durability: 1000 published while the group was down in {published:.2} s, \
         all 1000 received {drained:.2} s after it rejoined"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_is_503_naming_the_address() {
    let address = format!("127.0.0.1:{}", free_port());
    let broker = KafkaBroker::new(KafkaOptions {
        address: address.clone(),
        timeout: Duration::from_secs(2),
        ..KafkaOptions::default()
    });
    let err = broker.connect().await.unwrap_err();
    assert_eq!(err.code(), 503, "{err:?}");
    assert!(err.detail().contains(&address), "{err:?}");
    let err = broker
        .publish("t", micro_runtime::broker::Message::new("x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_redelivers_then_dead_letters_group() {
    let topic = unique("retry-group");
    let cluster = cluster(&[&topic, &dead_letter_topic(&topic)], 1);
    failures_are_redelivered_then_dead_lettered(broker(&cluster), &topic, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_redelivers_then_dead_letters_broadcast() {
    let topic = unique("retry-all");
    let cluster = cluster(&[&topic, &dead_letter_topic(&topic)], 1);
    failures_are_redelivered_then_dead_lettered(broker(&cluster), &topic, false).await;
}
