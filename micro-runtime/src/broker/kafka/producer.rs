//! The producer (made on first use), publishing and dead letters, and the
//! mapping of headers onto Kafka record headers.

use std::sync::{Arc, Mutex};

use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use super::context::LogContext;
use super::{KafkaBroker, KafkaOptions};
use crate::broker::backend::{HEADER_DEAD_LETTER_REASON, unavailable};
use crate::broker::{Message, dead_letter_topic};
use crate::{Error, Metadata, Result};

/// The broker's producer.
#[derive(Default)]
pub(super) struct Producer {
    current: Mutex<Option<Arc<FutureProducer<LogContext>>>>,
}

impl Producer {
    /// The producer, made on first use.
    fn get(&self, options: &KafkaOptions) -> Result<Arc<FutureProducer<LogContext>>> {
        let mut current = self.current.lock().unwrap();
        if let Some(producer) = current.as_ref() {
            return Ok(producer.clone());
        }
        let producer: FutureProducer<LogContext> = client_config(options)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                options.timeout.as_millis().max(1).to_string(),
            )
            .create_with_context(LogContext::default())
            .map_err(|e| Error::bad_request(format!("kafka producer settings: {e}")))?;
        let producer = Arc::new(producer);
        *current = Some(producer.clone());
        Ok(producer)
    }

    /// Flushes what is queued and drops the producer.
    pub(super) async fn close(&self, options: &KafkaOptions) {
        let producer = self.current.lock().unwrap().take();
        if let Some(producer) = producer {
            let timeout = options.timeout;
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(err) = producer.flush(timeout) {
                    tracing::warn!(error = %err, "kafka producer flush on close");
                }
            })
            .await;
        }
    }
}

/// Settings shared by producer and consumers.
pub(super) fn client_config(options: &KafkaOptions) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.address)
        .set("client.id", "micro");
    for (key, value) in &options.properties {
        config.set(key, value);
    }
    config
}

/// 400 unless `topic` is a valid Kafka topic name.
pub(super) fn check_topic(topic: &str) -> Result<()> {
    let valid = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "{topic:?} is not a Kafka topic name (1-249 of [A-Za-z0-9._-])"
        )))
    }
}

/// 503 unless the cluster answers a metadata request (for `topic`, which
/// creates it where the cluster auto-creates topics) within the timeout.
pub(super) async fn check_reachable(broker: &KafkaBroker, topic: Option<&str>) -> Result<()> {
    let options = &broker.inner.options;
    let producer = broker.inner.producer.get(options)?;
    let (topic, timeout) = (topic.map(str::to_owned), options.timeout);
    let fetched = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(topic.as_deref(), timeout)
            .map(drop)
    })
    .await
    .map_err(|e| Error::internal(format!("kafka metadata task: {e}")))?;
    fetched.map_err(|e| unavailable("kafka", &options.address, e))
}

/// Message headers as Kafka record headers.
pub(super) fn to_headers(metadata: &Metadata) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(metadata.len());
    for (key, value) in metadata.iter() {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}

/// Kafka record headers as message headers (UTF-8 values; the last of a
/// repeated key wins).
pub(super) fn from_headers(headers: Option<&impl Headers>) -> Metadata {
    let mut metadata = Metadata::new();
    for header in headers.into_iter().flat_map(|h| h.iter()) {
        if let Some(value) = header.value.and_then(|v| std::str::from_utf8(v).ok()) {
            metadata.insert(header.key, value);
        }
    }
    metadata
}

/// Publishes `message` to `topic`; returns once all in-sync replicas have it.
pub(super) async fn publish(broker: &KafkaBroker, topic: &str, message: Message) -> Result<()> {
    check_topic(topic)?;
    let options = &broker.inner.options;
    let producer = broker.inner.producer.get(options)?;
    let record: FutureRecord<'_, (), _> = FutureRecord::to(topic)
        .payload(message.body.as_ref())
        .headers(to_headers(&message.headers));
    producer
        .send(record, options.timeout)
        .await
        .map(drop)
        .map_err(|(err, _)| {
            unavailable(
                "kafka",
                &options.address,
                format!("publishing to {topic}: {err}"),
            )
        })
}

/// Produces `message` to `<topic>.dead-letter` with the reason. Dead
/// letters of a dead-letter topic are only logged.
pub(super) async fn dead_letter(
    broker: &KafkaBroker,
    topic: &str,
    mut message: Message,
    reason: &str,
) -> Result<()> {
    if topic.ends_with(".dead-letter") {
        tracing::error!(
            topic,
            reason,
            "a dead letter cannot be handled either; dropped"
        );
        return Ok(());
    }
    message.headers.insert(HEADER_DEAD_LETTER_REASON, reason);
    publish(broker, &dead_letter_topic(topic), message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_and_headers() {
        assert!(check_topic("orders.created-v1_x").is_ok());
        assert!(check_topic("").is_err());
        assert!(check_topic("a b").is_err());
        assert!(check_topic("a/b").is_err());
        assert!(check_topic(&"x".repeat(250)).is_err());
        let mut md = Metadata::new();
        md.insert("content-type", "application/protobuf");
        md.insert("x-user", "ada");
        assert_eq!(from_headers(Some(&to_headers(&md))), md);
    }
}
