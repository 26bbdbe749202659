//! Publishing: persistent messages to the topic exchange, confirmed.

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Confirmation};

use super::RabbitMqBroker;
use super::connection::{short, to_table};
use crate::broker::{HEADER_CONTENT_TYPE, HEADER_ID, Message};
use crate::{Error, Result};

/// AMQP delivery mode of messages written to disk.
const PERSISTENT: u8 = 2;

/// Publishes `message` to `topic`; returns once RabbitMQ confirmed it.
pub(super) async fn publish(broker: &RabbitMqBroker, topic: &str, message: Message) -> Result<()> {
    if topic.is_empty() {
        return Err(Error::bad_request("topic is empty"));
    }
    let routing_key = short(topic)?;
    let connection = &broker.inner.connection;
    let mut properties = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_headers(to_table(&message.headers));
    if let Some(content_type) = message.headers.get(HEADER_CONTENT_TYPE)
        && let Ok(content_type) = lapin::types::ShortString::try_new(content_type)
    {
        properties = properties.with_content_type(content_type);
    }
    if let Some(id) = message.headers.get(HEADER_ID)
        && let Ok(id) = lapin::types::ShortString::try_new(id)
    {
        properties = properties.with_message_id(id);
    }
    let exchange = short(connection.exchange())?;
    // One retry on a fresh channel: the connection may have been lost since
    // the last publish.
    let mut last = None;
    for _ in 0..2 {
        let channel = connection.publisher().await?;
        let confirm = connection
            .bounded(&format!("publishing to {topic}"), async {
                channel
                    .basic_publish(
                        exchange.clone(),
                        routing_key.clone(),
                        BasicPublishOptions::default(),
                        &message.body,
                        properties.clone(),
                    )
                    .await?
                    .await
            })
            .await;
        match confirm {
            Ok(Confirmation::Nack(_)) => {
                return Err(connection.error(
                    &format!("publishing to {topic}"),
                    "the broker refused the message (negative confirm)",
                ));
            }
            Ok(_) => return Ok(()),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| connection.error("publishing", "no attempt made")))
}
