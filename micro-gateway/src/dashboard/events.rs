//! Events from the browser: publish a JSON message to a topic, and tail a
//! topic as Server-Sent Events, through the broker of the gateway's
//! client (micro-runtime's public broker API). Both sit behind the
//! gateway's token and cross-site guards like every other route.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, Stream};
use micro_runtime::Error;
use micro_runtime::broker::{
    Broker, Delivery, HEADER_CONTENT_TYPE, Message, SubscribeOptions, Subscription, Unsubscribe,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Dashboard;
use crate::failure::Failure;

/// The body of `POST /dashboard/api/publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Publish {
    topic: String,
    /// The message: any JSON value.
    message: Value,
    /// Headers to publish with (the runtime's `micro-` ones excepted).
    #[serde(default)]
    metadata: Map<String, Value>,
}

/// `?topic=` of the live tail.
#[derive(Debug, Deserialize)]
pub(super) struct Tail {
    #[serde(default)]
    topic: String,
}

/// The client's broker, connected.
async fn broker(dashboard: &Dashboard) -> Result<Arc<dyn Broker>, Error> {
    let broker = dashboard.gateway.client.broker().cloned().ok_or_else(|| {
        Error::unavailable("the gateway's client has no broker to publish or subscribe with")
    })?;
    broker.connect().await?;
    Ok(broker)
}

/// A topic that is not blank.
fn topic(topic: &str) -> Result<&str, Error> {
    let topic = topic.trim();
    if topic.is_empty() {
        return Err(Error::bad_request("the topic is empty"));
    }
    Ok(topic)
}

/// `POST /dashboard/api/publish` with `{"topic", "message", "metadata"?}`:
/// `{"topic", "published": true}`, or the error (400 for a bad body or a
/// reserved header, the broker's 503).
pub(super) async fn publish(
    State(dashboard): State<Arc<Dashboard>>,
    body: Result<Json<Publish>, JsonRejection>,
) -> Result<Response, Failure> {
    let Json(publish) = body.map_err(|rejection| {
        Error::bad_request(format!(
            "the body must be {{\"topic\", \"message\", \"metadata\"?}}: {}",
            rejection.body_text()
        ))
    })?;
    let topic = topic(&publish.topic)?;
    let mut message = Message::new(Bytes::from(publish.message.to_string()))
        .with_header(HEADER_CONTENT_TYPE, "application/json");
    for (key, value) in &publish.metadata {
        if key.to_ascii_lowercase().starts_with("micro-") {
            return Err(Error::bad_request(format!(
                "metadata {key:?}: keys starting with micro- are the runtime's own"
            ))
            .into());
        }
        let value = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        message = message.with_header(key, value);
    }
    broker(&dashboard).await?.publish(topic, message).await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "topic": topic, "published": true })),
    )
        .into_response())
}

/// `GET /dashboard/api/subscribe?topic=T`: every message published to `T`
/// from now on as an `event: message` whose data is `{"topic", "headers",
/// "body"}` (a JSON body as itself, any other as text). Closing the
/// stream ends the subscription.
pub(super) async fn subscribe(
    State(dashboard): State<Arc<Dashboard>>,
    Query(tail): Query<Tail>,
) -> Result<Response, Failure> {
    let topic = topic(&tail.topic)?;
    let subscription = broker(&dashboard)
        .await?
        .subscribe(topic, SubscribeOptions::default())
        .await?;
    Ok(Sse::new(deliveries(subscription))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Unsubscribes when dropped (the browser went away).
struct Unsubscribing(Option<Arc<dyn Unsubscribe>>);

impl Drop for Unsubscribing {
    fn drop(&mut self) {
        if let (Some(handle), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                let _ = handle.unsubscribe().await;
            });
        }
    }
}

fn deliveries(subscription: Subscription) -> impl Stream<Item = Result<Event, Infallible>> {
    let guard = Unsubscribing(subscription.handle());
    // A first event, so the page knows the subscription is open.
    let opened = Event::default()
        .event("subscribed")
        .data(subscription.topic());
    let opened = stream::once(async move { Ok(opened) });
    let messages = stream::unfold(
        (subscription, guard),
        |(mut subscription, guard)| async move {
            let delivery = subscription.next().await?;
            let data = shown(&delivery).to_string();
            let _ = delivery.ack().await;
            Some((
                Ok(Event::default().event("message").data(data)),
                (subscription, guard),
            ))
        },
    );
    futures_util::StreamExt::chain(opened, messages)
}

/// A delivery as the page shows it.
fn shown(delivery: &Delivery) -> Value {
    let message = &delivery.message;
    let headers: Map<String, Value> = message
        .headers
        .iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    let body = serde_json::from_slice(&message.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&message.body).into_owned()));
    json!({ "topic": delivery.topic(), "headers": headers, "body": body })
}
