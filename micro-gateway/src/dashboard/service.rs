//! One service for its page: nodes with their health, and endpoints and
//! subscriptions with their schemas (from `Debug.Describe`; the registry's
//! names and kinds alone for a service that does not describe itself).

use std::collections::BTreeMap;

use micro_runtime::debug::Describer;
use micro_runtime::endpoint::CallKind;
use micro_runtime::registry::Service;
use micro_runtime::{Client, Error, Result};
use serde::Serialize;
use serde_json::Value;

use super::health::{HealthCache, NodeHealth};
use super::listing::{health_state, is_subscription};

/// A node as its page shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeView {
    pub(crate) id: String,
    pub(crate) address: String,
    pub(crate) version: String,
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) health: NodeHealth,
}

/// An endpoint: how to call it and its messages' JSON Schemas.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointView {
    pub(crate) name: String,
    /// `unary`, `server`, `client` or `bidi`.
    pub(crate) kind: String,
    pub(crate) docs: String,
    pub(crate) request_type: String,
    pub(crate) response_type: String,
    pub(crate) request_schema: Value,
    pub(crate) response_schema: Value,
}

/// A topic the service listens to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionView {
    pub(crate) topic: String,
    pub(crate) queue: String,
    pub(crate) message_type: String,
    pub(crate) schema: Value,
}

/// Everything the service page shows.
#[derive(Debug, Clone)]
pub(crate) struct ServiceView {
    pub(crate) name: String,
    pub(crate) versions: Vec<String>,
    pub(crate) nodes: Vec<NodeView>,
    pub(crate) endpoints: Vec<EndpointView>,
    pub(crate) subscriptions: Vec<SubscriptionView>,
    /// Set when a node registers as a web app (`web` metadata): the
    /// gateway proxies it at `/web/{service}/`.
    pub(crate) web_app: bool,
    /// Why the schemas are missing, when `Debug.Describe` failed.
    pub(crate) describe_error: Option<String>,
}

impl ServiceView {
    /// How many nodes are healthy.
    pub(crate) fn healthy(&self) -> usize {
        self.nodes.iter().filter(|n| n.health.healthy).count()
    }

    /// `ok`, `partial` or `down`: the colour of its health dot.
    pub(crate) fn state(&self) -> &'static str {
        health_state(self.healthy(), self.nodes.len())
    }
}

/// The service `name` now.
///
/// # Errors
///
/// 404 when it has no running node; the registry's error.
pub(crate) async fn view(
    client: &Client,
    describer: &Describer,
    health: &HealthCache,
    name: &str,
) -> Result<ServiceView> {
    let mut versions: Vec<Service> = client.registry().get_service(name).await?;
    versions.retain(|v| !v.nodes.is_empty());
    if versions.is_empty() {
        return Err(Error::not_found(format!(
            "service {name:?} has no running nodes"
        )));
    }
    versions.sort_by(|a, b| b.version.cmp(&a.version));
    let mut nodes = Vec::new();
    for version in &versions {
        let addresses: Vec<String> = version.nodes.iter().map(|n| n.address.clone()).collect();
        let checks = health.check_all(client, name, &addresses).await;
        for (node, health) in version.nodes.iter().zip(checks) {
            nodes.push(NodeView {
                id: node.id.clone(),
                address: node.address.clone(),
                version: version.version.clone(),
                metadata: node
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                health,
            });
        }
    }
    let (endpoints, subscriptions, describe_error) = match describer.describe(name).await {
        Ok(described) => {
            // Newest version first: its form of an endpoint wins.
            let mut endpoints = BTreeMap::new();
            let mut subscriptions = BTreeMap::new();
            for description in described.iter().rev() {
                for e in &description.endpoints {
                    endpoints
                        .entry(e.name.clone())
                        .or_insert_with(|| EndpointView {
                            name: e.name.clone(),
                            kind: e.kind.clone(),
                            docs: e.docs.clone(),
                            request_type: e.request_type.clone(),
                            response_type: e.response_type.clone(),
                            request_schema: json(&e.request_schema),
                            response_schema: json(&e.response_schema),
                        });
                }
                for s in &description.subscriptions {
                    subscriptions
                        .entry((s.topic.clone(), s.queue.clone()))
                        .or_insert_with(|| SubscriptionView {
                            topic: s.topic.clone(),
                            queue: s.queue.clone().unwrap_or_default(),
                            message_type: s.message_type.clone(),
                            schema: s.schema.as_deref().map(json).unwrap_or(Value::Null),
                        });
                }
            }
            (
                endpoints.into_values().collect(),
                subscriptions.into_values().collect(),
                None,
            )
        }
        Err(error) => {
            let (endpoints, subscriptions) = from_registry(&versions);
            (endpoints, subscriptions, Some(error.to_string()))
        }
    };
    let mut names: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
    names.sort();
    names.dedup();
    Ok(ServiceView {
        name: name.to_owned(),
        versions: names,
        web_app: versions
            .iter()
            .flat_map(|v| &v.nodes)
            .any(|n| n.metadata.get("web").is_some_and(|w| w == "true")),
        nodes,
        endpoints,
        subscriptions,
        describe_error,
    })
}

/// Endpoints and subscriptions as the registry lists them (no schemas).
fn from_registry(versions: &[Service]) -> (Vec<EndpointView>, Vec<SubscriptionView>) {
    let mut endpoints = BTreeMap::new();
    let mut subscriptions = BTreeMap::new();
    for endpoint in versions.iter().flat_map(|v| &v.endpoints) {
        let meta = |key: &str| endpoint.metadata.get(key).cloned().unwrap_or_default();
        if is_subscription(endpoint) {
            subscriptions
                .entry(endpoint.name.clone())
                .or_insert_with(|| SubscriptionView {
                    topic: meta("topic"),
                    queue: meta("queue"),
                    message_type: endpoint.request.clone(),
                    schema: Value::Null,
                });
        } else {
            let kind = CallKind::parse(&meta("stream")).unwrap_or(CallKind::Unary);
            endpoints
                .entry(endpoint.name.clone())
                .or_insert_with(|| EndpointView {
                    name: endpoint.name.clone(),
                    kind: kind.as_str().to_owned(),
                    docs: meta("description"),
                    request_type: endpoint.request.clone(),
                    response_type: endpoint.response.clone(),
                    request_schema: Value::Null,
                    response_schema: Value::Null,
                });
        }
    }
    (
        endpoints.into_values().collect(),
        subscriptions.into_values().collect(),
    )
}

/// JSON text as a value (`null` when it does not parse).
fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}
