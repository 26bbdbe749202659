//! Declaring what a subscription consumes: its queue, bound to the topic,
//! with dead-lettering to `<topic>.dead-letter`, and the durable queue that
//! keeps those dead letters.

use lapin::Channel;
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

use super::connection::{Connection, short};
use crate::broker::dead_letter_topic;
use crate::{Error, Result};

/// The queue of a subscription with durable name `durable` to `topic`.
pub(super) fn shared_queue(topic: &str, durable: &str) -> String {
    format!("{topic}.{durable}")
}

/// Declares the subscription's queue (shared and durable with a durable
/// name, else exclusive) and its binding; returns the queue's name.
///
/// # Errors
///
/// 503 when RabbitMQ cannot be reached; 409 when a queue of that name
/// exists with other arguments; 400 for names over 255 bytes.
pub(super) async fn declare(
    connection: &Connection,
    channel: &Channel,
    topic: &str,
    durable: Option<&str>,
    max_deliver: u32,
) -> Result<String> {
    let exchange = connection.exchange();
    let dead_topic = dead_letter_topic(topic);
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from(exchange)),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(LongString::from(dead_topic.as_str())),
    );
    let (name, options) = match durable {
        Some(durable) => {
            arguments.insert(
                "x-queue-type".into(),
                AMQPValue::LongString(LongString::from("quorum")),
            );
            arguments.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongInt(i32::try_from(max_deliver).unwrap_or(i32::MAX)),
            );
            (
                shared_queue(topic, durable),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
            )
        }
        None => (
            String::new(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
        ),
    };
    let queue = declare_queue(connection, channel, &name, options, arguments).await?;
    let queue = queue.name().as_str().to_owned();
    bind(connection, channel, &queue, topic).await?;
    if !topic.ends_with(".dead-letter") {
        declare_queue(
            connection,
            channel,
            &dead_topic,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
        bind(connection, channel, &dead_topic, &dead_topic).await?;
    }
    Ok(queue)
}

async fn declare_queue(
    connection: &Connection,
    channel: &Channel,
    name: &str,
    options: QueueDeclareOptions,
    arguments: FieldTable,
) -> Result<lapin::Queue> {
    let what = format!("declaring queue {name:?}");
    match tokio::time::timeout(
        connection.timeout(),
        channel.queue_declare(short(name)?, options, arguments),
    )
    .await
    {
        Ok(Ok(queue)) => Ok(queue),
        Ok(Err(err)) if err.to_string().contains("PRECONDITION_FAILED") => Err(Error::conflict(
            format!("{what}: it exists with other settings: {err}"),
        )),
        Ok(Err(err)) => Err(connection.error(&what, err)),
        Err(_) => Err(connection.error(&what, "timed out")),
    }
}

async fn bind(connection: &Connection, channel: &Channel, queue: &str, key: &str) -> Result<()> {
    connection
        .bounded(
            &format!("binding queue {queue:?}"),
            channel.queue_bind(
                short(queue)?,
                short(connection.exchange())?,
                short(key)?,
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await
}
