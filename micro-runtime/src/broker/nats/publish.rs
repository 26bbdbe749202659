//! Publishing: through JetStream (stored, acknowledged) when a stream covers
//! the topic, core NATS otherwise; and forwarding dead letters.

use std::sync::Arc;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::RetentionPolicy;
use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;

use super::NatsBroker;
use super::connection::to_headers;
use super::envelope::core_headers;
use super::streams;
use crate::broker::backend::{HEADER_DEAD_LETTER_REASON, unavailable};
use crate::broker::{Event, HEADER_ID, Message, dead_letter_topic};
use crate::{Error, Result};

/// 400 unless `topic` can be a NATS subject to publish to (every publish
/// checks, so it is one pass over the bytes; chars only for the whitespace
/// of a topic that is not ASCII).
pub(super) fn check_topic(topic: &str, wildcards: bool) -> Result<()> {
    if topic.is_empty() {
        return Err(Error::bad_request("topic is empty"));
    }
    if !topic.is_ascii() && topic.contains(char::is_whitespace) {
        return Err(not_a_subject(topic));
    }
    for token in topic.as_bytes().split(|&b| b == b'.') {
        if token.is_empty() || token.iter().any(u8::is_ascii_whitespace) {
            return Err(not_a_subject(topic));
        }
        if !wildcards && is_wildcard(token) {
            return Err(Error::bad_request(format!(
                "cannot publish to the wildcard {topic:?}"
            )));
        }
    }
    Ok(())
}

/// Whether a subject token is a wildcard (`*` or `>`).
pub(super) fn is_wildcard(token: &[u8]) -> bool {
    token == b"*" || token == b">"
}

fn not_a_subject(topic: &str) -> Error {
    Error::bad_request(format!(
        "topic {topic:?} is not a NATS subject (no spaces, no empty tokens)"
    ))
}

/// Where a publish to a topic goes.
enum Route {
    /// A JetStream stream covers the topic: stored and acknowledged.
    Stored(Box<async_nats::jetstream::Context>),
    /// Core NATS, on this subject.
    Core(Arc<Client>, Subject),
}

/// Picks the route of a publish to `topic` (see the module docs for the
/// rule). A remembered core route costs one lookup: no check, no request,
/// no allocation; the rest (connecting, asking JetStream) is boxed, so the
/// future every publish carries stays small.
async fn route(broker: &NatsBroker, topic: &str) -> Result<Route> {
    let inner = &broker.inner;
    let client = match inner.connection.connected() {
        Some(client) => client,
        None => Box::pin(inner.connection.client()).await?,
    };
    if client.connection_state() != async_nats::connection::State::Connected {
        // Fail now rather than queue it in the client: a 503 then means
        // the message was not published.
        return Err(unavailable(
            "nats",
            inner.connection.address(),
            "not connected (the client is reconnecting)",
        ));
    }
    if let Some(subject) = inner.streams.core_subject(topic) {
        return Ok(Route::Core(client, subject));
    }
    Box::pin(first_route(broker, client, topic)).await
}

/// The route of a topic not remembered: checked, looked up in JetStream
/// when it is on, and remembered.
async fn first_route(broker: &NatsBroker, client: Arc<Client>, topic: &str) -> Result<Route> {
    check_topic(topic, false)?;
    let inner = &broker.inner;
    if inner.options.jetstream {
        let js = super::connection::jetstream(&inner.connection).await?;
        if inner.streams.lookup(&js, topic).await.is_some() {
            return Ok(Route::Stored(Box::new(js)));
        }
    }
    let subject = Subject::from(topic);
    inner.streams.remember_core(topic, subject.clone());
    Ok(Route::Core(client, subject))
}

/// Publishes `message` to `topic` with its headers as they are.
pub(super) async fn publish(broker: &NatsBroker, topic: &str, message: Message) -> Result<()> {
    let headers = to_headers(&message.headers);
    match route(broker, topic).await? {
        Route::Stored(js) => Box::pin(publish_stored(broker, &js, topic, headers, &message)).await,
        Route::Core(client, subject) => {
            let sent = client
                .publish_with_headers(subject, headers, message.body)
                .await;
            sent.map_err(|e| core_unavailable(broker, e))
        }
    }
}

/// Publishes a client's event to `topic`. On a stream it is a message with
/// the whole envelope (its id deduplicates retried publishes). On core NATS
/// the envelope headers the subscriber rebuilds are left out (see
/// [`core_headers`]): an event with protobuf content and no metadata is a
/// bare NATS message, as cheap as one published with async-nats directly.
///
/// The client flushes a core publish in the background; it does not check
/// the subject again ([`check_topic`] did). Only what the client's own
/// future needs lives across its wait, so the future that every publish
/// boxes stays small.
pub(super) async fn publish_event(broker: &NatsBroker, topic: &str, event: Event) -> Result<()> {
    let sent = match route(broker, topic).await? {
        Route::Stored(js) => {
            let message = event.into_message(topic);
            let headers = to_headers(&message.headers);
            return Box::pin(publish_stored(broker, &js, topic, headers, &message)).await;
        }
        Route::Core(client, subject) => match core_headers(&event) {
            None => client.publish(subject, event.body).await,
            // Boxed: the client's future with headers is the larger one.
            Some(headers) => {
                Box::pin(client.publish_with_headers(subject, headers, event.body)).await
            }
        },
    };
    sent.map_err(|e| core_unavailable(broker, e))
}

/// 503 for a core publish the client did not take.
pub(super) fn core_unavailable(
    broker: &NatsBroker,
    err: async_nats::client::PublishError,
) -> Error {
    unavailable("nats", broker.inner.connection.address(), err)
}

/// Publishes through JetStream and waits until the server stored it.
async fn publish_stored(
    broker: &NatsBroker,
    js: &async_nats::jetstream::Context,
    topic: &str,
    mut headers: HeaderMap,
    message: &Message,
) -> Result<()> {
    let address = broker.inner.connection.address();
    if let Some(id) = message
        .headers
        .get(HEADER_ID)
        .filter(|id| !id.contains(['\r', '\n']))
    {
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
    }
    let body: Bytes = message.body.clone();
    let stored = async {
        js.publish_with_headers(topic.to_owned(), headers, body)
            .await?
            .await
    }
    .await;
    match stored {
        Ok(_) => Ok(()),
        Err(err) => {
            if matches!(err.kind(), PublishErrorKind::StreamNotFound) {
                broker.inner.streams.forget(topic);
            }
            Err(unavailable(
                "nats",
                address,
                format!("JetStream did not store the message to {topic}: {err}"),
            ))
        }
    }
}

/// Publishes `message` to `<topic>.dead-letter` with the reason, stored in
/// its own stream when JetStream is on. Dead letters of a dead-letter topic
/// are only logged.
pub(super) async fn dead_letter(
    broker: &NatsBroker,
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
    let target = dead_letter_topic(topic);
    message.headers.insert(HEADER_DEAD_LETTER_REASON, reason);
    let inner = &broker.inner;
    if inner.options.jetstream {
        let js = super::connection::jetstream(&inner.connection).await?;
        if inner.streams.lookup(&js, &target).await.is_none() {
            streams::ensure(
                &js,
                &inner.options,
                &inner.streams,
                &target,
                RetentionPolicy::Limits,
            )
            .await?;
        }
        let headers = to_headers(&message.headers);
        return publish_stored(broker, &js, &target, headers, &message).await;
    }
    publish(broker, &target, message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_must_be_subjects() {
        assert!(check_topic("orders.created", false).is_ok());
        assert!(check_topic("", false).is_err());
        assert!(check_topic("a b", false).is_err());
        assert!(check_topic("a..b", false).is_err());
        assert!(check_topic(".a", false).is_err());
        assert!(check_topic("a.", false).is_err());
        assert!(check_topic("a\u{a0}b", false).is_err());
        assert!(check_topic("*", false).is_err());
        assert!(check_topic("a.>", false).is_err());
        assert!(check_topic("a.>b", false).is_ok());
        assert!(check_topic("x", false).is_ok());
        assert!(check_topic("orders.*", false).is_err());
        assert!(check_topic("orders.*", true).is_ok());
        assert!(check_topic("orders.>", true).is_ok());
    }
}
