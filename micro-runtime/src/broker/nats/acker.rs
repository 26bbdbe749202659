//! Settling NATS deliveries: JetStream acknowledgements, and local retries
//! for core subscriptions (which the server never redelivers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_nats::jetstream::AckKind;
use async_nats::jetstream::message::Acker as JsAcker;
use tokio::sync::mpsc;

use super::{NatsBroker, publish};
use crate::Result;
use crate::broker::backend::{MAX_ATTEMPTS, retry_delay, unavailable};
use crate::broker::message::{Retry, Returned};
use crate::broker::{Acker, Delivery, Message};

/// Settles one JetStream delivery; `-NAK`s it when dropped unsettled.
pub(super) struct JetStreamAcker {
    pub(super) broker: NatsBroker,
    pub(super) topic: String,
    pub(super) message: Message,
    pub(super) delivered: u32,
    pub(super) acker: Mutex<Option<JsAcker>>,
}

impl JetStreamAcker {
    async fn send(&self, kind: AckKind) -> Result<()> {
        let Some(acker) = self.acker.lock().unwrap().take() else {
            return Ok(());
        };
        acker.ack_with(kind).await.map_err(|e| {
            unavailable(
                "nats",
                self.broker.inner.connection.address(),
                format!("settling a message of {}: {e}", self.topic),
            )
        })
    }
}

#[async_trait::async_trait]
impl Acker for JetStreamAcker {
    async fn ack(&self) -> Result<()> {
        self.send(AckKind::Ack).await
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        if !requeue {
            return self.send(AckKind::Term).await;
        }
        if self.delivered >= self.broker.inner.options.max_deliver {
            let reason = format!("handler failed on all {} deliveries", self.delivered);
            return self.dead_letter(&reason).await;
        }
        self.send(AckKind::Nak(Some(retry_delay(self.delivered))))
            .await
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        match publish::dead_letter(&self.broker, &self.topic, self.message.clone(), reason).await {
            Ok(()) => self.send(AckKind::Term).await,
            Err(err) => {
                // Not moved aside: have it delivered again later.
                self.send(AckKind::Nak(Some(retry_delay(self.delivered))))
                    .await?;
                Err(err)
            }
        }
    }
}

impl Drop for JetStreamAcker {
    fn drop(&mut self) {
        let Some(acker) = self.acker.get_mut().unwrap().take() else {
            return;
        };
        // Dropped unsettled (the subscriber stopped): hand it back now rather
        // than after ack_wait.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = acker.ack_with(AckKind::Nak(None)).await;
            });
        }
    }
}

/// Settles the deliveries of one core subscription: the server does not
/// redeliver, so a failed handler gets the message again from here, up to
/// 5 attempts, then it is moved aside. Shared by the subscription's
/// deliveries (see [`Retry`]).
pub(super) struct CoreRetry {
    pub(super) broker: NatsBroker,
    /// The subscription's topic (the subject of its messages unless it
    /// has wildcards), shared with its deliveries.
    pub(super) topic: Arc<str>,
    /// Where redeliveries go: the subscription's own buffer.
    pub(super) tx: mpsc::Sender<Delivery>,
    /// Redeliveries sent to `tx` and not yet taken, so the subscription
    /// looks at its buffer only when there is something in it.
    pub(super) pending: AtomicUsize,
}

#[async_trait::async_trait]
impl Retry for CoreRetry {
    async fn nack(&self, returned: Returned, requeue: bool) -> Result<()> {
        if !requeue {
            tracing::debug!(topic = %returned.topic, "message rejected; dropped");
            return Ok(());
        }
        if returned.attempt >= MAX_ATTEMPTS {
            let reason = format!("handler failed {} times", returned.attempt);
            return self.dead_letter(returned, &reason).await;
        }
        let delay = retry_delay(returned.attempt);
        let delivery = returned.again();
        let tx = self.tx.clone();
        self.pending.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(delivery).await;
        });
        Ok(())
    }

    async fn dead_letter(&self, returned: Returned, reason: &str) -> Result<()> {
        publish::dead_letter(&self.broker, &returned.topic, returned.message, reason).await
    }
}
