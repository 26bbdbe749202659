//! Settling RabbitMQ deliveries.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};

use crate::Result;
use crate::broker::Acker;
use crate::broker::backend::{retry_delay, unavailable};

/// Failed deliveries per message id, for exclusive queues (quorum queues
/// count them in `x-delivery-count`).
pub(super) type Attempts = Arc<Mutex<HashMap<String, u32>>>;

/// Most message ids an exclusive queue's [`Attempts`] remembers.
const MAX_REMEMBERED: usize = 10_000;

/// Settles one delivery. Holds its channel open until then.
pub(super) struct RabbitAcker {
    pub(super) acker: lapin::Acker,
    pub(super) _channel: Channel,
    pub(super) address: String,
    /// How long settling may take: a frame for a connection that died
    /// unnoticed is never confirmed, and the handler's slot must come back.
    pub(super) timeout: Duration,
    pub(super) topic: String,
    /// Deliveries of this message so far, this one included.
    pub(super) delivery: u32,
    pub(super) max_deliver: u32,
    /// For exclusive queues: where failed deliveries are counted, by id.
    pub(super) attempts: Option<(Attempts, String)>,
}

impl RabbitAcker {
    fn settled(&self) {
        if let Some((attempts, id)) = &self.attempts {
            attempts.lock().unwrap().remove(id);
        }
    }

    /// `settle` within the timeout, its failure a 503 about `what`.
    async fn bounded(
        &self,
        what: &str,
        settle: impl Future<Output = lapin::Result<()>>,
    ) -> Result<()> {
        let failed = |why: &dyn std::fmt::Display| {
            unavailable(
                "rabbitmq",
                &self.address,
                format!("{what} a message of {}: {why}", self.topic),
            )
        };
        match tokio::time::timeout(self.timeout, settle).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(failed(&err)),
            Err(_) => Err(failed(&"timed out")),
        }
    }

    async fn reject(&self) -> Result<()> {
        self.settled();
        let reject = self.acker.reject(BasicRejectOptions { requeue: false });
        self.bounded("rejecting", async { reject.await.map(drop) })
            .await
    }
}

#[async_trait::async_trait]
impl Acker for RabbitAcker {
    async fn ack(&self) -> Result<()> {
        self.settled();
        let ack = self.acker.ack(BasicAckOptions::default());
        self.bounded("acknowledging", async { ack.await.map(drop) })
            .await
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        if !requeue {
            return self.reject().await;
        }
        if self.delivery >= self.max_deliver {
            tracing::error!(topic = %self.topic, deliveries = self.delivery,
                "handler failed on every delivery; dead-lettering the message");
            return self.reject().await;
        }
        if let Some((attempts, id)) = &self.attempts {
            let mut attempts = attempts.lock().unwrap();
            if attempts.len() >= MAX_REMEMBERED {
                attempts.clear();
            }
            attempts.insert(id.clone(), self.delivery);
        }
        // Back off before handing it back: RabbitMQ redelivers at once.
        tokio::time::sleep(retry_delay(self.delivery)).await;
        let nack = self.acker.nack(BasicNackOptions {
            requeue: true,
            multiple: false,
        });
        self.bounded("requeueing", async { nack.await.map(drop) })
            .await
    }

    async fn dead_letter(&self, _reason: &str) -> Result<()> {
        // RabbitMQ moves it to `<topic>.dead-letter` (x-dead-letter-exchange),
        // recording `rejected` in its x-death header; the runtime logged why.
        self.reject().await
    }
}
