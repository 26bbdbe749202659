//! The in-memory broker: one process, no durability.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;

use super::{
    Acker, Broker, Delivery, Message, SubscribeOptions, Subscription, Unsubscribe,
    dead_letter_topic,
};
use crate::{Error, Result};

/// Deliveries of a message before a failing handler gives up on it.
const MAX_ATTEMPTS: u32 = 5;
/// Header counting the attempts of a memory delivery.
const ATTEMPT: &str = "micro-attempt";

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
    tx: mpsc::Sender<Delivery>,
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

    fn acker(&self, topic: &str, message: &Message, sub: &Sub) -> Box<dyn Acker> {
        Box::new(MemoryAck {
            broker: self.clone(),
            topic: topic.to_owned(),
            message: message.clone(),
            tx: sub.tx.clone(),
        })
    }
}

#[derive(Clone)]
struct MemoryAck {
    broker: MemoryBroker,
    topic: String,
    message: Message,
    tx: mpsc::Sender<Delivery>,
}

#[async_trait::async_trait]
impl Acker for MemoryAck {
    async fn ack(&self) -> Result<()> {
        Ok(())
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        if !requeue {
            return Ok(());
        }
        let mut message = self.message.clone();
        let attempt: u32 = message
            .headers
            .get(ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1);
        if attempt >= MAX_ATTEMPTS {
            return self
                .dead_letter(&format!("handler failed {attempt} times"))
                .await;
        }
        message.headers.insert(ATTEMPT, (attempt + 1).to_string());
        let acker = Box::new(MemoryAck {
            message: message.clone(),
            ..self.clone()
        });
        let delivery = Delivery::new(self.topic.as_str(), message, Some(acker)).redelivered(true);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(delivery).await;
        });
        Ok(())
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        let mut dead = self.broker.inner.dead.lock().unwrap();
        if dead.len() >= 1000 {
            dead.remove(0);
        }
        dead.push((self.topic.clone(), self.message.clone(), reason.to_owned()));
        drop(dead);
        let broker = self.broker.clone();
        let (topic, message) = (dead_letter_topic(&self.topic), self.message.clone());
        if !self.topic.ends_with(".dead-letter") {
            tokio::spawn(async move {
                let _ = broker.publish(&topic, message).await;
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
            let delivery = Delivery::new(
                topic,
                message.clone(),
                Some(self.acker(topic, &message, &sub)),
            );
            // Waits while the subscriber is behind: memory stays bounded.
            if sub.tx.send(delivery).await.is_err() {
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
                tx,
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
        broker.publish("t", Message::new("x")).await.unwrap();
        for _ in 0..MAX_ATTEMPTS {
            sub.next().await.unwrap().nack(true).await.unwrap();
        }
        let dead = broker.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0, "t");
    }
}
