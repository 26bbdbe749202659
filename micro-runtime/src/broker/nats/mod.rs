//! The NATS broker (cargo feature `nats`, `MICRO_BROKER=nats`).
//!
//! **Without a durable name** (no queue group, no [`durable`]) a
//! subscription is a core NATS subscription of the topic as subject:
//! at-most-once, the fast path, nothing kept while the subscriber is down. A
//! handler that fails (5xx, panic) gets the message again from this process,
//! up to 5 times, then it is dead-lettered (the subscription settles all its
//! deliveries with one shared retry: a delivery carries no acker of its own).
//!
//! **With a durable name** (a queue group counts) it is a JetStream durable
//! pull consumer: at-least-once, and messages published while every member
//! is down wait for it.
//!
//! - *Streams.* The stream of a topic is the stream whose subjects cover it
//!   (create your own for wildcards, retention or replicas), else
//!   `MICRO_<topic>` with `.`, `*`, `>` and other characters outside
//!   `[A-Za-z0-9_-]` replaced by `_` (a hash is appended when that name is
//!   taken), subjects `[topic]`, file storage, *interest* retention (a
//!   message is kept until every durable consumer acknowledged it, at most
//!   [`NatsOptions::stream_max_age`]). It is created by the first durable
//!   subscription.
//! - *Consumers.* One durable pull consumer per durable name (with `.` and
//!   the like replaced by `_`; on a stream covering more than the topic,
//!   suffixed with the topic), shared by every member of the group so each
//!   message goes to one of them; explicit ack, [`NatsOptions::ack_wait`],
//!   `max_deliver` = [`NatsOptions::max_deliver`], deliver policy *new* (a
//!   new group starts with messages published after it was created).
//! - *Settling.* ack → `+ACK`; nack with requeue → `-NAK` with a delay
//!   growing per delivery (100 ms doubling to 5 s), and on the last allowed
//!   delivery the message is dead-lettered instead; nack without requeue →
//!   `+TERM`; dead letter → published to `<topic>.dead-letter` (JetStream, in
//!   its own stream with *limits* retention so it is kept with nobody
//!   listening; header `micro-dead-letter-reason`) then `+TERM`. A delivery
//!   dropped unsettled (the subscriber stopped) is `-NAK`ed at once.
//!
//! **Publishing.** When a JetStream stream covers the topic, the message is
//! published through JetStream and `publish` returns once the server stored
//! it (the `PubAck`), with `Nats-Msg-Id` = `micro-id` so a retried publish
//! is stored once; otherwise it is a core publish (handed to the client,
//! which flushes it in the background). Whether a stream covers a topic is
//! looked up once and remembered (a "no" for 1 s, a "yes" for 30 s), so a
//! stream created by another process is used by publishers within a second.
//! A topic remembered as core keeps its subject, checked on first use: a
//! core publish to it then costs one map lookup (no check, no copy of the
//! topic), read with the coarse clock. A client's event to such a topic is
//! handed to the async-nats client without waiting (a [`Client`] finds
//! this broker when it is built: no boxed future per publish); only when
//! the client's buffer is full does the publish wait. The client's own subject check is
//! off, as ours is stricter (no empty tokens, no wildcards).
//!
//! **Failures.** The client reconnects by itself (backoff up to 4 s, no
//! limit) and restores core subscriptions; a JetStream consumer loop whose
//! pull stream fails is re-created with backoff (100 ms to 5 s) until its
//! subscription ends. While the client is not connected, `publish` fails at
//! once with 503 and the message was not published. A JetStream publish
//! whose acknowledgement times out (the server went away meanwhile) is 503
//! too, but may have been stored: publishing the same [`Message`] again
//! (same `micro-id`) is stored once within the stream's duplicate window
//! (2 minutes by default).
//!
//! Headers travel as NATS headers (names lower-cased on the way back;
//! `Nats-*` headers are not passed to handlers).
//!
//! **The envelope on core NATS.** An event a client publishes
//! ([`Broker::publish_event`]) to a subject no stream covers carries as
//! headers only its context's metadata and a content type other than
//! protobuf: the usual protobuf event with no metadata is a bare NATS
//! message, as cheap to send and to parse as one from async-nats itself
//! (NATS headers cost async-nats more than the message: see
//! `BENCHMARKS.md`). The receiving side fills in what was left out, so a
//! handler sees the same headers as on every backend: `content-type`
//! `application/protobuf`, `micro-topic` the subject, and a `micro-id` made
//! on receipt (a random prefix per subscription and a count: no random
//! number per message). That id names the delivery to this subscriber (kept
//! across its local redeliveries); two subscribers of one broadcast see different
//! ids, as nothing downstream of core NATS (at-most-once, never redelivered
//! nor deduplicated by the server) needs the publisher's. Through JetStream,
//! and on every other backend, the publisher's id travels. Messages
//! published with [`Broker::publish`] travel with their headers as given.
//!
//! [`durable`]: crate::broker::SubscribeOptions::durable
//! [`Client`]: crate::Client
//! [`Broker::publish_event`]: crate::broker::Broker::publish_event
//! [`Broker::publish`]: crate::broker::Broker::publish

mod acker;
mod connection;
mod core_stream;
mod envelope;
mod ids;
mod publish;
mod publish_now;
mod streams;
mod subscribe;

use std::sync::Arc;
use std::time::Duration;

use super::backend::Loops;
use super::{Broker, Event, Message, SubscribeOptions, Subscription};
use crate::{Error, Result, env_vars};
use connection::Connection;
pub(crate) use publish_now::{PublishNow, TryPublish, publish_now};
use streams::Streams;

/// The default server address.
pub const DEFAULT_ADDRESS: &str = crate::nats::DEFAULT_ADDRESS;

/// Settings of the NATS broker.
#[derive(Clone, Debug)]
pub struct NatsOptions {
    /// Server URL(s), comma-separated (`MICRO_BROKER_ADDRESS`, default
    /// `nats://127.0.0.1:4222`).
    pub address: String,
    /// Use JetStream for durable subscriptions and for publishing to topics
    /// that have a stream (`MICRO_NATS_JETSTREAM`, default `true`). Off,
    /// everything is core NATS: queue groups become core queue groups,
    /// at-most-once.
    pub jetstream: bool,
    /// How long a JetStream delivery may stay unsettled before it is
    /// delivered again (default 30 s).
    pub ack_wait: Duration,
    /// Deliveries of a JetStream message at most (default 5); a handler
    /// failing on the last one dead-letters it.
    pub max_deliver: u32,
    /// Messages fetched per pull request, per unit of the subscription's
    /// concurrency (default 2): more is faster, but what is fetched waits
    /// for the handler while `ack_wait` runs.
    pub pull_batch: usize,
    /// Longest a message stays in a stream the broker creates (default
    /// 7 days).
    pub stream_max_age: Duration,
    /// Limit of the first connection and of JetStream API requests
    /// (default 5 s).
    pub timeout: Duration,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            jetstream: true,
            ack_wait: Duration::from_secs(30),
            max_deliver: super::backend::MAX_ATTEMPTS,
            pull_batch: 2,
            stream_max_age: Duration::from_secs(7 * 24 * 3600),
            timeout: Duration::from_secs(5),
        }
    }
}

impl NatsOptions {
    /// Defaults overridden by the environment (`MICRO_BROKER_ADDRESS`,
    /// `MICRO_NATS_JETSTREAM`).
    ///
    /// # Errors
    ///
    /// 400 naming a variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(address) = env_vars::string("MICRO_BROKER_ADDRESS") {
            options.address = address;
        }
        if let Some(js) = env_vars::string("MICRO_NATS_JETSTREAM") {
            options.jetstream = match js.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => true,
                "0" | "false" | "off" | "no" => false,
                _ => {
                    return Err(Error::bad_request(format!(
                        "MICRO_NATS_JETSTREAM={js:?} is not true or false"
                    )));
                }
            };
        }
        Ok(options)
    }
}

/// The NATS broker. Clones share the connection and subscriptions.
///
/// # Examples
///
/// ```no_run
/// # fn demo() -> micro_runtime::Result<()> {
/// use std::sync::Arc;
/// use micro_runtime::broker::{NatsBroker, NatsOptions};
///
/// let broker = NatsBroker::new(NatsOptions {
///     address: "nats://127.0.0.1:4222".into(),
///     ..NatsOptions::default()
/// });
/// let service = micro_runtime::Service::builder()
///     .name("mailer")
///     .broker(Arc::new(broker))
///     .build()?;
/// # let _ = service; Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NatsBroker {
    inner: Arc<Inner>,
}

struct Inner {
    options: NatsOptions,
    connection: Connection,
    streams: Streams,
    loops: Arc<Loops>,
}

impl NatsBroker {
    /// A broker for `options` (`max_deliver` and `pull_batch` at least 1);
    /// it connects on first use (or [`Broker::connect`]).
    pub fn new(mut options: NatsOptions) -> Self {
        options.max_deliver = options.max_deliver.max(1);
        options.pull_batch = options.pull_batch.max(1);
        Self {
            inner: Arc::new(Inner {
                connection: connection::connection(&options),
                streams: Streams::default(),
                loops: Arc::default(),
                options,
            }),
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &NatsOptions {
        &self.inner.options
    }
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Broker for NatsBroker {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn address(&self) -> String {
        self.inner.options.address.clone()
    }

    async fn connect(&self) -> Result<()> {
        self.inner.connection.client().await.map(drop)
    }

    async fn disconnect(&self) -> Result<()> {
        self.inner.loops.stop_all().await;
        self.inner.streams.clear();
        self.inner.connection.close().await
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<()> {
        publish::publish(self, topic, message).await
    }

    async fn publish_event(&self, topic: &str, event: Event) -> Result<()> {
        publish::publish_event(self, topic, event).await
    }

    async fn subscribe(&self, topic: &str, options: SubscribeOptions) -> Result<Subscription> {
        subscribe::subscribe(self, topic, options).await
    }
}
