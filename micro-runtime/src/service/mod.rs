//! The service: name, version, handlers; listen, register, serve, heartbeat,
//! and on SIGINT/SIGTERM deregister, drain and stop.

mod builder;
mod hooks;
#[cfg(feature = "metrics")]
mod metrics;
mod record;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

pub use builder::ServiceBuilder;
use hooks::Hooks;

use crate::broker::wrapper::SubscriberRequest;
use crate::broker::{Broker, RunningSubscription, Subscriber, start_subscription};
use crate::chain::Chain;
use crate::client::Client;
use crate::registry::{self, Registry, keep_alive};
use crate::server::wrapper::{HandlerRequest, HandlerResponse};
use crate::server::{Handler, IntoHandler, Router};
use crate::transport::{Listener, Transport, advertise_address};
use crate::{Error, Result};

/// Server-side settings of a service.
#[derive(Clone, Debug)]
pub(crate) struct ServerOptions {
    pub(crate) address: String,
    pub(crate) advertise: Option<String>,
    pub(crate) register_ttl: Duration,
    pub(crate) register_interval: Duration,
    pub(crate) grace: Duration,
}

/// A named, versioned service: its handlers, its client, its lifecycle.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> micro_runtime::Result<()> {
/// use micro_runtime::Service;
///
/// let service = Service::builder()
///     .name("com.example.srv.greeter")
///     .version("1.0.0")
///     .build()?;
/// // service.handle(Greeter)?;
/// service.run().await // until SIGINT or SIGTERM
/// # }
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    version: String,
    id: String,
    metadata: std::collections::BTreeMap<String, String>,
    node_metadata: std::collections::BTreeMap<String, String>,
    registry: Arc<dyn Registry>,
    transport: Arc<dyn Transport>,
    broker: Arc<dyn Broker>,
    client: Client,
    handler_wrappers: Chain<HandlerRequest, HandlerResponse>,
    subscriber_wrappers: Chain<SubscriberRequest, ()>,
    subscribers: Mutex<Vec<Subscriber>>,
    hooks: Hooks,
    options: ServerOptions,
    handlers: Mutex<Vec<Handler>>,
    running: tokio::sync::Mutex<Option<Running>>,
    /// Set while the service is starting or running: handlers and
    /// subscribers can no longer be added. Checked under the lock of the
    /// list it guards, and set before `start` copies the lists, so an
    /// addition either makes it into the copy or is refused.
    started: AtomicBool,
}

/// Clears the started flag when a start fails half-way.
struct StartingGuard<'a>(Option<&'a AtomicBool>);

impl StartingGuard<'_> {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for StartingGuard<'_> {
    fn drop(&mut self) {
        if let Some(flag) = self.0 {
            flag.store(false, Ordering::SeqCst);
        }
    }
}

struct Running {
    listener: Box<dyn Listener>,
    record: registry::Service,
    heartbeat: JoinHandle<()>,
    subscriptions: Vec<RunningSubscription>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.name)
            .field("version", &self.inner.version)
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A builder; `name` is required.
    pub fn builder() -> ServiceBuilder {
        ServiceBuilder::default()
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The version.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// This node's id: `<name>-<random>`.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// A client sharing this service's registry and transport.
    pub fn client(&self) -> Client {
        self.inner.client.clone()
    }

    /// The registry the service registers in.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.inner.registry
    }

    /// The broker its subscribers listen on and its client publishes to.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.inner.broker
    }

    /// Adds a subscriber; it starts with the service.
    ///
    /// # Errors
    ///
    /// 409 once the service has started.
    pub fn subscribe(&self, subscriber: Subscriber) -> Result<()> {
        let mut subscribers = self.inner.subscribers.lock().unwrap();
        if self.inner.started.load(Ordering::SeqCst) {
            return Err(Error::conflict(
                "subscribers must be added before the service starts",
            ));
        }
        subscribers.push(subscriber);
        Ok(())
    }

    /// Adds a handler (e.g. a `#[service]`-annotated implementation).
    ///
    /// # Errors
    ///
    /// 409 once the service has started, or when an endpoint name is taken.
    pub fn handle(&self, handler: impl IntoHandler) -> Result<()> {
        let handler = handler.into_handler();
        let mut handlers = self.inner.handlers.lock().unwrap();
        let taken = handlers
            .iter()
            .flat_map(|h| h.descriptors())
            .find(|d| handler.descriptors().any(|n| n.name == d.name));
        if let Some(taken) = taken {
            return Err(Error::conflict(format!(
                "endpoint {} is already handled",
                taken.name
            )));
        }
        if self.inner.started.load(Ordering::SeqCst) {
            return Err(Error::conflict(
                "handlers must be added before the service starts",
            ));
        }
        self.inner
            .subscribers
            .lock()
            .unwrap()
            .extend(handler.subscribers.iter().cloned());
        handlers.push(handler);
        Ok(())
    }

    /// The address the service listens on, once started.
    pub async fn address(&self) -> Option<String> {
        let running = self.inner.running.lock().await;
        running.as_ref().map(|r| r.record.nodes[0].address.clone())
    }

    /// The registry record this node registered, once started.
    pub async fn registration(&self) -> Option<registry::Service> {
        let running = self.inner.running.lock().await;
        running.as_ref().map(|r| r.record.clone())
    }

    /// Starts serving: listens, registers, heartbeats. Returns once the node
    /// is registered and serving.
    ///
    /// # Errors
    ///
    /// 409 when already started; the listener's or registry's error (the
    /// listener is closed again when registration fails).
    pub async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        let mut running = inner.running.lock().await;
        if running.is_some() {
            return Err(Error::conflict(format!(
                "{} is already running",
                inner.name
            )));
        }
        inner.started.store(true, Ordering::SeqCst);
        let starting = StartingGuard(Some(&inner.started));
        inner.hooks.before_start.run().await?;
        // Copied, not taken: a service stopped and started again serves the
        // same endpoints and subscribers.
        let handled: Vec<_> = inner
            .handlers
            .lock()
            .unwrap()
            .iter()
            .flat_map(|h| h.endpoints.iter().cloned())
            .collect();
        let subscribers = inner.subscribers.lock().unwrap().clone();
        let advertised: Vec<_> = handled
            .iter()
            .filter(|e| !e.internal)
            .map(|e| record::endpoint(&e.descriptor))
            .chain(subscribers.iter().map(Subscriber::endpoint))
            .collect();
        let description = crate::debug::describe(
            &inner.name,
            &inner.version,
            &inner.handlers.lock().unwrap(),
            &subscribers,
        );
        let endpoints = handled
            .into_iter()
            .chain(crate::debug::handler(description).endpoints);
        let router = Router::new(
            inner.name.clone(),
            endpoints,
            inner.handler_wrappers.clone(),
        )?;
        let listener = inner
            .transport
            .listen(&inner.options.address, Arc::new(router))
            .await?;
        let address = match &inner.options.advertise {
            Some(advertise) => advertise.clone(),
            None => advertise_address(&listener.local_address()),
        };
        let record = registry::Service {
            name: inner.name.to_string(),
            version: inner.version.clone(),
            metadata: inner.metadata.clone(),
            endpoints: advertised,
            nodes: vec![registry::Node {
                id: inner.id.clone(),
                address,
                metadata: {
                    let mut metadata = inner.node_metadata.clone();
                    metadata.extend(record::node_metadata(
                        inner.transport.name(),
                        inner.registry.name(),
                    ));
                    metadata.extend(record::security_metadata(listener.security()));
                    metadata
                },
            }],
        };
        let mut subscriptions = Vec::new();
        for subscriber in subscribers {
            let topic = subscriber.topic().to_owned();
            let chain = inner.subscriber_wrappers.clone();
            match start_subscription(&inner.broker, &inner.name, subscriber, chain).await {
                Ok(running) => subscriptions.push(running),
                Err(err) => {
                    for running in subscriptions {
                        running.stop(Duration::ZERO).await;
                    }
                    listener.shutdown(Duration::ZERO).await;
                    return Err(Error::new(
                        err.code(),
                        format!("subscribing to {topic}: {}", err.detail()),
                    ));
                }
            }
        }
        if let Err(err) = inner
            .registry
            .register(&record, inner.options.register_ttl)
            .await
        {
            for running in subscriptions {
                running.stop(Duration::ZERO).await;
            }
            listener.shutdown(Duration::ZERO).await;
            return Err(err);
        }
        let heartbeat = tokio::spawn(keep_alive(
            inner.registry.clone(),
            record.clone(),
            inner.options.register_ttl,
            inner.options.register_interval,
        ));
        tracing::info!(service = %inner.name, version = %inner.version, id = %inner.id,
            address = %record.nodes[0].address, registry = inner.registry.name(),
            transport = inner.transport.name(), "service started");
        *running = Some(Running {
            listener,
            record,
            heartbeat,
            subscriptions,
        });
        starting.keep();
        drop(running);
        inner.hooks.after_start.run().await
    }

    /// Stops gracefully: deregisters, stops accepting, lets calls in flight
    /// finish within the grace period, closes.
    ///
    /// # Errors
    ///
    /// The first error of a stop hook (the service is stopped regardless).
    pub async fn stop(&self) -> Result<()> {
        let inner = &self.inner;
        let before = inner.hooks.before_stop.run().await;
        let Some(running) = inner.running.lock().await.take() else {
            return before;
        };
        inner.started.store(false, Ordering::SeqCst);
        running.heartbeat.abort();
        if let Err(err) = inner.registry.deregister(&running.record).await {
            tracing::warn!(service = %inner.name, error = %err, "deregistering failed");
        }
        for subscription in running.subscriptions {
            subscription.stop(inner.options.grace).await;
        }
        running.listener.shutdown(inner.options.grace).await;
        crate::trace::flush().await;
        tracing::info!(service = %inner.name, id = %inner.id, "service stopped");
        let after = inner.hooks.after_stop.run().await;
        before.and(after)
    }

    /// Starts, serves until SIGINT or SIGTERM, then stops gracefully.
    ///
    /// # Errors
    ///
    /// As [`Service::start`] and [`Service::stop`].
    pub async fn run(&self) -> Result<()> {
        // Before registering: a signal from then on stops the service.
        let signal = shutdown_signal();
        self.start().await?;
        signal.await;
        tracing::info!(service = %self.inner.name, "shutdown signal received");
        self.stop().await
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when it is first awaited: call it before registering, so a
/// signal that arrives meanwhile stops the service instead of killing it.
///
/// # Panics
///
/// Outside a Tokio runtime, or when a handler cannot be installed.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
