//! Settling Kafka deliveries: storing offsets in order, local retries.

use std::sync::Arc;

use rdkafka::consumer::Consumer;
use rdkafka::message::{Message as _, OwnedMessage};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::KafkaBroker;
use super::consumer::ConsumerGuard;
use super::offsets::Offsets;
use super::producer::{self, from_headers};
use crate::Result;
use crate::broker::backend::{MAX_ATTEMPTS, retry_delay};
use crate::broker::{Acker, Delivery, Message};

/// Settles one record of a partition.
pub(super) struct KafkaAcker {
    broker: KafkaBroker,
    guard: Arc<ConsumerGuard>,
    offsets: Arc<Offsets>,
    topic: String,
    partition: i32,
    offset: i64,
    epoch: u64,
    message: Message,
    attempt: u32,
    tx: mpsc::Sender<Delivery>,
}

impl KafkaAcker {
    /// The first delivery of `record`.
    pub(super) fn delivery(
        broker: &KafkaBroker,
        guard: &Arc<ConsumerGuard>,
        offsets: &Arc<Offsets>,
        record: &OwnedMessage,
        epoch: u64,
        tx: &mpsc::Sender<Delivery>,
    ) -> Delivery {
        let message = Message {
            headers: from_headers(record.headers()),
            body: bytes::Bytes::copy_from_slice(record.payload().unwrap_or_default()),
        };
        Self {
            broker: broker.clone(),
            guard: guard.clone(),
            offsets: offsets.clone(),
            topic: record.topic().to_owned(),
            partition: record.partition(),
            offset: record.offset(),
            epoch,
            message,
            attempt: 1,
            tx: tx.clone(),
        }
        .into_delivery()
    }

    fn into_delivery(self) -> Delivery {
        let (topic, message, attempt) = (self.topic.clone(), self.message.clone(), self.attempt);
        Delivery::new(topic, message, Some(Box::new(self))).redelivered(attempt > 1)
    }

    fn again(&self) -> Self {
        Self {
            broker: self.broker.clone(),
            guard: self.guard.clone(),
            offsets: self.offsets.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            epoch: self.epoch,
            message: self.message.clone(),
            attempt: self.attempt + 1,
            tx: self.tx.clone(),
        }
    }

    /// Done with this record: store the position it lets the group move to.
    fn settle(&self) {
        let Some(position) =
            self.offsets
                .settled(&self.topic, self.partition, self.offset, self.epoch)
        else {
            return;
        };
        if !self.guard.commits {
            return;
        }
        let mut list = TopicPartitionList::new();
        if list
            .add_partition_offset(&self.topic, self.partition, Offset::Offset(position))
            .is_ok()
            && let Err(err) = self.guard.consumer().store_offsets(&list)
        {
            // The partition moved to another member meanwhile: it resumes
            // from the last commit.
            tracing::debug!(topic = %self.topic, partition = self.partition,
                error = %err, "storing a kafka offset");
        }
    }

    /// Hands the record to the handler again after a delay; its offset is
    /// not committed meanwhile.
    fn redeliver(&self) {
        let delivery = self.again().into_delivery();
        let (tx, delay) = (self.tx.clone(), retry_delay(self.attempt));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(delivery).await;
        });
    }
}

#[async_trait::async_trait]
impl Acker for KafkaAcker {
    async fn ack(&self) -> Result<()> {
        self.settle();
        Ok(())
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        if !requeue {
            self.settle();
            return Ok(());
        }
        if self.attempt >= MAX_ATTEMPTS {
            let reason = format!("handler failed {} times", self.attempt);
            return self.dead_letter(&reason).await;
        }
        self.redeliver();
        Ok(())
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        match producer::dead_letter(&self.broker, &self.topic, self.message.clone(), reason).await {
            Ok(()) => {
                self.settle();
                Ok(())
            }
            Err(err) => {
                self.redeliver();
                Err(err)
            }
        }
    }
}
