use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One version of a service as the registry knows it: its endpoints and the
/// nodes that run it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Service name, e.g. `com.example.srv.greeter`.
    pub name: String,
    /// Version, e.g. `1.0.0`.
    #[serde(default)]
    pub version: String,
    /// Free-form metadata of the service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The endpoints it serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// The nodes running it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Node>,
}

/// One running instance of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Unique id, `<service name>-<random>`.
    pub id: String,
    /// Where to reach it, `host:port`.
    pub address: String,
    /// Metadata: `transport`, `protocol`, `registry`, … and the user's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// An endpoint as advertised in the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `Greeter.Hello`.
    pub name: String,
    /// Request type, e.g. `greeter.v1.Request`.
    #[serde(default)]
    pub request: String,
    /// Response type.
    #[serde(default)]
    pub response: String,
    /// `stream` (`unary|server|client|bidi`), `idempotent`, `timeout_ms`,
    /// `description`; subscribers add `topic`, `subscriber`, `queue`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// What changed in a watched registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A service version appeared (with its first node).
    Create,
    /// Nodes were added or refreshed, or the service record changed.
    Update,
    /// The nodes listed left.
    Delete,
}

/// One registry change: the service version with the nodes concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub action: Action,
    /// The service version; `nodes` holds only the nodes the event is about.
    pub service: Service,
}
