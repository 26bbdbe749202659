use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::hooks::Hooks;
use super::{Inner, ServerOptions, Service};
use crate::broker::Broker;
use crate::broker::wrapper::{SubscriberRequest, SubscriberWrapper};
use crate::chain::{Chain, Wrapper};
use crate::client::wrapper::{ClientRequest, ClientResponse, ClientWrapper};
use crate::client::{Client, ClientOptions};
use crate::registry::Registry;
use crate::selector::Selector;
use crate::server::wrapper::{HandlerRequest, HandlerResponse, HandlerWrapper};
use crate::transport::Transport;
use crate::{Error, Result, defaults, env_vars, trace};

/// Builds a [`Service`].
///
/// Every option set here wins; options left unset come from the
/// environment (`MICRO_REGISTRY`, `MICRO_TRANSPORT`, `MICRO_SELECTOR`,
/// `MICRO_SERVER_ADDRESS`, `MICRO_SERVER_ADVERTISE`, `MICRO_REGISTER_TTL`,
/// `MICRO_REGISTER_INTERVAL`, `MICRO_SERVER_GRACE`, `MICRO_CLIENT_*`), then
/// from the defaults: mDNS registry, TCP transport, an ephemeral port,
/// TTL 60 s re-registered every 30 s. Wrappers the environment turns on
/// (auth, rate and concurrency limits, the client's token and circuit
/// breaker: see [`defaults::handler_wrappers_from_env`] and
/// [`defaults::client_wrappers_from_env`]) run outside the code's own.
#[derive(Default)]
pub struct ServiceBuilder {
    name: Option<String>,
    version: Option<String>,
    metadata: BTreeMap<String, String>,
    node_metadata: BTreeMap<String, String>,
    address: Option<String>,
    advertise: Option<String>,
    register_ttl: Option<Duration>,
    register_interval: Option<Duration>,
    grace: Option<Duration>,
    registry: Option<Arc<dyn Registry>>,
    transport: Option<Arc<dyn Transport>>,
    selector: Option<Arc<dyn Selector>>,
    broker: Option<Arc<dyn Broker>>,
    client_options: Option<ClientOptions>,
    handler_wrappers: Vec<Arc<dyn Wrapper<HandlerRequest, HandlerResponse>>>,
    subscriber_wrappers: Vec<Arc<dyn Wrapper<SubscriberRequest, ()>>>,
    client_wrappers: Vec<Arc<dyn Wrapper<ClientRequest, ClientResponse>>>,
    trace: Option<bool>,
    hooks: Hooks,
    #[cfg(feature = "metrics")]
    metrics: super::metrics::MetricsSetup,
}

impl ServiceBuilder {
    /// The service name, e.g. `com.example.srv.greeter` (required).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The version (default `latest`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Adds service metadata, advertised in the registry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds metadata of this node (not of the whole service version), e.g.
    /// its zone; clients can select on it (`CallOptions::node_metadata`).
    /// Also from `MICRO_SERVER_METADATA=key=value,key=value`.
    pub fn node_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.node_metadata.insert(key.into(), value.into());
        self
    }

    /// Address to listen on (`MICRO_SERVER_ADDRESS`, default `0.0.0.0:0`).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Address to advertise instead of the listening one (`MICRO_SERVER_ADVERTISE`).
    pub fn advertise(mut self, address: impl Into<String>) -> Self {
        self.advertise = Some(address.into());
        self
    }

    /// How long a registration lives without renewal (`MICRO_REGISTER_TTL`, default 60 s).
    pub fn register_ttl(mut self, ttl: Duration) -> Self {
        self.register_ttl = Some(ttl);
        self
    }

    /// How often to renew it (`MICRO_REGISTER_INTERVAL`, default 30 s).
    pub fn register_interval(mut self, interval: Duration) -> Self {
        self.register_interval = Some(interval);
        self
    }

    /// How long calls in flight may take to finish on shutdown
    /// (`MICRO_SERVER_GRACE`, default 10 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The registry (`MICRO_REGISTRY=mdns|memory|etcd`).
    pub fn registry(mut self, registry: Arc<dyn Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The transport (`MICRO_TRANSPORT=tcp|memory`).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The broker for pub/sub (`MICRO_BROKER=http|memory|nats|rabbitmq|kafka`).
    pub fn broker(mut self, broker: Arc<dyn Broker>) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Wraps every message the service's subscribers handle.
    pub fn wrap_subscriber(mut self, wrapper: impl SubscriberWrapper) -> Self {
        self.subscriber_wrappers.push(Arc::new(wrapper));
        self
    }

    /// The client's selection strategy (`MICRO_SELECTOR`).
    pub fn selector(mut self, selector: Arc<dyn Selector>) -> Self {
        self.selector = Some(selector);
        self
    }

    /// The client's defaults (else from `MICRO_CLIENT_*`).
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.client_options = Some(options);
        self
    }

    /// Wraps every request the service handles (first added is outermost).
    pub fn wrap_handler(mut self, wrapper: impl HandlerWrapper) -> Self {
        self.handler_wrappers.push(Arc::new(wrapper));
        self
    }

    /// Wraps every call the service's client makes.
    pub fn wrap_client(mut self, wrapper: impl ClientWrapper) -> Self {
        self.client_wrappers.push(Arc::new(wrapper));
        self
    }

    /// Whether calls, deliveries and publishes run in spans that propagate
    /// the W3C trace context ([`trace`](crate::trace); `MICRO_TRACE`,
    /// default on). The trace wrappers are outermost.
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = Some(on);
        self
    }

    /// Counts the service's requests, calls and events in `metrics`
    /// (feature `metrics`; see [`crate::metrics`]). Without it, metrics
    /// are on when an address to serve them is set.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics.metrics = Some(metrics);
        self
    }

    /// Serves the metrics at `GET /metrics` on `address` while the service
    /// runs (`MICRO_METRICS_ADDRESS`; loopback only unless
    /// [`metrics_insecure`](Self::metrics_insecure)).
    #[cfg(feature = "metrics")]
    pub fn metrics_address(mut self, address: impl Into<String>) -> Self {
        self.metrics.address = Some(address.into());
        self
    }

    /// Allows serving metrics beyond loopback, unauthenticated
    /// (`MICRO_METRICS_INSECURE=1`).
    #[cfg(feature = "metrics")]
    pub fn metrics_insecure(mut self, insecure: bool) -> Self {
        self.metrics.insecure = Some(insecure);
        self
    }

    /// Runs before the service listens; an error aborts the start.
    pub fn before_start<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.hooks.before_start.push(hook);
        self
    }

    /// Runs once the service is registered and serving.
    pub fn after_start<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.hooks.after_start.push(hook);
        self
    }

    /// Runs when stopping, before deregistering.
    pub fn before_stop<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.hooks.before_stop.push(hook);
        self
    }

    /// Runs once the service has stopped.
    pub fn after_stop<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.hooks.after_stop.push(hook);
        self
    }

    /// Builds the service. Must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// 400 when the name is missing or an environment variable does not parse;
    /// the registry's error when it cannot be set up.
    #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
    pub fn build(mut self) -> Result<Service> {
        // Wrappers the environment turns on (auth, limits, the bearer
        // token, the breaker) run outside the code's own, inside metrics
        // and tracing (which are inserted in front below).
        self.handler_wrappers
            .splice(0..0, defaults::handler_wrappers_from_env()?);
        self.client_wrappers
            .splice(0..0, defaults::client_wrappers_from_env()?);
        #[cfg(feature = "metrics")]
        let metrics = std::mem::take(&mut self.metrics).install(
            super::metrics::Wrappers {
                handler: &mut self.handler_wrappers,
                subscriber: &mut self.subscriber_wrappers,
                client: &mut self.client_wrappers,
            },
            &mut self.hooks,
        )?;
        let name = self
            .name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| Error::bad_request("a service needs a name"))?;
        let version = self.version.unwrap_or_else(|| "latest".to_owned());
        let registry = match self.registry {
            Some(registry) => registry,
            None => defaults::registry_from_env()?,
        };
        let transport = match self.transport {
            Some(transport) => transport,
            None => defaults::transport_from_env()?,
        };
        let selector = match self.selector {
            Some(selector) => selector,
            None => defaults::selector_from_env()?,
        };
        let mut client_options = match self.client_options {
            Some(options) => options,
            None => ClientOptions::from_env()?,
        };
        client_options.id = name.clone();
        let broker = match self.broker {
            Some(broker) => broker,
            None => defaults::broker_from_env(registry.clone())?,
        };
        let mut client = Client::builder()
            .registry(registry.clone())
            .transport(transport.clone())
            .broker(broker.clone())
            .selector(selector)
            .options(client_options);
        let traced = match self.trace {
            Some(on) => on,
            None => trace::enabled_from_env()?,
        };
        if traced {
            trace::name_service(&name);
            client = trace::instrument(client);
            self.handler_wrappers
                .insert(0, Arc::new(trace::TraceHandler));
            self.subscriber_wrappers
                .insert(0, Arc::new(trace::TraceSubscriber));
        }
        for wrapper in self.client_wrappers {
            client = client.wrap_shared(wrapper);
        }
        let register_ttl = self
            .register_ttl
            .or(env_vars::duration("MICRO_REGISTER_TTL")?)
            .unwrap_or(Duration::from_secs(60));
        let register_interval = self
            .register_interval
            .or(env_vars::duration("MICRO_REGISTER_INTERVAL")?)
            .unwrap_or(Duration::from_secs(30));
        if register_interval >= register_ttl {
            tracing::warn!(
                ?register_interval,
                ?register_ttl,
                "register interval is not shorter than the TTL: the registration may lapse"
            );
        }
        let options = ServerOptions {
            address: self
                .address
                .or_else(|| env_vars::string("MICRO_SERVER_ADDRESS"))
                .unwrap_or_else(|| "0.0.0.0:0".to_owned()),
            advertise: self
                .advertise
                .or_else(|| env_vars::string("MICRO_SERVER_ADVERTISE")),
            register_ttl,
            register_interval,
            grace: self
                .grace
                .or(env_vars::duration("MICRO_SERVER_GRACE")?)
                .unwrap_or(Duration::from_secs(10)),
        };
        let id = format!(
            "{name}-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let client = client.build()?;
        #[cfg(feature = "metrics")]
        super::metrics::observe(metrics.as_ref(), &client);
        let mut node_metadata = env_vars::pairs("MICRO_SERVER_METADATA")?;
        node_metadata.extend(self.node_metadata);
        Ok(Service {
            inner: Arc::new(Inner {
                name: name.into(),
                version,
                id,
                metadata: self.metadata,
                node_metadata,
                registry,
                transport,
                broker,
                client,
                handler_wrappers: Chain::new(self.handler_wrappers),
                subscriber_wrappers: Chain::new(self.subscriber_wrappers),
                subscribers: Mutex::default(),
                hooks: self.hooks,
                options,
                handlers: Mutex::default(),
                running: tokio::sync::Mutex::default(),
                started: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}
