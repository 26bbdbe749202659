//! The services list: every service with its versions, nodes, health and
//! endpoint and subscription counts, from the registry and `Debug.Health`.

use std::collections::BTreeMap;

use micro_runtime::registry::{Endpoint, Service};
use micro_runtime::{Client, Result};
use serde::Serialize;

use super::health::HealthCache;

/// One row of the services list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceRow {
    pub(crate) name: String,
    /// Sorted.
    pub(crate) versions: Vec<String>,
    pub(crate) nodes: usize,
    /// How many nodes answered `Debug.Health` with `ok`.
    pub(crate) healthy: usize,
    pub(crate) endpoints: usize,
    pub(crate) subscriptions: usize,
}

impl ServiceRow {
    /// `ok` (every node healthy), `down` (none), `partial`: the colour of
    /// its health dot.
    pub(crate) fn state(&self) -> &'static str {
        health_state(self.healthy, self.nodes)
    }
}

/// `ok`, `partial` or `down` for `healthy` of `nodes`.
pub(crate) fn health_state(healthy: usize, nodes: usize) -> &'static str {
    if nodes > 0 && healthy == nodes {
        "ok"
    } else if healthy > 0 {
        "partial"
    } else {
        "down"
    }
}

/// True for the registry form of a subscriber (`subscriber` metadata).
pub(crate) fn is_subscription(endpoint: &Endpoint) -> bool {
    endpoint.metadata.contains_key("subscriber")
}

/// True for the registration of a broker's subscription (the HTTP broker
/// registers each subscriber's inbox, `broker` in its nodes' metadata):
/// not a service anyone calls.
fn is_broker_inbox(version: &Service) -> bool {
    !version.nodes.is_empty()
        && version
            .nodes
            .iter()
            .all(|n| n.metadata.contains_key("broker"))
}

/// Every registered service with at least one node, by name.
///
/// # Errors
///
/// The registry's error when it cannot be listed.
pub(crate) async fn rows(client: &Client, health: &HealthCache) -> Result<Vec<ServiceRow>> {
    let mut by_name: BTreeMap<String, Vec<Service>> = BTreeMap::new();
    for version in client.services().await? {
        if is_broker_inbox(&version) {
            continue;
        }
        by_name
            .entry(version.name.clone())
            .or_default()
            .push(version);
    }
    let mut rows = Vec::with_capacity(by_name.len());
    for (name, versions) in by_name {
        let addresses: Vec<String> = versions
            .iter()
            .flat_map(|v| v.nodes.iter().map(|n| n.address.clone()))
            .collect();
        if addresses.is_empty() {
            continue;
        }
        let checks = health.check_all(client, &name, &addresses).await;
        let mut endpoints = BTreeMap::new();
        for endpoint in versions.iter().flat_map(|v| &v.endpoints) {
            endpoints.insert(endpoint.name.as_str(), is_subscription(endpoint));
        }
        let mut names: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
        names.sort();
        names.dedup();
        rows.push(ServiceRow {
            versions: names,
            nodes: addresses.len(),
            healthy: checks.iter().filter(|c| c.healthy).count(),
            endpoints: endpoints.values().filter(|s| !**s).count(),
            subscriptions: endpoints.values().filter(|s| **s).count(),
            name,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_states() {
        assert_eq!(health_state(2, 2), "ok");
        assert_eq!(health_state(1, 2), "partial");
        assert_eq!(health_state(0, 2), "down");
        assert_eq!(health_state(0, 0), "down");
    }
}
