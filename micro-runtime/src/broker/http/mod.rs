//! The HTTP broker, the default: no broker server to run. Each subscribing
//! process serves HTTP and registers every subscription in the registry as a
//! node of `micro.broker.<topic>` (version: its queue group, or
//! `broadcast`); publishers look the topic up and POST the message to
//! `/_sub/<subscription>` — every broadcast subscriber, one member of each
//! queue group. A subscriber answers once its handler settled the message;
//! failed deliveries go to a bounded retry buffer and are retried with
//! backoff (another member, for a group); a delivery given up is logged and
//! counted ([`HttpBroker::stats`]), never silently lost.
//!
//! Each subscription registers a secret token (node metadata `token`, 128
//! random bits) that publishers send back with each delivery
//! (`x-micro-broker-token`): a POST without it is refused with 401, one
//! with another token with 403, before its body is read, so an outsider
//! who learns a subscription's address cannot inject messages (nor have
//! undecodable ones moved to the dead-letter topic). Whoever can read the
//! registry can read the token: keep the registry to the services.

mod deliver;
mod envelope;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use deliver::HttpBrokerStats;
use deliver::{BROADCAST, Counters, Publisher, service_name};
use server::{DeadLetters, Inbox, Inboxes, Server};

use super::{Broker, Message, SubscribeOptions, Subscription, Unsubscribe, dead_letter_topic};
use crate::registry::{self, Registry};
use crate::selector::{CacheOptions, RegistryCache};
use crate::{Result, env_vars};

/// Settings of the HTTP broker.
#[derive(Clone, Debug)]
pub struct HttpBrokerOptions {
    /// Where subscribers listen (`MICRO_BROKER_ADDRESS`, default `0.0.0.0:0`).
    pub address: String,
    /// Address to register instead of the listening one.
    pub advertise: Option<String>,
    /// Registration lifetime of a subscription (`MICRO_REGISTER_TTL`).
    pub register_ttl: Duration,
    /// Renewal interval (`MICRO_REGISTER_INTERVAL`).
    pub register_interval: Duration,
    /// Failed deliveries kept for retry.
    pub retry_buffer: usize,
    /// Attempts per delivery before it is dropped.
    pub max_attempts: u32,
    /// Largest message accepted.
    pub max_message: usize,
    /// How long a delivery's headers, and then its body, may take to
    /// arrive before the subscriber closes the connection
    /// (`MICRO_BROKER_READ_TIMEOUT`, default 10 s).
    pub read_timeout: Duration,
    /// Connections a subscriber serves at once; more are closed as they
    /// arrive (`MICRO_BROKER_MAX_CONNECTIONS`, default 256).
    pub max_connections: usize,
}

impl Default for HttpBrokerOptions {
    fn default() -> Self {
        Self {
            address: "0.0.0.0:0".into(),
            advertise: None,
            register_ttl: Duration::from_secs(60),
            register_interval: Duration::from_secs(30),
            retry_buffer: 1024,
            max_attempts: 8,
            max_message: 4 * 1024 * 1024,
            read_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

impl HttpBrokerOptions {
    /// Defaults overridden by the environment.
    ///
    /// # Errors
    ///
    /// 400 naming a variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(address) = env_vars::string("MICRO_BROKER_ADDRESS") {
            options.address = address;
        } else if let Some(address) = env_vars::string("MICRO_SERVER_ADDRESS") {
            // Same interface as the service, any port.
            if let Some((host, _)) = address.rsplit_once(':') {
                options.address = format!("{host}:0");
            }
        }
        if let Some(ttl) = env_vars::duration("MICRO_REGISTER_TTL")? {
            options.register_ttl = ttl;
        }
        if let Some(interval) = env_vars::duration("MICRO_REGISTER_INTERVAL")? {
            options.register_interval = interval;
        }
        if let Some(timeout) = env_vars::duration("MICRO_BROKER_READ_TIMEOUT")? {
            options.read_timeout = timeout;
        }
        if let Some(n) = env_vars::number("MICRO_BROKER_MAX_CONNECTIONS")? {
            options.max_connections = (n as usize).max(1);
        }
        Ok(options)
    }
}

/// The HTTP broker. Clones share the server, subscriptions and publisher.
#[derive(Clone)]
pub struct HttpBroker {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<dyn Registry>,
    options: HttpBrokerOptions,
    inboxes: Inboxes,
    server: tokio::sync::Mutex<Option<Server>>,
    publisher: Mutex<Option<Arc<Publisher>>>,
    counters: Arc<Counters>,
    subscriptions: Mutex<HashMap<String, Registration>>,
}

struct Registration {
    record: registry::Service,
    heartbeat: JoinHandle<()>,
}

impl HttpBroker {
    /// The registry service whose nodes are the subscriptions of `topic`:
    /// a publisher that must not miss its first events waits for them with
    /// [`Client::wait_for`](crate::Client::wait_for).
    pub fn subscribers_service(topic: &str) -> String {
        service_name(topic)
    }

    /// A broker registering subscriptions in `registry`.
    pub fn new(registry: Arc<dyn Registry>, options: HttpBrokerOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                options,
                inboxes: Inboxes::default(),
                server: tokio::sync::Mutex::default(),
                publisher: Mutex::default(),
                counters: Arc::default(),
                subscriptions: Mutex::default(),
            }),
        }
    }

    /// Delivery counters.
    pub fn stats(&self) -> HttpBrokerStats {
        self.inner.counters.snapshot()
    }

    fn publisher(&self) -> Arc<Publisher> {
        let mut publisher = self.inner.publisher.lock().unwrap();
        publisher
            .get_or_insert_with(|| {
                Publisher::new(
                    RegistryCache::new(self.inner.registry.clone(), CacheOptions::default()),
                    self.inner.counters.clone(),
                    self.inner.options.retry_buffer,
                    self.inner.options.max_attempts,
                )
            })
            .clone()
    }

    /// The server's advertised address, starting it on first use.
    async fn serve(&self) -> Result<String> {
        let mut server = self.inner.server.lock().await;
        if server.is_none() {
            let broker = self.clone();
            let dead_letters: DeadLetters = Arc::new(move |topic, message, reason| {
                let broker = broker.clone();
                tokio::spawn(async move {
                    tracing::error!(
                        topic,
                        reason,
                        "message moved aside to the dead-letter topic"
                    );
                    if !topic.ends_with(".dead-letter") {
                        let _ = broker.publish(&dead_letter_topic(&topic), message).await;
                    }
                });
            });
            *server = Some(
                server::start(
                    &self.inner.options,
                    self.inner.inboxes.clone(),
                    dead_letters,
                )
                .await?,
            );
        }
        let local = &server.as_ref().expect("started above").local;
        Ok(match &self.inner.options.advertise {
            Some(advertise) => advertise.clone(),
            None => crate::transport::advertise_address(local),
        })
    }
}

struct HttpUnsubscribe {
    broker: HttpBroker,
    id: String,
}

#[async_trait::async_trait]
impl Unsubscribe for HttpUnsubscribe {
    async fn unsubscribe(&self) -> Result<()> {
        let inner = &self.broker.inner;
        inner.inboxes.lock().unwrap().remove(&self.id);
        let registration = inner.subscriptions.lock().unwrap().remove(&self.id);
        if let Some(registration) = registration {
            registration.heartbeat.abort();
            inner.registry.deregister(&registration.record).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Broker for HttpBroker {
    fn name(&self) -> &'static str {
        "http"
    }

    fn address(&self) -> String {
        self.inner.options.address.clone()
    }

    async fn connect(&self) -> Result<()> {
        Ok(())
    }

    async fn disconnect(&self) -> Result<()> {
        let ids: Vec<String> = self
            .inner
            .subscriptions
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for id in ids {
            HttpUnsubscribe {
                broker: self.clone(),
                id,
            }
            .unsubscribe()
            .await?;
        }
        *self.inner.server.lock().await = None;
        Ok(())
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<()> {
        self.publisher().publish(topic, &message).await
    }

    async fn subscribe(&self, topic: &str, options: SubscribeOptions) -> Result<Subscription> {
        if topic.is_empty() {
            return Err(crate::Error::bad_request("topic is empty"));
        }
        let address = self.serve().await?;
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let token = server::new_token()?;
        let (tx, rx) = mpsc::channel(options.concurrency.max(1) * 4);
        self.inner.inboxes.lock().unwrap().insert(
            id.clone(),
            Arc::new(Inbox {
                topic: topic.to_owned(),
                token: token.clone(),
                tx,
            }),
        );
        let mut metadata = BTreeMap::new();
        metadata.insert("broker".to_owned(), "http".to_owned());
        metadata.insert("topic".to_owned(), topic.to_owned());
        metadata.insert(server::TOKEN_METADATA.to_owned(), token);
        if let Some(queue) = &options.queue {
            metadata.insert("queue".to_owned(), queue.clone());
        }
        let record = registry::Service {
            name: service_name(topic),
            version: options
                .queue
                .clone()
                .unwrap_or_else(|| BROADCAST.to_owned()),
            nodes: vec![registry::Node {
                id: id.clone(),
                address,
                metadata,
            }],
            ..registry::Service::default()
        };
        let (ttl, interval) = (
            self.inner.options.register_ttl,
            self.inner.options.register_interval,
        );
        if let Err(err) = self.inner.registry.register(&record, ttl).await {
            self.inner.inboxes.lock().unwrap().remove(&id);
            return Err(err);
        }
        let heartbeat = tokio::spawn(crate::registry::keep_alive(
            self.inner.registry.clone(),
            record.clone(),
            ttl,
            interval,
        ));
        self.inner
            .subscriptions
            .lock()
            .unwrap()
            .insert(id.clone(), Registration { record, heartbeat });
        let handle = Arc::new(HttpUnsubscribe {
            broker: self.clone(),
            id,
        });
        Ok(Subscription::new(topic, options, rx, handle))
    }
}
