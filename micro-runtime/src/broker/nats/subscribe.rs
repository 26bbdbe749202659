//! Subscribing: core subscriptions, and JetStream durable pull consumers
//! with the loop that keeps them fetching across failures.

use std::sync::{Arc, Mutex};

use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::RetentionPolicy;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::NatsBroker;
use super::acker::{CoreAcker, CoreShared, JetStreamAcker};
use super::connection::{core_metadata, from_headers, sanitize};
use super::publish::check_topic;
use super::streams::{self, PullConsumer};
use crate::Result;
use crate::broker::backend::{Stop, reconnect_delay, unavailable};
use crate::broker::{Delivery, Message, SubscribeOptions, Subscription};

/// Missed heartbeats in a row after which a pull stream is re-created.
const MAX_MISSED_HEARTBEATS: u32 = 3;

/// Opens a subscription (see the module docs for which kind).
/// Deliveries read ahead of the handlers, at least.
const DELIVERY_BUFFER: usize = 64;

pub(super) async fn subscribe(
    broker: &NatsBroker,
    topic: &str,
    options: SubscribeOptions,
) -> Result<Subscription> {
    check_topic(topic, true)?;
    let inner = &broker.inner;
    let client = inner.connection.client().await?;
    let concurrency = options.concurrency.max(1);
    // A buffer of deliveries ahead of the handlers, so the connection's
    // reader and the handlers do not wait on each other message by message.
    let (tx, rx) = mpsc::channel(concurrency.max(DELIVERY_BUFFER));
    let durable = options.durable_name().map(str::to_owned);
    let handle = match durable {
        Some(durable) if inner.options.jetstream => {
            // Stream and consumer exist before this returns: what is
            // published from now on is kept for the group.
            let consumer = ensure_consumer(broker, topic, &durable).await?;
            let batch = inner.options.pull_batch.saturating_mul(concurrency);
            let (broker, topic) = (broker.clone(), topic.to_owned());
            inner.loops.spawn(move |stop| {
                jetstream_loop(broker, topic, durable, batch, consumer, tx, stop)
            })
        }
        _ => {
            let queue = options.queue.clone();
            let sub = core_subscribe(broker, topic, queue.as_deref()).await?;
            // Once the server has the subscription, what is published from
            // now on reaches it.
            client.flush().await.map_err(|e| {
                unavailable("nats", inner.connection.address(), format!("flush: {e}"))
            })?;
            let (broker, topic) = (broker.clone(), topic.to_owned());
            inner
                .loops
                .spawn(move |stop| core_loop(broker, topic, queue, sub, tx, stop))
        }
    };
    Ok(Subscription::new(topic, options, rx, handle))
}

async fn core_subscribe(
    broker: &NatsBroker,
    topic: &str,
    queue: Option<&str>,
) -> Result<async_nats::Subscriber> {
    let client = broker.inner.connection.client().await?;
    let subscribed = match queue {
        Some(queue) => {
            client
                .queue_subscribe(topic.to_owned(), queue.to_owned())
                .await
        }
        None => client.subscribe(topic.to_owned()).await,
    };
    subscribed.map_err(|e| unavailable("nats", broker.inner.connection.address(), e))
}

/// Feeds a core subscription's messages to `tx` until stopped. The client
/// restores the subscription after a reconnect by itself; should it end
/// anyway, it is made again with backoff.
async fn core_loop(
    broker: NatsBroker,
    topic: String,
    queue: Option<String>,
    mut sub: async_nats::Subscriber,
    tx: mpsc::Sender<Delivery>,
    mut stop: Stop,
) {
    let shared = Arc::new(CoreShared { broker, topic, tx });
    let (broker, topic, tx) = (&shared.broker, &shared.topic, &shared.tx);
    // One wait for the end, polled alongside every receive and send.
    let mut end = stop.clone();
    let stopped = end.stopped();
    tokio::pin!(stopped);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut stopped => break,
            next = sub.next() => next,
        };
        let Some(msg) = next else {
            tracing::warn!(topic, "nats subscription ended; subscribing again");
            let mut failures = 0;
            loop {
                failures += 1;
                if !stop.sleep(reconnect_delay(failures)).await {
                    return;
                }
                match core_subscribe(broker, topic, queue.as_deref()).await {
                    Ok(again) => {
                        sub = again;
                        break;
                    }
                    Err(err) => tracing::warn!(topic, error = %err, "subscribing again failed"),
                }
            }
            continue;
        };
        let message = Message {
            headers: core_metadata(msg.subject.as_str(), msg.headers.as_ref()),
            body: msg.payload,
        };
        let delivery = CoreAcker::delivery(&shared, msg.subject.as_str(), message, 1);
        tokio::select! {
            biased;
            () = &mut stopped => break,
            sent = tx.send(delivery) => if sent.is_err() { break },
        }
    }
    let _ = sub.unsubscribe().await;
}

/// The durable pull consumer of `durable` on `topic`'s stream, created when
/// missing (the stream too).
async fn ensure_consumer(broker: &NatsBroker, topic: &str, durable: &str) -> Result<PullConsumer> {
    let inner = &broker.inner;
    let js = inner.connection.jetstream().await?;
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
