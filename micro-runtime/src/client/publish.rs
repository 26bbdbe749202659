//! Publishing events from a client.

use std::sync::Arc;

use serde::Serialize;

use super::Client;
use crate::broker::{Broker, Event};
use crate::codec::{ContentType, MessageCodec};
use crate::{Context, Error, Result};

impl Client {
    /// The broker this client publishes to.
    pub fn broker(&self) -> Option<&Arc<dyn Broker>> {
        self.broker.as_ref()
    }

    /// Publishes a prost message to `topic`, protobuf-encoded. The headers
    /// carry the content type, a unique id, the topic, and the metadata of
    /// the current context.
    ///
    /// # Errors
    ///
    /// 503 when the broker cannot take it; 400 when the client has no broker.
    pub async fn publish<T: prost::Message>(&self, topic: &str, event: &T) -> Result<()> {
        self.publish_encoded(topic, ContentType::Protobuf, event.encode_to_vec().into())
            .await
    }

    /// Publishes a serde value to `topic`, JSON-encoded.
    ///
    /// # Errors
    ///
    /// As [`Client::publish`]; 500 when it does not serialize.
    pub async fn publish_json<T: Serialize>(&self, topic: &str, event: &T) -> Result<()> {
        let body = serde_json::to_vec(event)
            .map_err(|e| Error::internal(format!("encoding an event for {topic}: {e}")))?;
        self.publish_encoded(topic, ContentType::Json, body.into())
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
        let body = codec.encode(content_type, event)?;
        self.publish_encoded(topic, content_type, body).await
    }

    async fn publish_encoded(
        &self,
        topic: &str,
        content_type: ContentType,
        body: bytes::Bytes,
    ) -> Result<()> {
        let broker = self.broker.as_ref().ok_or_else(|| {
            Error::bad_request("this client has no broker (set one with ClientBuilder::broker)")
        })?;
        let event = Event::new(content_type, Context::current().metadata(), body);
        broker.publish_event(topic, event).await
    }
}
