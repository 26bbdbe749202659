//! Pub/sub: asynchronous events between services.
//!
//! A [`Broker`] publishes [`Message`]s to topics and opens
//! [`Subscription`]s that deliver them. Services subscribe typed handlers
//! with [`Subscriber`] (or `#[subscriber]` methods); clients publish with
//! [`Client::publish`](crate::Client::publish).
//!
//! The backends (the table is `docs/brokers.md` in the repository):
//!
#![doc = include_str!("../../../docs/brokers.md")]
//!
//! With a concurrency above 1 a subscriber handles messages out of order
//! on every backend. Each server-backed backend documents its details in
//! its module (`nats`, `rabbitmq`, `kafka`; present with the cargo
//! feature).
//!
//! On the server-backed backends, a message that cannot be handled (a 4xx
//! from the subscriber, e.g. 400 for a body that does not decode) or whose
//! handler failed on its 5th delivery goes to the topic
//! `<topic>.dead-letter` ([`dead_letter_topic`]):
//! NATS and Kafka publish it there (NATS keeps it in a stream), RabbitMQ
//! dead-letters it natively (`x-dead-letter-exchange`) into the durable
//! queue `<topic>.dead-letter`.

#[cfg(any(feature = "nats", feature = "rabbitmq", feature = "kafka"))]
mod backend;
mod event;
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
mod memory;
mod message;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
mod subscriber;
pub(crate) mod wrapper;

pub use event::Event;
pub use http::{HttpBroker, HttpBrokerStats};
#[cfg(feature = "kafka")]
pub use kafka::{KafkaBroker, KafkaOptions};
pub use memory::MemoryBroker;
pub use message::{
    AckMode, Acker, Delivery, HEADER_CONTENT_TYPE, HEADER_ID, HEADER_TOPIC, Message,
    SubscribeOptions, Subscription, Unsubscribe,
};
#[cfg(feature = "nats")]
pub use nats::{NatsBroker, NatsOptions};
#[cfg(feature = "rabbitmq")]
pub use rabbitmq::{RabbitMqBroker, RabbitMqOptions};
pub use subscriber::Subscriber;
pub(crate) use subscriber::{RunningSubscription, start_subscription};

use std::any::Any;

use crate::Result;

/// A message broker backend.
///
/// `Any`, so a client can find a backend's own faster way to publish (core
/// NATS) once, without it being part of this trait.
#[async_trait::async_trait]
pub trait Broker: Any + Send + Sync {
    /// Short name, e.g. `nats`.
    fn name(&self) -> &'static str;

    /// Where it connects (or listens, for the HTTP broker).
    fn address(&self) -> String;

    /// Connects (backends also connect lazily on first use).
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot be reached.
    async fn connect(&self) -> Result<()>;

    /// Disconnects, ending every subscription.
    ///
    /// # Errors
    ///
    /// The backend's error.
    async fn disconnect(&self) -> Result<()>;

    /// Publishes `message` to `topic`.
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot take it (it was not published).
    async fn publish(&self, topic: &str, message: Message) -> Result<()>;

    /// Publishes a client's event to `topic` (what
    /// [`Client::publish`](crate::Client::publish) calls). By default it is
    /// [`Event::into_message`] published with [`Broker::publish`]; a backend
    /// overrides it to carry the envelope more cheaply, as long as the
    /// subscriber sees the same headers.
    ///
    /// # Errors
    ///
    /// As [`Broker::publish`].
    async fn publish_event(&self, topic: &str, event: Event) -> Result<()> {
        self.publish(topic, event.into_message(topic)).await
    }

    /// Opens a subscription to `topic`.
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot be reached; 400 for invalid options.
    async fn subscribe(&self, topic: &str, options: SubscribeOptions) -> Result<Subscription>;
}

/// The dead-letter topic of `topic`, where backends without a native
/// dead-letter place move messages that cannot be handled.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dead-letter")
}
