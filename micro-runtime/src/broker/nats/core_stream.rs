//! Core NATS subscriptions as a stream of deliveries, read in the
//! subscriber's own task: nothing between the client's buffer and the
//! handler (no task, no second buffer).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::NatsBroker;
use super::acker::CoreRetry;
use super::envelope::{Envelopes, core_metadata};
use super::publish::is_wildcard;
use crate::Result;
use crate::broker::backend::{Stop, reconnect_delay, unavailable};
use crate::broker::message::Retry;
use crate::broker::{Delivery, Message};

/// Local redeliveries (failed handlers) waiting at once, at most; more wait
/// in their retry task.
const RETRY_BUFFER: usize = 64;

/// Subscribes to `topic` (in `queue`'s group, if any) on core NATS.
pub(super) async fn core_subscribe(
    broker: &NatsBroker,
    topic: &str,
    queue: Option<&str>,
) -> Result<async_nats::Subscriber> {
    let client = broker.inner.connection.client().await?;
    let subscribed = match queue {
        Some(queue) => {
            client
                .queue_subscribe(topic.to_owned(), queue.to_owned())
                .await
        }
        None => client.subscribe(topic.to_owned()).await,
    };
    subscribed.map_err(|e| unavailable("nats", broker.inner.connection.address(), e))
}

/// The deliveries of one core subscription, until it is stopped. The
/// client restores the subscription after a reconnect by itself; should it
/// end anyway, it is made again with backoff. Deliveries a failed handler
/// gets again (see [`CoreRetry`]) come first.
pub(super) struct CoreDeliveries {
    retry: Arc<CoreRetry>,
    /// The same, as its deliveries hold it.
    settle: Arc<dyn Retry>,
    queue: Option<String>,
    subscriber: Option<async_nats::Subscriber>,
    retries: mpsc::Receiver<Delivery>,
    envelopes: Envelopes,
    /// Whether the topic has wildcards (its messages' subjects differ).
    wildcards: bool,
    stop: Stop,
    stopped: BoxFuture<'static, ()>,
    resubscribing: Option<BoxFuture<'static, Option<async_nats::Subscriber>>>,
    ended: bool,
}

impl CoreDeliveries {
    pub(super) fn new(
        broker: NatsBroker,
        topic: String,
        queue: Option<String>,
        subscriber: async_nats::Subscriber,
        stop: Stop,
    ) -> Self {
        let (tx, retries) = mpsc::channel(RETRY_BUFFER);
        let mut end = stop.clone();
        let wildcards = topic.as_bytes().split(|&b| b == b'.').any(is_wildcard);
        let retry = Arc::new(CoreRetry {
            broker,
            topic: topic.into(),
            tx,
            pending: Default::default(),
        });
        Self {
            settle: retry.clone(),
            retry,
            queue,
            subscriber: Some(subscriber),
            retries,
            envelopes: Envelopes::new(!wildcards),
            wildcards,
            stop,
            stopped: Box::pin(async move { end.stopped().await }),
            resubscribing: None,
            ended: false,
        }
    }

    fn delivery(&mut self, msg: async_nats::Message) -> Delivery {
        let topic = &self.retry.topic;
        let subject = msg.subject.as_str();
        let message = Message {
            headers: core_metadata(subject, msg.headers.as_ref(), &mut self.envelopes),
            body: msg.payload,
        };
        // Without wildcards the server sends only the topic's own subject.
        let subject = if !self.wildcards || subject == &**topic {
            topic.clone()
        } else {
            subject.into()
        };
        Delivery::retried_by(subject, message, self.settle.clone(), 1)
    }

    /// A redelivery waiting in the buffer, if any (a look at a counter
    /// when there is none).
    fn try_retry(&mut self) -> Option<Delivery> {
        if self.retry.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let delivery = self.retries.try_recv().ok()?;
        self.retry.pending.fetch_sub(1, Ordering::AcqRel);
        Some(delivery)
    }

    /// Ends the stream; dropping the client's subscriber unsubscribes it.
    fn end(&mut self) -> Poll<Option<Delivery>> {
        self.ended = true;
        self.subscriber = None;
        self.resubscribing = None;
        Poll::Ready(None)
    }

    /// Subscribes again with backoff until it works or the stream is stopped.
    fn resubscribe(&self) -> BoxFuture<'static, Option<async_nats::Subscriber>> {
        let (broker, topic) = (self.retry.broker.clone(), self.retry.topic.to_string());
        let (queue, mut stop) = (self.queue.clone(), self.stop.clone());
        Box::pin(async move {
            let mut failures = 0;
            loop {
                failures += 1;
                if !stop.sleep(reconnect_delay(failures)).await {
                    return None;
                }
                match core_subscribe(&broker, &topic, queue.as_deref()).await {
                    Ok(again) => return Some(again),
                    Err(err) => tracing::warn!(topic, error = %err, "subscribing again failed"),
                }
            }
        })
    }
}

impl Stream for CoreDeliveries {
    type Item = Delivery;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let this = self.get_mut();
        if this.ended || this.stop.is_stopped() {
            return this.end();
        }
        if let Some(delivery) = this.try_retry() {
            return Poll::Ready(Some(delivery));
        }
        loop {
            if let Some(resubscribing) = &mut this.resubscribing {
                match resubscribing.as_mut().poll(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => return this.end(),
                    Poll::Ready(Some(again)) => {
                        this.subscriber = Some(again);
                        this.resubscribing = None;
                    }
                }
            }
            let Some(subscriber) = &mut this.subscriber else {
                return this.end();
            };
            match subscriber.poll_next_unpin(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(msg)) => return Poll::Ready(Some(this.delivery(msg))),
                Poll::Ready(None) => {
                    tracing::warn!(topic = %this.retry.topic,
                        "nats subscription ended; subscribing again");
                    this.subscriber = None;
                    this.resubscribing = Some(this.resubscribe());
                }
            }
        }
        // Nothing to take: be woken by a retry or by the stop as well.
        if this.stopped.as_mut().poll(cx).is_ready() {
            return this.end();
        }
        match this.retries.poll_recv(cx) {
            Poll::Ready(Some(delivery)) => {
                this.retry.pending.fetch_sub(1, Ordering::AcqRel);
                Poll::Ready(Some(delivery))
            }
            _ => Poll::Pending,
        }
    }
}
