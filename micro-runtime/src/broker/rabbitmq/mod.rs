//! The RabbitMQ broker (cargo feature `rabbitmq`, `MICRO_BROKER=rabbitmq`).
//!
//! - **Exchange.** Messages are published to the durable topic exchange
//!   [`RabbitMqOptions::exchange`] (default `micro`) with the topic as
//!   routing key, persistent (delivery mode 2), with publisher confirms:
//!   `publish` returns once RabbitMQ took responsibility for the message
//!   (or 503). A message no queue is bound for is dropped (nobody
//!   subscribes).
//! - **Queues.** A subscription with a durable name (`durable`, else the
//!   queue group) consumes the shared durable *quorum* queue
//!   `<topic>.<name>`, bound with the topic as key: each message goes to one
//!   member, and messages wait there while every member is down
//!   (at-least-once). Without one, each subscriber gets its own exclusive,
//!   auto-delete queue (at-most-once: it goes away with the subscriber).
//!   The topic may use AMQP wildcards (`orders.*`, `orders.#`).
//! - **Settling.** Manual acknowledgement with `basic.qos(prefetch =
//!   concurrency)`. ack → `basic.ack`; nack with requeue → `basic.nack`
//!   with requeue after a delay growing per delivery (100 ms doubling to
//!   5 s, which slows that consumer while its handler fails); on the last
//!   allowed delivery ([`RabbitMqOptions::max_deliver`], counted by the
//!   quorum queue's `x-delivery-count`, or by the subscriber for exclusive
//!   queues) it is dead-lettered instead; nack without requeue and dead
//!   letter → `basic.reject` without requeue.
//! - **Dead letters.** Every queue is declared with
//!   `x-dead-letter-exchange` = the exchange and
//!   `x-dead-letter-routing-key` = `<topic>.dead-letter`, so RabbitMQ itself
//!   moves a rejected message (with its `x-death` header saying why) to the
//!   topic `<topic>.dead-letter`, where the durable queue of the same name
//!   keeps it for inspection, and where subscribers of that topic get it.
//!   Quorum queues (`x-delivery-limit` = `max_deliver`) also dead-letter a
//!   message returned more than `max_deliver` times without a settlement
//!   (consumers that crashed or lost their connection while handling it).
//! - **Failures.** A lost connection is made again on next use; each
//!   consumer loop reconnects with backoff (100 ms to 5 s), declares its
//!   exchange, queues and bindings again and resumes consuming, until its
//!   subscription ends. Unacknowledged messages of the lost connection are
//!   requeued by RabbitMQ (their acknowledgement fails and is logged).
//!
//! Headers travel as AMQP headers (string values), with `content-type`
//! and `micro-id` also set as the `content_type` and `message_id`
//! properties. The broker's own `x-death`, `x-delivery-count`,
//! `x-first-death-*` and `x-last-death-*` headers are not passed to
//! handlers.

mod acker;
mod connection;
mod consume;
mod publish;
mod topology;

use std::sync::Arc;
use std::time::Duration;

use super::backend::Loops;
use super::{Broker, Message, SubscribeOptions, Subscription};
use crate::{Result, env_vars};
use connection::Connection;

/// The default server address.
pub const DEFAULT_ADDRESS: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Settings of the RabbitMQ broker.
#[derive(Clone, Debug)]
pub struct RabbitMqOptions {
    /// AMQP URI (`MICRO_BROKER_ADDRESS`, default
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`).
    pub address: String,
    /// The topic exchange messages are published to (default `micro`).
    pub exchange: String,
    /// Deliveries of a message at most (default 5); a handler failing on the
    /// last one dead-letters it.
    pub max_deliver: u32,
    /// Limit of connecting and of each declaration (default 10 s).
    pub timeout: Duration,
}

impl Default for RabbitMqOptions {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            exchange: "micro".to_owned(),
            max_deliver: super::backend::MAX_ATTEMPTS,
            timeout: Duration::from_secs(10),
        }
    }
}

impl RabbitMqOptions {
    /// Defaults overridden by the environment (`MICRO_BROKER_ADDRESS`).
    ///
    /// # Errors
    ///
    /// None today; kept fallible like the other backends' options.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(address) = env_vars::string("MICRO_BROKER_ADDRESS") {
            options.address = address;
        }
        Ok(options)
    }
}

/// The RabbitMQ broker. Clones share the connection and subscriptions.
///
/// # Examples
///
/// ```no_run
/// # fn demo() -> micro_runtime::Result<()> {
/// use std::sync::Arc;
/// use micro_runtime::broker::{RabbitMqBroker, RabbitMqOptions};
///
/// let broker = RabbitMqBroker::new(RabbitMqOptions::default());
/// let service = micro_runtime::Service::builder()
///     .name("mailer")
///     .broker(Arc::new(broker))
///     .build()?;
/// # let _ = service; Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RabbitMqBroker {
    inner: Arc<Inner>,
}

struct Inner {
    options: RabbitMqOptions,
    connection: Connection,
    loops: Arc<Loops>,
}

impl RabbitMqBroker {
    /// A broker for `options` (`max_deliver` at least 1); it connects on
    /// first use (or [`Broker::connect`]).
    pub fn new(mut options: RabbitMqOptions) -> Self {
        options.max_deliver = options.max_deliver.max(1);
        Self {
            inner: Arc::new(Inner {
                connection: Connection::new(&options),
                loops: Arc::default(),
                options,
            }),
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &RabbitMqOptions {
        &self.inner.options
    }
}

impl std::fmt::Debug for RabbitMqBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitMqBroker")
            .field("address", &self.address())
            .field("exchange", &self.inner.options.exchange)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Broker for RabbitMqBroker {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    /// The AMQP URI, with the password left out.
    fn address(&self) -> String {
        self.inner.connection.address().to_owned()
    }

    async fn connect(&self) -> Result<()> {
        self.inner.connection.publisher().await.map(drop)
    }

    async fn disconnect(&self) -> Result<()> {
        self.inner.loops.stop_all().await;
        self.inner.connection.close().await;
        Ok(())
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<()> {
        publish::publish(self, topic, message).await
    }

    async fn subscribe(&self, topic: &str, options: SubscribeOptions) -> Result<Subscription> {
        consume::subscribe(self, topic, options).await
    }
}
