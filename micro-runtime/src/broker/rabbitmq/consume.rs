//! Subscribing: the consumer loop, which declares, consumes, and after a
//! lost connection reconnects, declares again and resumes.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use tokio::sync::mpsc;

use super::RabbitMqBroker;
use super::acker::{Attempts, RabbitAcker};
use super::connection::{from_table, short, value_text};
use super::topology;
use crate::broker::backend::{Stop, reconnect_delay};
use crate::broker::{Delivery, HEADER_ID, Message, SubscribeOptions, Subscription};
use crate::{Error, Result};

/// How often an idle consumer checks that its channel is still open.
const CHANNEL_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// What a subscription consumes from: a channel with its consumer.
struct Consuming {
    channel: Channel,
    consumer: Consumer,
    /// Failed deliveries by message id, for exclusive queues.
    attempts: Option<Attempts>,
}

/// Opens a subscription: its queue is declared and consumed before this
/// returns.
pub(super) async fn subscribe(
    broker: &RabbitMqBroker,
    topic: &str,
    options: SubscribeOptions,
) -> Result<Subscription> {
    if topic.is_empty() {
        return Err(Error::bad_request("topic is empty"));
    }
    short(topic)?;
    let concurrency = options.concurrency.clamp(1, usize::from(u16::MAX));
    let durable = options.durable_name().map(str::to_owned);
    let consuming = start(broker, topic, durable.as_deref(), concurrency).await?;
    let (tx, rx) = mpsc::channel(concurrency);
    let (loop_broker, loop_topic) = (broker.clone(), topic.to_owned());
    let handle = broker.inner.loops.spawn(move |stop| {
        consume_loop(
            loop_broker,
            loop_topic,
            durable,
            concurrency,
            consuming,
            tx,
            stop,
        )
    });
    Ok(Subscription::new(topic, options, rx, handle))
}

/// Opens a channel, declares the queue and starts consuming it.
async fn start(
    broker: &RabbitMqBroker,
    topic: &str,
    durable: Option<&str>,
    concurrency: usize,
) -> Result<Consuming> {
    let connection = &broker.inner.connection;
    let channel = connection.channel().await?;
    let prefetch = u16::try_from(concurrency).unwrap_or(u16::MAX);
    connection
        .bounded(
            "setting the prefetch",
            channel.basic_qos(prefetch, BasicQosOptions::default()),
        )
        .await?;
    let queue = topology::declare(
        connection,
        &channel,
        topic,
        durable,
        broker.inner.options.max_deliver,
    )
    .await?;
    let consumer = connection
        .bounded(
            &format!("consuming queue {queue:?}"),
            channel.basic_consume(
                short(&queue)?,
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
    tracing::debug!(topic, queue, "rabbitmq consumer started");
    Ok(Consuming {
        channel,
        consumer,
        attempts: durable.is_none().then(Attempts::default),
    })
}

/// Feeds deliveries to `tx` until stopped, reconnecting with backoff.
async fn consume_loop(
    broker: RabbitMqBroker,
    topic: String,
    durable: Option<String>,
    concurrency: usize,
    consuming: Consuming,
    tx: mpsc::Sender<Delivery>,
    mut stop: Stop,
) {
    let mut current = Some(consuming);
    let mut failures = 0u32;
    while !stop.is_stopped() {
        if failures > 0 && !stop.sleep(reconnect_delay(failures)).await {
            return;
        }
        let mut consuming = match current.take() {
            Some(consuming) => consuming,
            None => match start(&broker, &topic, durable.as_deref(), concurrency).await {
                Ok(consuming) => {
                    tracing::info!(topic, "rabbitmq consumer resumed");
                    consuming
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(topic, error = %err, failures,
                        "rabbitmq consumer cannot start; retrying");
                    continue;
                }
            },
        };
        loop {
            // Returning drops the consumer (cancelling it) and this loop's
            // channel; the channel closes once the last delivery is settled.
            let next = tokio::select! {
                () = stop.stopped() => return,
                next = consuming.consumer.next() => next,
                // A consumer is not always told that its connection died.
                () = tokio::time::sleep(CHANNEL_CHECK) => {
                    if consuming.channel.status().connected() {
                        continue;
                    }
                    failures += 1;
                    tracing::warn!(topic, "rabbitmq channel closed; reconnecting");
                    break;
                }
            };
            match next {
                Some(Ok(delivery)) => {
                    failures = 0;
                    let delivery = to_delivery(&broker, &topic, &consuming, delivery);
                    tokio::select! {
                        () = stop.stopped() => return,
                        sent = tx.send(delivery) => if sent.is_err() { return },
                    }
                }
                Some(Err(err)) => {
                    failures += 1;
                    tracing::warn!(topic, error = %err, "rabbitmq consumer failed; reconnecting");
                    break;
                }
                None => {
                    failures += 1;
                    tracing::warn!(topic, "rabbitmq consumer was cancelled; consuming again");
                    break;
                }
            }
        }
    }
}

fn to_delivery(
    broker: &RabbitMqBroker,
    topic: &str,
    consuming: &Consuming,
    delivery: lapin::message::Delivery,
) -> Delivery {
    let properties = &delivery.properties;
    let mut headers = from_table(properties.headers().as_ref());
    if let Some(content_type) = properties.content_type()
        && headers.get(crate::broker::HEADER_CONTENT_TYPE).is_none()
    {
        headers.insert(crate::broker::HEADER_CONTENT_TYPE, content_type.as_str());
    }
    if let Some(id) = properties.message_id()
        && headers.get(HEADER_ID).is_none()
    {
        headers.insert(HEADER_ID, id.as_str());
    }
    let max_deliver = broker.inner.options.max_deliver;
    let id = headers.get(HEADER_ID).map(str::to_owned);
    // Deliveries so far, this one included.
    let count = match (&consuming.attempts, &id) {
        (Some(attempts), Some(id)) => attempts.lock().unwrap().get(id).copied().unwrap_or(0) + 1,
        (Some(_), None) if delivery.redelivered => max_deliver,
        (Some(_), None) => 1,
        (None, _) => {
            properties
                .headers()
                .as_ref()
                .and_then(|t| t.inner().get("x-delivery-count"))
                .and_then(value_text)
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0)
                + 1
        }
    };
    let attempts = match (&consuming.attempts, id) {
        (Some(attempts), Some(id)) => Some((Arc::clone(attempts), id)),
        _ => None,
    };
    let message_topic = if delivery.routing_key.as_str().is_empty() {
        topic.to_owned()
    } else {
        delivery.routing_key.as_str().to_owned()
    };
    let redelivered = delivery.redelivered || count > 1;
    let acker = Box::new(RabbitAcker {
        acker: delivery.acker,
        _channel: consuming.channel.clone(),
        address: broker.inner.connection.address().to_owned(),
        timeout: broker.inner.connection.timeout(),
        topic: message_topic.clone(),
        delivery: count,
        max_deliver,
        attempts,
    });
    let message = Message {
        headers,
        body: delivery.data.into(),
    };
    Delivery::new(message_topic, message, Some(acker)).redelivered(redelivered)
}
