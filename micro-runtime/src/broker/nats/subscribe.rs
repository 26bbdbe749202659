//! Subscribing: core subscriptions (read as a stream, see `core_stream`),
//! and JetStream durable pull consumers with the loop that keeps them
//! fetching across failures.

use std::sync::Mutex;

use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::RetentionPolicy;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::NatsBroker;
use super::acker::JetStreamAcker;
use super::connection::{from_headers, sanitize};
use super::core_stream::{CoreDeliveries, core_subscribe};
use super::publish::check_topic;
use super::streams::{self, PullConsumer};
use crate::Result;
use crate::broker::backend::{Stop, reconnect_delay, unavailable};
use crate::broker::{Delivery, Message, SubscribeOptions, Subscription};

/// Missed heartbeats in a row after which a pull stream is re-created.
const MAX_MISSED_HEARTBEATS: u32 = 3;

/// Deliveries a JetStream pull loop reads ahead of the handlers, at least.
const DELIVERY_BUFFER: usize = 64;

/// Opens a subscription (see the module docs for which kind).
pub(super) async fn subscribe(
    broker: &NatsBroker,
    topic: &str,
    options: SubscribeOptions,
) -> Result<Subscription> {
    check_topic(topic, true)?;
    let inner = &broker.inner;
    let client = inner.connection.client().await?;
    let durable = options.durable_name().map(str::to_owned);
    if let Some(durable) = durable.filter(|_| inner.options.jetstream) {
        // Stream and consumer exist before this returns: what is published
        // from now on is kept for the group.
        let consumer = ensure_consumer(broker, topic, &durable).await?;
        let concurrency = options.concurrency.max(1);
        let batch = inner.options.pull_batch.saturating_mul(concurrency);
        // A buffer of deliveries ahead of the handlers, so the pull loop
        // and the handlers do not wait on each other message by message.
        let (tx, rx) = mpsc::channel(concurrency.max(DELIVERY_BUFFER));
        let (broker, owned_topic) = (broker.clone(), topic.to_owned());
        let handle = inner.loops.spawn(move |stop| {
            jetstream_loop(broker, owned_topic, durable, batch, consumer, tx, stop)
        });
        return Ok(Subscription::new(topic, options, rx, handle));
    }
    let queue = options.queue.clone();
    let sub = core_subscribe(broker, topic, queue.as_deref()).await?;
    // Once the server has the subscription, what is published from now on
    // reaches it.
    client
        .flush()
        .await
        .map_err(|e| unavailable("nats", inner.connection.address(), format!("flush: {e}")))?;
    let (stop, handle) = inner.loops.register();
    let deliveries = CoreDeliveries::new(broker.clone(), topic.to_owned(), queue, sub, stop);
    Ok(Subscription::from_stream(
        topic, options, deliveries, handle,
    ))
}

/// The durable pull consumer of `durable` on `topic`'s stream, created when
/// missing (the stream too).
async fn ensure_consumer(broker: &NatsBroker, topic: &str, durable: &str) -> Result<PullConsumer> {
    let inner = &broker.inner;
    let js = super::connection::jetstream(&inner.connection).await?;
    let stream = streams::ensure(
        &js,
        &inner.options,
        &inner.streams,
        topic,
        RetentionPolicy::Interest,
    )
    .await?;
    let name = if streams::only_topic(&stream, topic) {
        sanitize(durable)
    } else {
        format!("{}_{}", sanitize(durable), sanitize(topic))
    };
    let config = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(format!("micro subscription {durable} of {topic}")),
        deliver_policy: DeliverPolicy::New,
        ack_policy: AckPolicy::Explicit,
        ack_wait: inner.options.ack_wait,
        max_deliver: i64::from(inner.options.max_deliver),
        filter_subject: topic.to_owned(),
        ..pull::Config::default()
    };
    stream
        .get_or_create_consumer(&name, config)
        .await
        .map_err(|e| {
            unavailable(
                "nats",
                inner.connection.address(),
                format!("JetStream consumer {name} of {topic}: {e}"),
            )
        })
}

/// Feeds a JetStream consumer's messages to `tx` until stopped; whatever
/// fails (the server restarted, the consumer was deleted) is re-created
/// with backoff, and logged.
async fn jetstream_loop(
    broker: NatsBroker,
    topic: String,
    durable: String,
    batch: usize,
    consumer: PullConsumer,
    tx: mpsc::Sender<Delivery>,
    mut stop: Stop,
) {
    let mut consumer = Some(consumer);
    let mut failures = 0u32;
    while !stop.is_stopped() {
        if failures > 0 && !stop.sleep(reconnect_delay(failures)).await {
            return;
        }
        let current = match consumer.take() {
            Some(current) => current,
            None => match ensure_consumer(&broker, &topic, &durable).await {
                Ok(current) => current,
                Err(err) => {
                    failures += 1;
                    tracing::warn!(topic, durable, error = %err, failures,
                        "JetStream consumer unavailable; retrying");
                    continue;
                }
            },
        };
        let mut messages = match current
            .stream()
            .max_messages_per_batch(batch)
            .messages()
            .await
        {
            Ok(messages) => messages,
            Err(err) => {
                failures += 1;
                tracing::warn!(topic, durable, error = %err, failures,
                    "JetStream pull failed; retrying");
                continue;
            }
        };
        let mut missed = 0;
        loop {
            let next = tokio::select! {
                () = stop.stopped() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(msg)) => {
                    failures = 0;
                    missed = 0;
                    let delivery = jetstream_delivery(&broker, msg);
                    tokio::select! {
                        () = stop.stopped() => return,
                        sent = tx.send(delivery) => if sent.is_err() { return },
                    }
                }
                Some(Err(err))
                    if matches!(err.kind(), MessagesErrorKind::MissingHeartbeat)
                        && missed < MAX_MISSED_HEARTBEATS =>
                {
                    missed += 1;
                    tracing::debug!(topic, durable, "JetStream heartbeat missed");
                }
                Some(Err(err)) => {
                    failures += 1;
                    tracing::warn!(topic, durable, error = %err,
                        "JetStream consumer failed; re-creating it");
                    break;
                }
                None => {
                    failures += 1;
                    tracing::warn!(
                        topic,
                        durable,
                        "JetStream pull stream ended; re-creating it"
                    );
                    break;
                }
            }
        }
    }
}

fn jetstream_delivery(broker: &NatsBroker, msg: async_nats::jetstream::Message) -> Delivery {
    let delivered = msg
        .info()
        .map(|info| u32::try_from(info.delivered).unwrap_or(1).max(1))
        .unwrap_or(1);
    let (msg, acker) = msg.split();
    let topic = msg.subject.to_string();
    let message = Message {
        headers: from_headers(msg.headers.as_ref()),
        body: msg.payload,
    };
    let acker = Box::new(JetStreamAcker {
        broker: broker.clone(),
        topic: topic.clone(),
        message: message.clone(),
        delivered,
        acker: Mutex::new(Some(acker)),
    });
    Delivery::new(topic, message, Some(acker)).redelivered(delivered > 1)
}
