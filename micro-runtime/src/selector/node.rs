use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};

use super::NodeStats;
use crate::registry::{Endpoint, Node, Service};

/// Node statistics by node id, kept as long as some snapshot lists the node.
#[derive(Default)]
pub(crate) struct StatsTable {
    by_id: Mutex<HashMap<String, Weak<NodeStats>>>,
}

impl StatsTable {
    pub(crate) fn get(&self, id: &str) -> Arc<NodeStats> {
        let mut by_id = self.by_id.lock().unwrap();
        if let Some(stats) = by_id.get(id).and_then(Weak::upgrade) {
            return stats;
        }
        if by_id.len() >= 64 && by_id.len().is_power_of_two() {
            by_id.retain(|_, w| w.strong_count() > 0);
        }
        let stats = Arc::new(NodeStats::default());
        by_id.insert(id.to_owned(), Arc::downgrade(&stats));
        stats
    }
}

/// One node as the client sees it: its registration, the service version
/// record it belongs to, and its live statistics.
#[derive(Debug)]
pub struct NodeInfo {
    /// The registered node.
    pub node: Node,
    /// Its address, shared with the connection pool.
    pub address: Arc<str>,
    /// The service version it runs (without the node list).
    pub service: Arc<Service>,
    /// Names of the endpoints that version advertises (empty: not advertised).
    pub endpoints: Arc<HashSet<String>>,
    /// Live statistics, shared by every snapshot that lists the node.
    pub(crate) stats: Arc<NodeStats>,
}

impl NodeInfo {
    /// A node of `service` that no call has gone to yet: what a custom
    /// [`Selector`](super::Selector) is tested with.
    pub fn new(node: Node, service: Arc<Service>) -> Self {
        Self {
            address: node.address.as_str().into(),
            endpoints: Arc::new(service.endpoints.iter().map(|e| e.name.clone()).collect()),
            stats: Arc::default(),
            node,
            service,
        }
    }

    /// What this client has seen of the node: calls in flight, latency,
    /// failures, ejection.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The advertised endpoint called `name`, if the node serves it.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.service.endpoints.iter().find(|e| e.name == name)
    }

    /// False only when the node advertises its endpoints and `name` is not
    /// among them (an old version during a rolling deploy, say).
    pub fn serves(&self, name: &str) -> bool {
        self.endpoints.is_empty() || self.endpoints.contains(name)
    }
}

/// A consistent view of one service's nodes, across versions.
#[derive(Debug)]
pub struct ServiceNodes {
    /// The service name.
    pub name: Arc<str>,
    /// Every live node of every version.
    pub nodes: Vec<Arc<NodeInfo>>,
    /// Position for round robin, shared across snapshots of the service so
    /// rotation continues across requests and registry changes.
    pub(crate) cursor: Arc<AtomicUsize>,
}

impl ServiceNodes {
    /// A snapshot without nodes.
    pub fn empty(name: Arc<str>) -> Self {
        Self::new(name, Vec::new())
    }

    /// A snapshot of `nodes`.
    pub fn new(name: Arc<str>, nodes: Vec<Arc<NodeInfo>>) -> Self {
        Self {
            name,
            nodes,
            cursor: Arc::default(),
        }
    }
}
