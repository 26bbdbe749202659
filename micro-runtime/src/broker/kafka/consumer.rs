//! Subscribing: a consumer per subscription (a group member, or manually
//! assigned every partition), and the loop that feeds its messages.

use std::sync::Arc;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use super::KafkaBroker;
use super::acker::KafkaAcker;
use super::context::ConsumerCtx;
use super::offsets::Offsets;
use super::producer::{check_reachable, check_topic, client_config};
use crate::broker::backend::{Stop, reconnect_delay, unavailable};
use crate::broker::{Delivery, SubscribeOptions, Subscription};
use crate::{Error, Result};

pub(super) type KafkaConsumer = StreamConsumer<ConsumerCtx>;

/// Owns a subscription's consumer: shared by its loop and by every
/// unsettled delivery, so the offsets they store are committed, and the
/// consumer closed, once the last of them is gone.
pub(super) struct ConsumerGuard {
    consumer: Option<Arc<KafkaConsumer>>,
    /// False for non-durable subscriptions: nothing to resume, no commits.
    pub(super) commits: bool,
}

impl ConsumerGuard {
    pub(super) fn consumer(&self) -> &KafkaConsumer {
        self.consumer.as_ref().expect("taken only on drop")
    }
}

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        let Some(consumer) = self.consumer.take() else {
            return;
        };
        let commits = self.commits;
        let close = move || {
            if commits && let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(error = %err, "kafka final commit");
            }
            let holders = Arc::strong_count(&consumer);
            drop(consumer);
            tracing::debug!(holders, "kafka consumer closed");
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(close)),
            Err(_) => close(),
        }
    }
}

/// Opens a subscription (see the module docs for the two kinds).
pub(super) async fn subscribe(
    broker: &KafkaBroker,
    topic: &str,
    options: SubscribeOptions,
) -> Result<Subscription> {
    check_topic(topic)?;
    check_reachable(broker, Some(topic)).await?;
    let settings = &broker.inner.options;
    let durable = options.durable_name().map(str::to_owned);
    let offsets = Arc::new(Offsets::default());
    let (assigned_tx, mut assigned) = watch::channel(false);
    let context = ConsumerCtx {
        offsets: offsets.clone(),
        assigned: assigned_tx,
        errors: Default::default(),
    };
    let mut config = client_config(settings);
    config
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "true")
        .set("enable.auto.offset.store", "false");
    match &durable {
        Some(group) => config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", &settings.group_offset_reset)
            .set(
                "session.timeout.ms",
                settings.session_timeout.as_millis().to_string(),
            ),
        None => config
            .set("group.id", format!("micro-{:016x}", fastrand::u64(..)))
            .set("enable.auto.commit", "false"),
    };
    let consumer: KafkaConsumer = config
        .create_with_context(context)
        .map_err(|e| Error::bad_request(format!("kafka consumer settings: {e}")))?;
    let consumer = Arc::new(consumer);
    match &durable {
        Some(_) => consumer
            .subscribe(&[topic])
            .map_err(|e| unavailable("kafka", &settings.address, e))?,
        None => {
            let assignment = assign_at_end(&consumer, topic, settings.timeout)
                .await
                .map_err(|e| unavailable("kafka", &settings.address, e))?;
            offsets.assign(&assignment);
        }
    }
    let guard = Arc::new(ConsumerGuard {
        consumer: Some(consumer),
        commits: durable.is_some(),
    });
    let (tx, rx) = mpsc::channel(options.concurrency.max(1));
    let (loop_broker, loop_topic) = (broker.clone(), topic.to_owned());
    let handle = broker
        .inner
        .loops
        .spawn(move |stop| consume_loop(loop_broker, loop_topic, guard, offsets, tx, stop));
    if let Some(group) = &durable {
        // The loop polls the consumer, which runs the group protocol.
        let waited = tokio::time::timeout(settings.timeout, assigned.wait_for(|done| *done)).await;
        if waited.is_err() {
            tracing::warn!(
                topic,
                group,
                "no partition assignment yet; consuming once there is"
            );
        }
    }
    Ok(Subscription::new(topic, options, rx, handle))
}

/// Assigns every partition of `topic` at its current end.
async fn assign_at_end(
    consumer: &Arc<KafkaConsumer>,
    topic: &str,
    timeout: std::time::Duration,
) -> std::result::Result<TopicPartitionList, String> {
    let (consumer, topic) = (consumer.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(|e| e.to_string())?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(format!("topic {topic} has no partitions (does it exist?)"));
        }
        let mut list = TopicPartitionList::new();
        for partition in partitions {
            let (_, high) = consumer
                .fetch_watermarks(&topic, partition, timeout)
                .map_err(|e| e.to_string())?;
            list.add_partition_offset(&topic, partition, Offset::Offset(high))
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&list).map_err(|e| e.to_string())?;
        Ok(list)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Feeds the consumer's messages to `tx` until stopped; errors are logged
/// and consuming goes on after a backoff (librdkafka reconnects itself).
async fn consume_loop(
    broker: KafkaBroker,
    topic: String,
    guard: Arc<ConsumerGuard>,
    offsets: Arc<Offsets>,
    tx: mpsc::Sender<Delivery>,
    mut stop: Stop,
) {
    let mut failures = 0u32;
    loop {
        let received = tokio::select! {
            () = stop.stopped() => return,
            received = guard.consumer().recv() => received.map(|m| m.detach()),
        };
        match received {
            Ok(record) => {
                failures = 0;
                let epoch = offsets.received(record.topic(), record.partition(), record.offset());
                let delivery = KafkaAcker::delivery(&broker, &guard, &offsets, &record, epoch, &tx);
                tokio::select! {
                    () = stop.stopped() => return,
                    sent = tx.send(delivery) => if sent.is_err() { return },
                }
            }
            Err(err) => {
                failures += 1;
                tracing::warn!(topic, error = %err, failures, "kafka consumer error; going on");
                if !stop.sleep(reconnect_delay(failures)).await {
                    return;
                }
            }
        }
    }
}
