use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};

use super::NodeStats;
use crate::registry::{Endpoint, Node, Service};
use crate::transport::{PROTOCOLS_METADATA, Security};

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
    /// It speaks gRPC only ([`grpc_only`]): the client calls it over gRPC.
    pub(crate) grpc_only: bool,
    /// What a client needs to reach it, from its `tls` and `mtls` metadata.
    pub(crate) security: Security,
}

impl NodeInfo {
    /// A node of `service` that no call has gone to yet: what a custom
    /// [`Selector`](super::Selector) is tested with.
    pub fn new(node: Node, service: Arc<Service>) -> Self {
        Self {
            address: node.address.as_str().into(),
            endpoints: Arc::new(service.endpoints.iter().map(|e| e.name.clone()).collect()),
            stats: Arc::default(),
            grpc_only: grpc_only(&node, &service),
            security: Security::of_node(&node.metadata),
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

/// True when the node's `protocols` metadata (its own, else its service's)
/// lists `grpc` but not `micro`: a plain gRPC server. Nodes without it
/// (micro services, older ones too) speak the native protocol.
pub(crate) fn grpc_only(node: &Node, service: &Service) -> bool {
    let Some(protocols) = node
        .metadata
        .get(PROTOCOLS_METADATA)
        .or_else(|| service.metadata.get(PROTOCOLS_METADATA))
    else {
        return false;
    };
    let (mut micro, mut grpc) = (false, false);
    for protocol in protocols.split(',').map(str::trim) {
        micro |= protocol.eq_ignore_ascii_case("micro");
        grpc |= protocol.eq_ignore_ascii_case("grpc");
    }
    grpc && !micro
}

#[cfg(test)]
mod grpc_only_tests {
    use std::collections::BTreeMap;

    use super::*;

    fn node(protocols: Option<&str>) -> NodeInfo {
        let mut metadata = BTreeMap::new();
        if let Some(protocols) = protocols {
            metadata.insert(PROTOCOLS_METADATA.to_owned(), protocols.to_owned());
        }
        let node = Node {
            id: "n".into(),
            address: "127.0.0.1:1".into(),
            metadata,
        };
        NodeInfo::new(node, Arc::new(Service::default()))
    }

    #[test]
    fn grpc_only_nodes_are_called_over_grpc() {
        assert!(node(Some("grpc")).grpc_only);
        assert!(node(Some(" GRPC ")).grpc_only);
        assert!(!node(Some("micro,grpc")).grpc_only);
        assert!(!node(Some("micro")).grpc_only);
        assert!(!node(None).grpc_only);
    }
}
