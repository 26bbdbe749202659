//! Publishing events from a client.

use std::sync::Arc;

use serde::Serialize;
use tracing::Instrument;

use super::Client;
use bytes::Bytes;

#[cfg(feature = "nats")]
use crate::broker::nats::{PublishNow, TryPublish, publish_now};
use crate::broker::{Broker, Event};
use crate::codec::{ContentType, MessageCodec};
use crate::{Context, Error, Result};

/// What tracing plugs into the publish path (`trace` sits above `client`).
pub(crate) trait PublishHook: Send + Sync + 'static {
    /// Called before an event to `topic` is built from `ctx`: may add to its
    /// metadata (e.g. a `traceparent`); the publish runs in the span returned.
    fn publish(&self, broker: &str, topic: &str, ctx: &mut Context) -> tracing::Span;

    /// Called with the outcome, in that span.
    fn published(&self, span: &tracing::Span, outcome: &Result<()>);
}

/// The broker a client publishes to, with the backend's way to publish
/// without waiting (core NATS), found once when the client is built.
#[derive(Clone)]
pub(crate) struct Publisher {
    broker: Arc<dyn Broker>,
    hook: Option<Arc<dyn PublishHook>>,
    #[cfg(feature = "nats")]
    now: Option<Arc<dyn PublishNow>>,
}

impl Publisher {
    /// Publishes to `broker`, looking for its way to publish now once.
    pub(crate) fn new(broker: Arc<dyn Broker>) -> Self {
        Self {
            #[cfg(feature = "nats")]
            now: publish_now(&broker),
            broker,
            hook: None,
        }
    }

    /// This publisher observed by `hook`.
    pub(crate) fn hooked(mut self, hook: Option<Arc<dyn PublishHook>>) -> Self {
        self.hook = hook;
        self
    }

    /// Publishes the event `encode` makes, through the hook when there is one.
    async fn publish(
        &self,
        topic: &str,
        content_type: ContentType,
        encode: impl Fn() -> Result<Bytes>,
    ) -> Result<()> {
        let mut ctx = Context::current();
        let Some(hook) = &self.hook else {
            return self.send(topic, content_type, encode, ctx).await;
        };
        let span = hook.publish(self.broker.name(), topic, &mut ctx);
        let outcome = self
            .send(topic, content_type, encode, ctx)
            .instrument(span.clone())
            .await;
        hook.published(&span, &outcome);
        outcome
    }

    /// Publishes the event `encode` makes: at once when the broker can
    /// take it without waiting, else waiting (encoded again if the broker
    /// spent the first body on a full buffer).
    async fn send(
        &self,
        topic: &str,
        content_type: ContentType,
        encode: impl Fn() -> Result<Bytes>,
        ctx: Context,
    ) -> Result<()> {
        let event = Event::new(content_type, ctx.metadata(), encode()?);
        #[cfg(feature = "nats")]
        let event = match &self.now {
            None => event,
            Some(now) => match now.try_publish_event(topic, event)? {
                TryPublish::Done => return Ok(()),
                TryPublish::Later(event) => event,
                TryPublish::Busy => Event::new(content_type, ctx.metadata(), encode()?),
            },
        };
        self.broker.publish_event(topic, event).await
    }
}

impl Client {
    /// The broker this client publishes to.
    pub fn broker(&self) -> Option<&Arc<dyn Broker>> {
        self.broker.as_ref().map(|publisher| &publisher.broker)
    }

    /// Publishes a prost message to `topic`, protobuf-encoded. The headers
    /// carry the content type, a unique id, the topic, and the metadata of
    /// the current context.
    ///
    /// # Errors
    ///
    /// 503 when the broker cannot take it; 400 when the client has no broker.
    pub async fn publish<T: prost::Message>(&self, topic: &str, event: &T) -> Result<()> {
        let encode = || Ok(event.encode_to_vec().into());
        self.publish_reported(topic, ContentType::Protobuf, encode)
            .await
    }

    /// Publishes a serde value to `topic`, JSON-encoded.
    ///
    /// # Errors
    ///
    /// As [`Client::publish`]; 500 when it does not serialize.
    pub async fn publish_json<T: Serialize>(&self, topic: &str, event: &T) -> Result<()> {
        let encode = || {
            serde_json::to_vec(event)
                .map(Into::into)
                .map_err(|e| Error::internal(format!("encoding an event for {topic}: {e}")))
        };
        self.publish_reported(topic, ContentType::Json, encode)
            .await
    }

    /// Publishes `event` encoded with `codec` as `content_type`.
    ///
    /// # Errors
    ///
    /// As [`Client::publish`]; 415 when the type has no such codec.
    pub async fn publish_with<T>(
        &self,
        topic: &str,
        event: &T,
        codec: MessageCodec<T>,
        content_type: ContentType,
    ) -> Result<()> {
        let encode = || codec.encode(content_type, event);
        self.publish_reported(topic, content_type, encode).await
    }

    /// Publishes, and reports the outcome to the client's observer.
    async fn publish_reported(
        &self,
        topic: &str,
        content_type: ContentType,
        encode: impl Fn() -> Result<Bytes>,
    ) -> Result<()> {
        let result = match self.publisher() {
            Ok(publisher) => publisher.publish(topic, content_type, encode).await,
            Err(err) => return Err(err),
        };
        self.core.report(|o| o.published(topic, &result));
        result
    }

    /// What publishes to the client's broker.
    fn publisher(&self) -> Result<&Publisher> {
        self.broker.as_ref().ok_or_else(|| {
            Error::bad_request("this client has no broker (set one with ClientBuilder::broker)")
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::broker::{Message, SubscribeOptions, Subscription};
    use crate::registry::memory::MemoryRegistry;
    use crate::transport::memory::MemoryTransport;

    /// Records the events published the waiting way.
    #[derive(Default)]
    struct Recorder {
        waited: Mutex<Vec<Bytes>>,
    }

    #[async_trait::async_trait]
    impl Broker for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn address(&self) -> String {
            String::new()
        }
        async fn connect(&self) -> Result<()> {
            Ok(())
        }
        async fn disconnect(&self) -> Result<()> {
            Ok(())
        }
        async fn publish(&self, _: &str, _: Message) -> Result<()> {
            unreachable!("clients publish events")
        }
        async fn publish_event(&self, _: &str, event: Event) -> Result<()> {
            self.waited.lock().unwrap().push(event.body);
            Ok(())
        }
        async fn subscribe(&self, _: &str, _: SubscribeOptions) -> Result<Subscription> {
            unreachable!("not subscribed")
        }
    }

    fn client_of(broker: Arc<Recorder>) -> Client {
        Client::builder()
            .registry(Arc::new(MemoryRegistry::new()))
            .transport(Arc::new(MemoryTransport::new()))
            .broker(broker)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_broker_that_cannot_publish_now_gets_the_event_waiting() {
        let broker = Arc::new(Recorder::default());
        client_of(broker.clone())
            .publish_json("t", &serde_json::json!({"n": 1}))
            .await
            .unwrap();
        let waited = broker.waited.lock().unwrap().clone();
        assert_eq!(waited, [Bytes::from_static(br#"{"n":1}"#)]);
    }

    /// The three outcomes of publishing without waiting.
    #[cfg(feature = "nats")]
    mod now {
        use super::*;

        /// Answers with the scripted outcome, recording what it was given.
        struct Scripted {
            answer: fn(Event) -> TryPublish,
            tried: Mutex<Vec<Bytes>>,
        }

        impl PublishNow for Scripted {
            fn try_publish_event(&self, _: &str, event: Event) -> Result<TryPublish> {
                self.tried.lock().unwrap().push(event.body.clone());
                Ok((self.answer)(event))
            }
        }

        async fn publish_through(answer: fn(Event) -> TryPublish) -> (Vec<Bytes>, Vec<Bytes>) {
            let broker = Arc::new(Recorder::default());
            let scripted = Arc::new(Scripted {
                answer,
                tried: Mutex::default(),
            });
            let mut client = client_of(broker.clone());
            client.broker = Some(Publisher {
                broker: broker.clone(),
                hook: None,
                now: Some(scripted.clone()),
            });
            client
                .publish_json("t", &serde_json::json!({"n": 1}))
                .await
                .unwrap();
            let tried = scripted.tried.lock().unwrap().clone();
            let waited = broker.waited.lock().unwrap().clone();
            (tried, waited)
        }

        #[tokio::test]
        async fn an_event_taken_at_once_is_not_published_again() {
            let (tried, waited) = publish_through(|_| TryPublish::Done).await;
            assert_eq!(tried.len(), 1);
            assert!(waited.is_empty());
        }

        #[tokio::test]
        async fn an_event_given_back_is_published_waiting() {
            let (tried, waited) = publish_through(TryPublish::Later).await;
            assert_eq!(tried, waited);
        }

        #[tokio::test]
        async fn an_event_spent_on_a_busy_client_is_encoded_again() {
            let (tried, waited) = publish_through(|_| TryPublish::Busy).await;
            assert_eq!(waited.len(), 1);
            assert_eq!(tried, waited);
            assert_eq!(&waited[0][..], br#"{"n":1}"#);
        }
    }
}
