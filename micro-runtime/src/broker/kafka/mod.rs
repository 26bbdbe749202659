//! The Kafka broker (cargo feature `kafka`, `MICRO_BROKER=kafka`), over
//! librdkafka (built from source with the crate: needs a C compiler, `make`
//! and zlib headers).
//!
//! - **Publishing.** One producer per broker with `acks=all` and
//!   idempotence on: `publish` returns once every in-sync replica has the
//!   message (or 503 after [`KafkaOptions::timeout`]). Headers travel as
//!   Kafka record headers. Records have no key, so they spread over the
//!   topic's partitions (librdkafka's sticky partitioner): order holds per
//!   partition only.
//! - **Topics** are created by the cluster when first used
//!   (`auto.create.topics.enable`, with the cluster's default partition
//!   count) or beforehand by you; the partition count bounds how many
//!   members of a group consume at once.
//! - **Durable subscriptions** (a queue group or durable name) are members
//!   of the consumer group of that name: each message goes to one member,
//!   and the group resumes after its committed offsets (at-least-once). A
//!   new group starts at the earliest retained message
//!   ([`KafkaOptions::group_offset_reset`]). Offsets are committed only up
//!   to messages the handler settled, in order per partition (a message
//!   still being handled holds back the offsets after it): stored as
//!   settled, committed every second and when the subscription ends. A
//!   subscription returns once the group assigned it its partitions.
//! - **Other subscriptions** read every partition from its end at subscribe
//!   time (manually assigned, under a unique group id, nothing committed):
//!   every subscriber gets every message published after it subscribed,
//!   none published while it was down.
//! - **Settling.** ack → offset stored; nack with requeue → not committed,
//!   handed to the handler again by this process after a delay (100 ms
//!   doubling to 5 s), dead-lettered on the 5th failure (Kafka has no
//!   per-message redelivery; should the process stop meanwhile, the group
//!   delivers it again from the last commit); nack without requeue → offset
//!   stored (dropped); dead letter → produced to `<topic>.dead-letter`
//!   (header `micro-dead-letter-reason`, `acks=all`), then offset stored.
//! - **Failures.** librdkafka reconnects to brokers by itself; consumer
//!   errors are logged and consuming goes on, with backoff.

mod acker;
mod consumer;
mod context;
mod offsets;
mod producer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::backend::Loops;
use super::{Broker, Message, SubscribeOptions, Subscription};
use crate::{Result, env_vars};

/// The default bootstrap servers.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9092";

/// Settings of the Kafka broker.
#[derive(Clone, Debug)]
pub struct KafkaOptions {
    /// Bootstrap servers, `host:port` comma-separated
    /// (`MICRO_BROKER_ADDRESS`, default `127.0.0.1:9092`).
    pub address: String,
    /// Where a new consumer group starts: `earliest` (default) or `latest`.
    pub group_offset_reset: String,
    /// Limit of a publish (librdkafka's `message.timeout.ms`), of metadata
    /// requests, and of waiting for a group's partition assignment
    /// (default 10 s).
    pub timeout: Duration,
    /// How long a group member may go silent before the group gives its
    /// partitions to the others (`session.timeout.ms`, default 45 s).
    pub session_timeout: Duration,
    /// Further librdkafka properties for producer and consumers (security,
    /// tuning), e.g. `security.protocol`.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            group_offset_reset: "earliest".to_owned(),
            timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(45),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaOptions {
    /// Defaults overridden by the environment (`MICRO_BROKER_ADDRESS`,
    /// `MICRO_KAFKA_PROPERTIES` as `key=value,key=value`).
    ///
    /// # Errors
    ///
    /// 400 naming a variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(address) = env_vars::string("MICRO_BROKER_ADDRESS") {
            options.address = address;
        }
        options.properties = env_vars::pairs("MICRO_KAFKA_PROPERTIES")?;
        Ok(options)
    }
}

/// The Kafka broker. Clones share the producer and subscriptions.
///
/// # Examples
///
/// ```no_run
/// # fn demo() -> micro_runtime::Result<()> {
/// use std::sync::Arc;
/// use micro_runtime::broker::{KafkaBroker, KafkaOptions};
///
/// let broker = KafkaBroker::new(KafkaOptions {
///     address: "127.0.0.1:9092".into(),
///     ..KafkaOptions::default()
/// });
/// let service = micro_runtime::Service::builder()
///     .name("mailer")
///     .broker(Arc::new(broker))
///     .build()?;
/// # let _ = service; Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct KafkaBroker {
    inner: Arc<Inner>,
}

struct Inner {
    options: KafkaOptions,
    producer: producer::Producer,
    loops: Arc<Loops>,
}

impl KafkaBroker {
    /// A broker for `options`; it connects on first use (or
    /// [`Broker::connect`]).
    pub fn new(options: KafkaOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                producer: producer::Producer::default(),
                loops: Arc::default(),
                options,
            }),
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &KafkaOptions {
        &self.inner.options
    }
}

impl std::fmt::Debug for KafkaBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBroker")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Broker for KafkaBroker {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn address(&self) -> String {
        self.inner.options.address.clone()
    }

    async fn connect(&self) -> Result<()> {
        producer::check_reachable(self, None).await
    }

    async fn disconnect(&self) -> Result<()> {
        self.inner.loops.stop_all().await;
        self.inner.producer.close(&self.inner.options).await;
        Ok(())
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<()> {
        producer::publish(self, topic, message).await
    }

    async fn subscribe(&self, topic: &str, options: SubscribeOptions) -> Result<Subscription> {
        consumer::subscribe(self, topic, options).await
    }
}
