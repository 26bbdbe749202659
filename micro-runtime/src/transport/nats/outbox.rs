//! Publishing without waiting, in order: what the halves of a stream and
//! the serving loops need (their sends must not block).
//!
//! A message is handed to the NATS client at once when its buffer takes it
//! and nothing is queued before it (the usual case: no task, no hop);
//! otherwise it joins a queue that one task publishes from, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use tokio::sync::mpsc;

/// One message to publish.
pub(super) struct Outgoing {
    pub(super) subject: Subject,
    pub(super) reply: Option<Subject>,
    pub(super) headers: Option<HeaderMap>,
    pub(super) payload: Bytes,
}

type Publishing = Pin<Box<dyn Future<Output = Result<(), async_nats::PublishError>> + Send>>;

/// The ordered, non-waiting publisher of one NATS client.
pub(super) struct Outbox {
    client: Arc<Client>,
    queue: mpsc::UnboundedSender<Publishing>,
    /// Publishes queued and not yet handed to the client.
    queued: Arc<AtomicUsize>,
}

impl Outbox {
    /// An outbox over `client`, with its queue's task.
    pub(super) fn new(client: Arc<Client>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<Publishing>();
        let queued = Arc::new(AtomicUsize::new(0));
        let count = queued.clone();
        tokio::spawn(async move {
            while let Some(publishing) = rx.recv().await {
                if let Err(err) = publishing.await {
                    tracing::debug!(error = %err, "nats transport: publish failed");
                }
                count.fetch_sub(1, Ordering::AcqRel);
            }
        });
        Self {
            client,
            queue,
            queued,
        }
    }

    /// The client it publishes with.
    pub(super) fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Publishes `message` now, or queues it behind the ones waiting.
    pub(super) fn send(&self, message: Outgoing) {
        let client = self.client.clone();
        let mut publishing: Publishing = Box::pin(async move { publish(&client, message).await });
        if self.queued.load(Ordering::Acquire) == 0 {
            // The client takes it at once unless its buffer is full; a
            // pending publish keeps its place and finishes in the task.
            let mut cx = TaskContext::from_waker(Waker::noop());
            if let Poll::Ready(result) = publishing.as_mut().poll(&mut cx) {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "nats transport: publish failed");
                }
                return;
            }
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.queue.send(publishing).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Outbox {
    /// Resolves once everything sent so far is written to NATS (what a
    /// node does before it goes, so its last answers are not lost).
    pub(super) async fn flush(&self) {
        if self.queued.load(Ordering::Acquire) > 0 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.queued.fetch_add(1, Ordering::AcqRel);
            let marker: Publishing = Box::pin(async move {
                let _ = tx.send(());
                Ok(())
            });
            if self.queue.send(marker).is_err() {
                self.queued.fetch_sub(1, Ordering::AcqRel);
            }
            let _ = rx.await;
        }
        if let Err(err) = self.client.flush().await {
            tracing::debug!(error = %err, "nats transport: flush failed");
        }
    }
}

async fn publish(client: &Client, m: Outgoing) -> Result<(), async_nats::PublishError> {
    match (m.reply, m.headers) {
        (None, None) => client.publish(m.subject, m.payload).await,
        (None, Some(headers)) => {
            client
                .publish_with_headers(m.subject, headers, m.payload)
                .await
        }
        (Some(reply), None) => client.publish_with_reply(m.subject, reply, m.payload).await,
        (Some(reply), Some(headers)) => {
            client
                .publish_with_reply_and_headers(m.subject, reply, headers, m.payload)
                .await
        }
    }
}
