//! What travels through a broker: messages, deliveries and their
//! acknowledgement, subscription options and handles.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::{Metadata, Result};

/// Header naming the codec of the body.
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// Header with a unique id per published message.
pub const HEADER_ID: &str = "micro-id";
/// Header naming the topic the message was published to.
pub const HEADER_TOPIC: &str = "micro-topic";

/// A message: headers (case-insensitive) and an encoded body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Headers: content type, id, topic, and the publisher's metadata.
    pub headers: Metadata,
    /// The encoded payload.
    pub body: Bytes,
}

impl Message {
    /// A message with no headers.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Self {
            headers: Metadata::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, key: &str, value: impl Into<String>) -> Self {
        self.headers.insert(key, value);
        self
    }
}

/// When a delivery is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AckMode {
    /// The runtime acknowledges once the handler returns `Ok` (the default);
    /// a 4xx error moves the message aside, a 5xx error or panic has it
    /// redelivered where the backend can.
    #[default]
    Auto,
    /// The handler acknowledges each [`Delivery`] itself (raw subscriptions).
    Manual,
}

/// Options of a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Queue group: each message goes to one member of the group. Without
    /// one, every subscriber gets every message.
    pub queue: Option<String>,
    /// Acknowledgement mode.
    pub ack: AckMode,
    /// Messages handled at once (default 1, which keeps order).
    pub concurrency: usize,
    /// Name of a durable subscription: on backends that keep messages for
    /// absent subscribers (NATS JetStream, RabbitMQ, Kafka), messages
    /// published while it is down are delivered when it returns. Defaults to
    /// the queue group.
    pub durable: Option<String>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            queue: None,
            ack: AckMode::Auto,
            concurrency: 1,
            durable: None,
        }
    }
}

impl SubscribeOptions {
    /// The durable name, if any: `durable`, else the queue group.
    pub fn durable_name(&self) -> Option<&str> {
        self.durable.as_deref().or(self.queue.as_deref())
    }
}

/// How a backend settles one delivery.
#[async_trait::async_trait]
pub trait Acker: Send + Sync + 'static {
    /// Done: never deliver again.
    async fn ack(&self) -> Result<()>;
    /// Not done: redeliver (`requeue`) or drop.
    async fn nack(&self, requeue: bool) -> Result<()>;
    /// Poison: move it aside (the backend's dead-letter place) so the next
    /// message can be handled.
    async fn dead_letter(&self, reason: &str) -> Result<()>;
}

/// Settles the deliveries of a subscription whose backend neither takes
/// acknowledgements nor redelivers (core NATS, memory), for the whole subscription:
/// acknowledging costs nothing, and a delivery that is not acknowledged is
/// handed back with its attempt, to be delivered again or moved aside. One
/// is shared by every delivery, so a delivery carries no acker of its own.
#[async_trait::async_trait]
pub(crate) trait Retry: Send + Sync + 'static {
    /// Not done: deliver it again (`requeue`) or drop it.
    async fn nack(&self, returned: Returned, requeue: bool) -> Result<()>;
    /// Poison: move it aside.
    async fn dead_letter(&self, returned: Returned, reason: &str) -> Result<()>;
}

/// A delivery handed back to its subscription's [`Retry`].
pub(crate) struct Returned {
    pub(crate) topic: Arc<str>,
    pub(crate) message: Message,
    /// 1 for the first delivery.
    pub(crate) attempt: u32,
    retry: Arc<dyn Retry>,
}

impl Returned {
    /// Its next attempt, settled by the same retry.
    pub(crate) fn again(self) -> Delivery {
        Delivery::retried_by(self.topic, self.message, self.retry, self.attempt + 1)
    }
}

/// How a delivery is settled.
enum Settle {
    /// Nothing to tell anyone.
    Nothing,
    /// An acker made for this delivery.
    Own(Box<dyn Acker>),
    /// The subscription's retry, with this delivery's attempt.
    Retry(Arc<dyn Retry>, u32),
}

/// A delivery not acknowledged: its acker, or the delivery handed back.
enum Unacknowledged {
    Nothing,
    Own(Box<dyn Acker>),
    Returned(Returned),
}

/// One message delivered to a subscription.
pub struct Delivery {
    /// The topic it was published to (shared with the subscription's when
    /// they are the same).
    topic: Arc<str>,
    /// The message.
    pub message: Message,
    /// True when the backend delivered it before (at-least-once backends).
    pub redelivered: bool,
    settle: Settle,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("topic", &self.topic)
            .field("message", &self.message)
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery settled by `acker` (`None`: nothing to settle).
    pub fn new(
        topic: impl Into<Arc<str>>,
        message: Message,
        acker: Option<Box<dyn Acker>>,
    ) -> Self {
        Self {
            topic: topic.into(),
            message,
            redelivered: false,
            settle: acker.map_or(Settle::Nothing, Settle::Own),
        }
    }

    /// A delivery (attempt `attempt`, from 1) that `retry` gets back unless
    /// it is acknowledged.
    pub(crate) fn retried_by(
        topic: Arc<str>,
        message: Message,
        retry: Arc<dyn Retry>,
        attempt: u32,
    ) -> Self {
        Self {
            topic,
            message,
            redelivered: attempt > 1,
            settle: Settle::Retry(retry, attempt),
        }
    }

    /// The topic it was published to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Marks it as a redelivery.
    pub fn redelivered(mut self, redelivered: bool) -> Self {
        self.redelivered = redelivered;
        self
    }

    /// The message for a handler: moved out, unless settling may need it
    /// back (a retry), then shared (a copy of two counts, not the bytes).
    pub(crate) fn message_for_handler(&mut self) -> Message {
        match self.settle {
            Settle::Retry(..) => self.message.clone(),
            _ => std::mem::take(&mut self.message),
        }
    }

    /// Who settles it other than by an acknowledgement.
    fn unacknowledged(self) -> Unacknowledged {
        match self.settle {
            Settle::Nothing => Unacknowledged::Nothing,
            Settle::Own(acker) => Unacknowledged::Own(acker),
            Settle::Retry(retry, attempt) => Unacknowledged::Returned(Returned {
                topic: self.topic,
                message: self.message,
                attempt,
                retry,
            }),
        }
    }

    /// Acknowledges it.
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot be told.
    pub async fn ack(self) -> Result<()> {
        match self.settle {
            Settle::Own(acker) => acker.ack().await,
            Settle::Retry(..) | Settle::Nothing => Ok(()),
        }
    }

    /// Rejects it: redelivered later when `requeue` (and the backend can).
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot be told.
    pub async fn nack(self, requeue: bool) -> Result<()> {
        match self.unacknowledged() {
            Unacknowledged::Own(acker) => acker.nack(requeue).await,
            Unacknowledged::Returned(back) => back.retry.clone().nack(back, requeue).await,
            Unacknowledged::Nothing => Ok(()),
        }
    }

    /// Moves it aside as poison.
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot be told.
    pub async fn dead_letter(self, reason: &str) -> Result<()> {
        match self.unacknowledged() {
            Unacknowledged::Own(acker) => acker.dead_letter(reason).await,
            Unacknowledged::Returned(back) => back.retry.clone().dead_letter(back, reason).await,
            Unacknowledged::Nothing => Ok(()),
        }
    }
}

/// Ends a subscription on its backend.
#[async_trait::async_trait]
pub trait Unsubscribe: Send + Sync + 'static {
    /// Stops deliveries (and deregisters, for the HTTP broker).
    async fn unsubscribe(&self) -> Result<()>;
}

/// Where a subscription's deliveries come from.
enum Source {
    /// A buffer a backend's task fills.
    Channel(mpsc::Receiver<Delivery>),
    /// Made as they are taken (no task in between).
    Stream(Pin<Box<dyn Stream<Item = Delivery> + Send>>),
}

/// An open subscription: deliveries arrive on it until it is unsubscribed.
pub struct Subscription {
    topic: String,
    options: SubscribeOptions,
    source: Source,
    handle: Option<Arc<dyn Unsubscribe>>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// A subscription fed by `rx`, ended by `handle`.
    pub fn new(
        topic: impl Into<String>,
        options: SubscribeOptions,
        rx: mpsc::Receiver<Delivery>,
        handle: Arc<dyn Unsubscribe>,
    ) -> Self {
        Self {
            topic: topic.into(),
            options,
            source: Source::Channel(rx),
            handle: Some(handle),
        }
    }

    /// A subscription whose deliveries `stream` makes as they are taken,
    /// ended by `handle` (the stream then ends too).
    pub fn from_stream(
        topic: impl Into<String>,
        options: SubscribeOptions,
        stream: impl Stream<Item = Delivery> + Send + 'static,
        handle: Arc<dyn Unsubscribe>,
    ) -> Self {
        Self {
            topic: topic.into(),
            options,
            source: Source::Stream(Box::pin(stream)),
            handle: Some(handle),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SubscribeOptions {
        &self.options
    }

    /// The next delivery; `None` once the subscription ended.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.source {
            Source::Channel(rx) => rx.recv().await,
            Source::Stream(stream) => stream.next().await,
        }
    }

    /// The handle that ends it (shared, so a driver can stop it).
    pub fn handle(&self) -> Option<Arc<dyn Unsubscribe>> {
        self.handle.clone()
    }

    /// Ends the subscription.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn unsubscribe(mut self) -> Result<()> {
        match self.handle.take() {
            Some(handle) => handle.unsubscribe().await,
            None => Ok(()),
        }
    }
}
