//! What tools ask of discovery through a client: the services that run,
//! their nodes as this client sees them, the kind of an endpoint, waiting
//! for nodes to appear, and registry changes as a stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::Client;
use crate::endpoint::CallKind;
use crate::registry::{self, Registry, Watcher};
use crate::selector::NodeInfo;
use crate::{Error, Result};

/// How often [`Client::wait_for`] looks again while no registry change
/// arrives: the client's cache applies a change a moment after the
/// registry reports it.
const RECHECK: Duration = Duration::from_millis(25);

impl Client {
    /// The registry this client discovers nodes in.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        self.core.cache.registry()
    }

    /// Every version of every registered service, with its nodes and
    /// endpoints, sorted by name and version. Asks the registry (not the
    /// cache), so it is fresh; a service that leaves meanwhile is omitted.
    ///
    /// # Errors
    ///
    /// The registry's error when it cannot be reached.
    pub async fn services(&self) -> Result<Vec<registry::Service>> {
        let registry = self.registry();
        let mut names: Vec<String> = registry
            .list_services()
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        names.sort();
        names.dedup();
        let found = join_all(names.iter().map(|name| registry.get_service(name))).await;
        let mut services = Vec::new();
        for result in found {
            match result {
                Ok(versions) => services.extend(versions),
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
        }
        services.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        Ok(services)
    }

    /// The nodes of `service` as this client sees them: registration and
    /// what calls have taught it ([`NodeInfo::stats`]: load, latency,
    /// ejection).
    ///
    /// # Errors
    ///
    /// 404 when no node of it is registered; the registry's error when it
    /// cannot be reached and nothing is cached.
    pub async fn nodes(&self, service: &str) -> Result<Vec<Arc<NodeInfo>>> {
        Ok(self.core.cache.get(service).await?.nodes.clone())
    }

    /// Waits until this client knows at least `nodes` nodes of `service`
    /// (a test, a script or a tool waiting for what it will call), and
    /// returns how many it knows.
    ///
    /// # Errors
    ///
    /// 408 naming how many were found when `timeout` passes first; the
    /// registry's error when it cannot be watched.
    pub async fn wait_for(&self, service: &str, nodes: usize, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.registry().watch(Some(service)).await?;
        loop {
            let known = match self.core.cache.get(service).await {
                Ok(snapshot) => snapshot.nodes.len(),
                Err(err) if err.is_not_found() => 0,
                Err(err) => return Err(err),
            };
            if known >= nodes {
                return Ok(known);
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(format!(
                    "service {service}: {known} of {nodes} nodes after {timeout:?}"
                )));
            }
            let wake = (Instant::now() + RECHECK).min(deadline);
            // A change may make the cache's next answer different; so may
            // time, while the cache applies it.
            let _ = tokio::time::timeout_at(wake.into(), changes.next()).await;
        }
    }

    /// The full name of the registered service `wanted` names: the exact
    /// name or a unique suffix (`greeter` for `com.example.srv.greeter`), as
    /// [`resolve::service`](super::resolve::service) decides.
    ///
    /// # Errors
    ///
    /// 404 with close names; 400 naming the candidates when ambiguous; the
    /// registry's error when it cannot be reached.
    pub async fn resolve_service(&self, wanted: &str) -> Result<String> {
        let mut names: Vec<String> = self.services().await?.into_iter().map(|s| s.name).collect();
        names.dedup();
        super::resolve::service(wanted, &names).map(str::to_owned)
    }

    /// Changes in the registry from now on, of one service or (with
    /// `None`) of all, as a [`Watcher`] (also a `Stream`).
    ///
    /// # Errors
    ///
    /// The registry's error when it cannot be watched.
    pub async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        self.registry().watch(service).await
    }

    /// The kind of `endpoint` of `service`, as its nodes advertise it: what
    /// a tool needs to call an endpoint it knows only by name
    /// ([`Client::call_raw`] for unary, [`Client::stream_raw`] otherwise).
    ///
    /// # Errors
    ///
    /// 404 when no node of the service advertises the endpoint.
    pub async fn call_kind(&self, service: &str, endpoint: &str) -> Result<CallKind> {
        let nodes = self.core.cache.get(service).await?;
        nodes
            .nodes
            .iter()
            .find_map(|node| node.endpoint(endpoint))
            .map(|e| {
                e.metadata
                    .get("stream")
                    .and_then(|kind| CallKind::parse(kind))
                    .unwrap_or(CallKind::Unary)
            })
            .ok_or_else(|| {
                Error::not_found(format!(
                    "endpoint {endpoint} not found on service {service}"
                ))
            })
    }
}
