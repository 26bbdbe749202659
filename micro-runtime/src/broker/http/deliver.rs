//! The publishing side: who gets a message, POSTing it, and the bounded
//! retry buffer for deliveries that failed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::sync::Notify;

use super::{envelope, server};
use crate::registry::Node;
use crate::selector::RegistryCache;
use crate::{Error, Result};

/// Version under which subscribers without a queue group register.
pub(super) const BROADCAST: &str = "broadcast";

/// How long one delivery POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of an HTTP broker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpBrokerStats {
    /// Messages published.
    pub published: u64,
    /// Deliveries a subscriber accepted.
    pub delivered: u64,
    /// Delivery attempts that failed and were queued for retry.
    pub retried: u64,
    /// Deliveries given up (retry buffer full, attempts exhausted, or the
    /// subscriber gone); each is logged at error level.
    pub dropped: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> HttpBrokerStats {
        HttpBrokerStats {
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Who a delivery is for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// One subscriber without a group: that node, and only it.
    Node(String),
    /// A queue group: any one member.
    Group(String),
}

struct Pending {
    topic: String,
    target: Target,
    body: Bytes,
    attempt: u32,
    due: Instant,
}

/// Publishes over HTTP, retrying failures from a bounded buffer.
pub(super) struct Publisher {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    cache: RegistryCache,
    counters: Arc<Counters>,
    queue: Mutex<VecDeque<Pending>>,
    wake: Arc<Notify>,
    capacity: usize,
    max_attempts: u32,
}

/// The registry name subscribers of `topic` register under.
pub(super) fn service_name(topic: &str) -> String {
    format!("micro.broker.{topic}")
}

impl Publisher {
    pub(super) fn new(
        cache: RegistryCache,
        counters: Arc<Counters>,
        capacity: usize,
        max_attempts: u32,
    ) -> Arc<Self> {
        let http = HttpClient::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build_http();
        let publisher = Arc::new(Self {
            http,
            cache,
            counters,
            queue: Mutex::default(),
            wake: Arc::new(Notify::new()),
            capacity,
            max_attempts,
        });
        tokio::spawn(retry_loop(
            Arc::downgrade(&publisher),
            publisher.wake.clone(),
        ));
        publisher
    }

    /// Current subscribers of `topic`, by queue group (`broadcast` = none).
    async fn subscribers(&self, topic: &str) -> BTreeMap<String, Vec<Node>> {
        let mut groups: BTreeMap<String, Vec<Node>> = BTreeMap::new();
        if let Ok(nodes) = self.cache.get(&service_name(topic)).await {
            for info in &nodes.nodes {
                groups
                    .entry(info.service.version.clone())
                    .or_default()
                    .push(info.node.clone());
            }
        }
        groups
    }

    pub(super) async fn publish(
        &self,
        topic: &str,
        message: &crate::broker::Message,
    ) -> Result<()> {
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        let groups = self.subscribers(topic).await;
        if groups.is_empty() {
            tracing::debug!(topic, "published with no subscriber");
            return Ok(());
        }
        let body = envelope::encode(message);
        let mut sends = Vec::new();
        for (group, nodes) in &groups {
            if group == BROADCAST {
                for node in nodes {
                    sends.push((Target::Node(node.id.clone()), vec![node.clone()]));
                }
            } else {
                let mut members = nodes.clone();
                fastrand::shuffle(&mut members);
                sends.push((Target::Group(group.clone()), members));
            }
        }
        let attempts = sends.into_iter().map(|(target, candidates)| {
            let body = body.clone();
            async move {
                for node in &candidates {
                    if self.post(node, &body).await.is_ok() {
                        return None;
                    }
                }
                Some(target)
            }
        });
        let failed: Vec<Target> = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .flatten()
            .collect();
        let mut dropped = 0;
        for target in failed {
            if !self.enqueue(topic, target, body.clone(), 1) {
                dropped += 1;
            }
        }
        if dropped > 0 {
            return Err(Error::unavailable(format!(
                "{dropped} deliveries of a message to {topic} dropped: the retry buffer is full"
            ))
            .with_id("micro.broker"));
        }
        Ok(())
    }

    /// POSTs one delivery.
    async fn post(&self, node: &Node, body: &Bytes) -> Result<()> {
        let uri = format!("http://{}/_sub/{}", node.address, node.id);
        let mut request =
            Request::post(&uri).header(hyper::header::CONTENT_TYPE, envelope::CONTENT_TYPE);
        if let Some(token) = node.metadata.get(server::TOKEN_METADATA) {
            request = request.header(server::TOKEN_HEADER, token.as_str());
        }
        let request = request
            .body(Full::new(body.clone()))
            .map_err(|e| Error::internal(format!("delivery request: {e}")))?;
        let sent = tokio::time::timeout(POST_TIMEOUT, async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let text = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
            }
        })
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()));
        match sent {
            Ok(()) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(why) => {
                tracing::debug!(node = %node.id, address = %node.address, why, "delivery failed");
                Err(Error::unavailable(format!(
                    "delivery to {uri} failed: {why}"
                )))
            }
        }
    }

    /// Queues a failed delivery; false (and a logged drop) when full.
    fn enqueue(&self, topic: &str, target: Target, body: Bytes, attempt: u32) -> bool {
        let mut queue = self.queue.lock().unwrap();
        if queue.len() >= self.capacity {
            drop(queue);
            self.drop_delivery(topic, &target, "the retry buffer is full");
            return false;
        }
        let wait = Duration::from_millis(100)
            .saturating_mul(1 << attempt.min(6))
            .min(Duration::from_secs(5));
        queue.push_back(Pending {
            topic: topic.to_owned(),
            target,
            body,
            attempt,
            due: Instant::now() + wait.mul_f64(0.5 + fastrand::f64() / 2.0),
        });
        drop(queue);
        self.counters.retried.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
        true
    }

    fn drop_delivery(&self, topic: &str, target: &Target, why: &str) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::error!(topic, target = ?target, why, "delivery dropped");
    }

    /// Retries one due delivery.
    async fn retry(&self, pending: Pending) {
        let groups = self.subscribers(&pending.topic).await;
        let candidates: Vec<Node> = match &pending.target {
            Target::Node(id) => groups
                .get(BROADCAST)
                .into_iter()
                .flatten()
                .filter(|n| n.id == *id)
                .cloned()
                .collect(),
            Target::Group(group) => {
                let mut members = groups.get(group).cloned().unwrap_or_default();
                fastrand::shuffle(&mut members);
                members
            }
        };
        if candidates.is_empty() {
            self.drop_delivery(
                &pending.topic,
                &pending.target,
                "no subscriber is registered any more",
            );
            return;
        }
        for node in &candidates {
            if self.post(node, &pending.body).await.is_ok() {
                return;
            }
        }
        if pending.attempt + 1 >= self.max_attempts {
            self.drop_delivery(&pending.topic, &pending.target, "every attempt failed");
            return;
        }
        self.enqueue(
            &pending.topic,
            pending.target,
            pending.body,
            pending.attempt + 1,
        );
    }
}

/// Sends due retries until the publisher is gone.
async fn retry_loop(publisher: Weak<Publisher>, wake: Arc<Notify>) {
    loop {
        let Some(p) = publisher.upgrade() else { return };
        let now = Instant::now();
        let (due, next): (Vec<Pending>, Option<Instant>) = {
            let mut queue = p.queue.lock().unwrap();
            let mut due = Vec::new();
            let mut keep = VecDeque::with_capacity(queue.len());
            for item in queue.drain(..) {
                if item.due <= now {
                    due.push(item);
                } else {
                    keep.push_back(item);
                }
            }
            let next = keep.iter().map(|i| i.due).min();
            *queue = keep;
            (due, next)
        };
        for pending in due {
            p.retry(pending).await;
        }
        let woken = wake.notified();
        let sleep_until = next.unwrap_or(now + Duration::from_secs(3600));
        drop(p);
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep_until(sleep_until.into()) => {}
        }
    }
}
