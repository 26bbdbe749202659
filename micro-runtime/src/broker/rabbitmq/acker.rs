//! Settling RabbitMQ deliveries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

    fn failed(&self, what: &str, err: lapin::Error) -> crate::Error {
        unavailable(
            "rabbitmq",
            &self.address,
            format!("{what} a message of {}: {err}", self.topic),
        )
    }

    async fn reject(&self) -> Result<()> {
        self.settled();
        self.acker
            .reject(BasicRejectOptions { requeue: false })
            .await
            .map(drop)
            .map_err(|e| self.failed("rejecting", e))
    }
}

#[async_trait::async_trait]
impl Acker for RabbitAcker {
    async fn ack(&self) -> Result<()> {
        self.settled();
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(|e| self.failed("acknowledging", e))
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
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .map(drop)
            .map_err(|e| self.failed("requeueing", e))
    }

    async fn dead_letter(&self, _reason: &str) -> Result<()> {
        // RabbitMQ moves it to `<topic>.dead-letter` (x-dead-letter-exchange),
        // recording `rejected` in its x-death header; the runtime logged why.
        self.reject().await
    }
}
