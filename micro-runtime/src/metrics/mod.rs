//! Prometheus metrics of services, clients and brokers (feature `metrics`).
//!
#![doc = include_str!("../../../docs/metrics.md")]

mod calls;
mod http;
mod labels;
mod observer;
mod topics;
mod wrappers;

use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Metric, Registry};

use self::calls::{CallSeries, Names};
pub use self::http::MetricsServer;
use self::labels::{EndpointLabels, ServiceLabels};
use self::observer::{Pools, Reports};
use self::topics::TopicSeries;
use self::wrappers::{ClientMetrics, ServerMetrics, SubscriberMetrics};
use crate::Client;
use crate::broker::wrapper::SubscriberWrapper;
use crate::client::wrapper::ClientWrapper;
use crate::server::wrapper::HandlerWrapper;

/// Upper bounds of micro's latency buckets, in seconds (100 µs to 10 s),
/// for series of one's own measured like micro's.
pub const LATENCY_BUCKETS: [f64; 16] = calls::BUCKETS;

/// The content type of [`Metrics::encode`]'s text (OpenMetrics 1.0,
/// which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A set of series and what feeds them: wrappers for a service's handlers,
/// calls and subscribers, and a client's own reports. Cheap to clone;
/// clones share the series. No global state: each `Metrics` has its own
/// registry.
///
/// A [`Service`](crate::Service) sets one up by itself when
/// `MICRO_METRICS_ADDRESS` is set or [`ServiceBuilder::metrics`](crate::ServiceBuilder::metrics)
/// gives one.
///
/// # Examples
///
/// ```
/// use micro_runtime::metrics::Metrics;
///
/// let metrics = Metrics::new();
/// // Service::builder().metrics(metrics.clone()) ... or, for a bare client:
/// // let client = metrics.instrument(&client);
/// assert!(metrics.encode().contains("micro_client_pool_connections 0"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
}

/// The series, shared by the wrappers and the client reports.
pub(crate) struct Shared {
    registry: Mutex<Registry>,
    server: Arc<CallSeries>,
    client: Arc<CallSeries>,
    retries: Family<EndpointLabels, Counter>,
    ejections: Family<ServiceLabels, Counter>,
    topics: TopicSeries,
    pools: Arc<Pools>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Empty series, registered in a registry of their own.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let server = CallSeries::register(
            &mut registry,
            &Names {
                total: "micro_server_requests",
                total_help: "Requests handled, by service, endpoint and code (200, or the error's code)",
                duration: "micro_server_request_duration_seconds",
                duration_help: "Time to handle a request, by service and endpoint",
                in_flight: "micro_server_requests_in_flight",
                in_flight_help: "Requests being handled now, by service and endpoint",
            },
        );
        let client = CallSeries::register(
            &mut registry,
            &Names {
                total: "micro_client_calls",
                total_help: "Calls made, by service, endpoint and code (200, or the error's code), retries included",
                duration: "micro_client_call_duration_seconds",
                duration_help: "Time a call took, retries included, by service and endpoint",
                in_flight: "micro_client_calls_in_flight",
                in_flight_help: "Calls waiting for their answer now, by service and endpoint",
            },
        );
        let retries = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "micro_client_retries",
            "Attempts of a call tried again after a failure, by service and endpoint",
            retries.clone(),
        );
        let ejections = Family::<ServiceLabels, Counter>::default();
        registry.register(
            "micro_client_ejections",
            "Nodes taken out of rotation by outlier ejection, by service",
            ejections.clone(),
        );
        let topics = TopicSeries::register(&mut registry);
        let pools = Arc::new(Pools::default());
        registry.register_collector(Box::new(pools.clone()));
        Self {
            shared: Arc::new(Shared {
                registry: Mutex::new(registry),
                server: Arc::new(server),
                client: Arc::new(client),
                retries,
                ejections,
                topics,
                pools,
            }),
        }
    }

    /// A handler wrapper feeding `micro_server_*`.
    pub fn handler_wrapper(&self) -> impl HandlerWrapper {
        ServerMetrics(self.shared.clone())
    }

    /// A subscriber wrapper feeding `micro_broker_delivered_total` and
    /// `micro_broker_dead_lettered_total`.
    pub fn subscriber_wrapper(&self) -> impl SubscriberWrapper {
        SubscriberMetrics(self.shared.clone())
    }

    /// A client wrapper feeding `micro_client_calls_*` (calls only: use
    /// [`Metrics::instrument`] for retries, ejections, publishes and pools).
    pub fn client_wrapper(&self) -> impl ClientWrapper {
        ClientMetrics(self.shared.clone())
    }

    /// `client` with its calls, retries, ejected nodes, publishes and pool
    /// connections counted here. The reports go to the first `Metrics` that
    /// instruments a client or any of its clones.
    pub fn instrument(&self, client: &Client) -> Client {
        self.observe(client);
        client.with_wrapper(self.client_wrapper())
    }

    /// Counts what `client`'s machinery reports (not its calls: those are
    /// the wrapper's).
    pub(crate) fn observe(&self, client: &Client) {
        let core = client.core();
        if core.observe(Arc::new(Reports(self.shared.clone()))) {
            self.shared.pools.add(core);
        }
    }

    /// Adds a series of the caller's own (e.g. the gateway's HTTP
    /// requests), encoded with the rest.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.shared
            .registry
            .lock()
            .unwrap()
            .register(name, help, metric);
    }

    /// Every series as OpenMetrics text ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let registry = self.shared.registry.lock().unwrap();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}
