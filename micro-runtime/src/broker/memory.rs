//! The in-memory broker: one process, no durability.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::mpsc;

use super::message::{Retry, Returned};
use super::{
    Broker, Delivery, Message, SubscribeOptions, Subscription, Unsubscribe, dead_letter_topic,
};
use crate::{Error, Result};

/// Deliveries of a message before a failing handler gives up on it.
const MAX_ATTEMPTS: u32 = 5;

/// A broker inside one process. Clones share their subscriptions;
/// [`MemoryBroker::global`] is the process-wide one.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    topics: Mutex<HashMap<String, Vec<Sub>>>,
    next_id: AtomicU64,
    rotation: AtomicUsize,
    dead: Mutex<Vec<(String, Message, String)>>,
}

#[derive(Clone)]
struct Sub {
    id: u64,
    queue: Option<String>,
    /// Feeds and settles the subscription's deliveries.
    retry: Arc<MemoryRetry>,
}

impl MemoryBroker {
    /// A broker with no subscription.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide instance (`MICRO_BROKER=memory`).
    pub fn global() -> Self {
        static GLOBAL: OnceLock<MemoryBroker> = OnceLock::new();
        GLOBAL.get_or_init(MemoryBroker::new).clone()
    }

    /// Messages moved aside so far: (topic, message, reason), the last 1000.
    pub fn dead_letters(&self) -> Vec<(String, Message, String)> {
        self.inner.dead.lock().unwrap().clone()
    }

    /// The subscribers a message to `topic` goes to: every one without a
    /// queue group, one member of each group (rotating).
    fn targets(&self, topic: &str) -> Vec<Sub> {
        let topics = self.inner.topics.lock().unwrap();
        let Some(subs) = topics.get(topic) else {
            return Vec::new();
        };
        let mut out: Vec<Sub> = subs.iter().filter(|s| s.queue.is_none()).cloned().collect();
        let mut groups: HashMap<&str, Vec<&Sub>> = HashMap::new();
        for sub in subs {
            if let Some(q) = &sub.queue {
                groups.entry(q).or_default().push(sub);
            }
        }
        let turn = self.inner.rotation.fetch_add(1, Ordering::Relaxed);
        for members in groups.values() {
            out.push(members[turn % members.len()].clone());
        }
        out
    }
}

/// Settles the deliveries of one subscription, all of them (see
/// [`Retry`]): a delivery holds it and its attempt, so it carries no acker
/// of its own and no attempt header. A failed handler gets the message
/// again at once, up to [`MAX_ATTEMPTS`], then it is moved aside.
struct MemoryRetry {
    /// Weak: the broker holds the subscription that holds this.
    broker: Weak<Inner>,
    /// The subscription's topic, shared with its deliveries.
    topic: Arc<str>,
    tx: mpsc::Sender<Delivery>,
}

#[async_trait::async_trait]
impl Retry for MemoryRetry {
    async fn nack(&self, returned: Returned, requeue: bool) -> Result<()> {
        if !requeue {
            return Ok(());
        }
        if returned.attempt >= MAX_ATTEMPTS {
            let reason = format!("handler failed {} times", returned.attempt);
            return self.dead_letter(returned, &reason).await;
        }
        let (delivery, tx) = (returned.again(), self.tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(delivery).await;
        });
        Ok(())
    }

    async fn dead_letter(&self, returned: Returned, reason: &str) -> Result<()> {
        let Some(inner) = self.broker.upgrade() else {
            return Ok(());
        };
        let broker = MemoryBroker { inner };
        let mut dead = broker.inner.dead.lock().unwrap();
        if dead.len() >= 1000 {
            dead.remove(0);
        }
        let (topic, message) = (returned.topic, returned.message);
        dead.push((topic.to_string(), message.clone(), reason.to_owned()));
        drop(dead);
        if !topic.ends_with(".dead-letter") {
            tokio::spawn(async move {
                let _ = broker.publish(&dead_letter_topic(&topic), message).await;
            });
        }
        Ok(())
    }
}

struct MemoryUnsubscribe {
    broker: MemoryBroker,
    topic: String,
    id: u64,
}

#[async_trait::async_trait]
impl Unsubscribe for MemoryUnsubscribe {
    async fn unsubscribe(&self) -> Result<()> {
        let mut topics = self.broker.inner.topics.lock().unwrap();
        if let Some(subs) = topics.get_mut(&self.topic) {
            subs.retain(|s| s.id != self.id);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Broker for MemoryBroker {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn address(&self) -> String {
        "memory".to_owned()
    }

    async fn connect(&self) -> Result<()> {
        Ok(())
    }

    async fn disconnect(&self) -> Result<()> {
        self.inner.topics.lock().unwrap().clear();
        Ok(())
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<()> {
        for sub in self.targets(topic) {
            let retry = &sub.retry;
            let delivery =
                Delivery::retried_by(retry.topic.clone(), message.clone(), retry.clone(), 1);
            // Waits while the subscriber is behind: memory stays bounded.
            if retry.tx.send(delivery).await.is_err() {
                tracing::debug!(topic, "subscriber went away");
            }
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str, options: SubscribeOptions) -> Result<Subscription> {
        if topic.is_empty() {
            return Err(Error::bad_request("topic is empty"));
        }
        let (tx, rx) = mpsc::channel(options.concurrency.max(1) * 16);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .topics
            .lock()
            .unwrap()
            .entry(topic.to_owned())
            .or_default()
            .push(Sub {
                id,
                queue: options.queue.clone(),
                retry: Arc::new(MemoryRetry {
                    broker: Arc::downgrade(&self.inner),
                    topic: topic.into(),
                    tx,
                }),
            });
        let handle = Arc::new(MemoryUnsubscribe {
            broker: self.clone(),
            topic: topic.to_owned(),
            id,
        });
        Ok(Subscription::new(topic, options, rx, handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn broadcast_and_queue_groups() {
        let broker = MemoryBroker::new();
        let mut all_a = broker
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap();
        let mut all_b = broker
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap();
        let group = SubscribeOptions {
            queue: Some("g".into()),
            ..SubscribeOptions::default()
        };
        let mut g1 = broker.subscribe("t", group.clone()).await.unwrap();
        let mut g2 = broker.subscribe("t", group).await.unwrap();
        for i in 0..10 {
            broker
                .publish("t", Message::new(format!("{i}")))
                .await
                .unwrap();
        }
        for sub in [&mut all_a, &mut all_b] {
            for i in 0..10 {
                assert_eq!(sub.next().await.unwrap().message.body, format!("{i}"));
            }
        }
        // publish waited for every send: what was delivered is queued now.
        use futures_util::FutureExt;
        let mut grouped = 0;
        for sub in [&mut g1, &mut g2] {
            while let Some(Some(_)) = sub.next().now_or_never() {
                grouped += 1;
            }
        }
        assert_eq!(grouped, 10, "each message to one member of the group");
    }

    #[tokio::test]
    async fn nack_redelivers_then_dead_letters() {
        let broker = MemoryBroker::new();
        let mut sub = broker
            .subscribe("t", SubscribeOptions::default())
            .await
            .unwrap();
        let mut dead_letters = broker
            .subscribe("t.dead-letter", SubscribeOptions::default())
            .await
            .unwrap();
        broker.publish("t", Message::new("x")).await.unwrap();
        for attempt in 1..=MAX_ATTEMPTS {
            let delivery = sub.next().await.unwrap();
            assert_eq!(delivery.redelivered, attempt > 1);
            assert_eq!(delivery.topic(), "t");
            assert_eq!(&delivery.message.body[..], b"x");
            delivery.nack(true).await.unwrap();
        }
        let dead = broker.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].0.as_str(), &dead[0].1.body[..]), ("t", &b"x"[..]));
        let moved = dead_letters.next().await.unwrap();
        assert_eq!(&moved.message.body[..], b"x");
        // Not requeued: dropped, nothing more delivered or moved aside.
        broker.publish("t", Message::new("y")).await.unwrap();
        sub.next().await.unwrap().nack(false).await.unwrap();
        assert_eq!(broker.dead_letters().len(), 1);
    }
}
