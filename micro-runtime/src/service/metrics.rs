//! A service's metrics (feature `metrics`): the wrappers installed
//! outermost, the client's reports, and `GET /metrics` served from start
//! to stop when an address is set.

use std::sync::Arc;

use super::hooks::Hooks;
use crate::broker::wrapper::SubscriberRequest;
use crate::chain::Wrapper;
use crate::client::Client;
use crate::client::wrapper::{ClientRequest, ClientResponse};
use crate::metrics::{Metrics, MetricsServer};
use crate::server::wrapper::{HandlerRequest, HandlerResponse};
use crate::{Result, env_vars};

/// What the builder was told about metrics.
#[derive(Default)]
pub(crate) struct MetricsSetup {
    pub(crate) metrics: Option<Metrics>,
    pub(crate) address: Option<String>,
    pub(crate) insecure: Option<bool>,
}

/// The wrappers a service puts first in each of its chains.
pub(crate) struct Wrappers<'a> {
    pub(crate) handler: &'a mut Vec<Arc<dyn Wrapper<HandlerRequest, HandlerResponse>>>,
    pub(crate) subscriber: &'a mut Vec<Arc<dyn Wrapper<SubscriberRequest, ()>>>,
    pub(crate) client: &'a mut Vec<Arc<dyn Wrapper<ClientRequest, ClientResponse>>>,
}

impl MetricsSetup {
    /// The metrics of the service, with `MICRO_METRICS_ADDRESS` and
    /// `MICRO_METRICS_INSECURE` for what the code left unset: `None` when
    /// neither a `Metrics` nor an address was given.
    ///
    /// With metrics, installs the wrappers (outermost, so what other
    /// wrappers refuse is counted too) and the hooks that serve
    /// `/metrics` while the service runs.
    pub(crate) fn install(
        self,
        wrappers: Wrappers<'_>,
        hooks: &mut Hooks,
    ) -> Result<Option<Metrics>> {
        let address = self
            .address
            .or_else(|| env_vars::string("MICRO_METRICS_ADDRESS"));
        let insecure = match self.insecure {
            Some(insecure) => insecure,
            None => env_vars::flag("MICRO_METRICS_INSECURE")?.unwrap_or(false),
        };
        if self.metrics.is_none() && address.is_none() {
            return Ok(None);
        }
        let metrics = self.metrics.unwrap_or_default();
        wrappers
            .handler
            .insert(0, Arc::new(metrics.handler_wrapper()));
        wrappers
            .subscriber
            .insert(0, Arc::new(metrics.subscriber_wrapper()));
        wrappers
            .client
            .insert(0, Arc::new(metrics.client_wrapper()));
        if let Some(address) = address {
            serve(&metrics, address, insecure, hooks);
        }
        Ok(Some(metrics))
    }
}

/// Serves `metrics` on `address` from before the service listens until
/// it has stopped.
fn serve(metrics: &Metrics, address: String, insecure: bool, hooks: &mut Hooks) {
    let server: Arc<tokio::sync::Mutex<Option<MetricsServer>>> = Arc::default();
    let (running, metrics) = (server.clone(), metrics.clone());
    hooks.before_start.push(move || {
        let (running, metrics, address) = (running.clone(), metrics.clone(), address.clone());
        async move {
            let mut running = running.lock().await;
            if running.is_none() {
                *running = Some(MetricsServer::bind(metrics, &address, insecure).await?);
            }
            Ok(())
        }
    });
    hooks.after_stop.push(move || {
        let server = server.clone();
        async move {
            if let Some(server) = server.lock().await.take() {
                server.shutdown().await;
            }
            Ok(())
        }
    });
}

/// Counts what the service's client reports (retries, ejections,
/// publishes, pools).
pub(crate) fn observe(metrics: Option<&Metrics>, client: &Client) {
    if let Some(metrics) = metrics {
        metrics.observe(client);
    }
}
