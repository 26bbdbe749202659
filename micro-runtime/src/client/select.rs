//! Selection: which node an attempt goes to.

use std::sync::Arc;

use super::core::Core;
use super::wrapper::ClientRequest;
use crate::error::Origin;
use crate::selector::{NodeFilter, NodeInfo, ServiceNodes};
use crate::transport::PROTOCOLS_METADATA;
use crate::{Error, Result};

/// Where one attempt goes.
pub(super) struct Target {
    pub(super) address: Arc<str>,
    /// The node speaks gRPC only: call it over the gRPC transport.
    pub(super) grpc: bool,
    pub(super) node: Option<(Arc<NodeInfo>, Arc<ServiceNodes>)>,
}

impl Core {
    /// The node for the next attempt: the call's fixed address, or the
    /// selector's pick among the service's nodes, best first; then relaxing:
    /// ejected nodes, nodes already tried, and last, nodes that do not
    /// advertise the endpoint (they answer 404).
    pub(super) async fn select(&self, req: &ClientRequest, tried: &[Arc<str>]) -> Result<Target> {
        if let Some(address) = &req.options.address {
            return Ok(Target {
                address: address.as_str().into(),
                grpc: false,
                node: None,
            });
        }
        let nodes = self.cache.get(&req.service).await?;
        if nodes.nodes.is_empty() {
            return Err(no_node(&req.service, "no live node is registered"));
        }
        let filter = &req.options.filter;
        let endpoint = &*req.endpoint;
        let allowed = |n: &NodeInfo| filter.matches(n);
        let serving = |n: &NodeInfo| allowed(n) && n.serves(endpoint);
        let untried = |n: &NodeInfo| serving(n) && !tried.contains(&n.address);
        let healthy = |n: &NodeInfo| untried(n) && !n.stats.awaiting_probe();
        let passes: [&dyn Fn(&NodeInfo) -> bool; 4] = [&healthy, &untried, &serving, &allowed];
        for eligible in passes {
            if let Some(node) = self.selector.select(&nodes, eligible) {
                return Ok(Target {
                    address: node.address.clone(),
                    grpc: grpc_only(&node),
                    node: Some((node, nodes.clone())),
                });
            }
        }
        Err(no_node(&req.service, &format!("no node matches {filter}")))
    }
}

/// True when the node's `protocols` metadata (its own, else its service's)
/// lists `grpc` but not `micro`: a plain gRPC server. Nodes without it
/// (micro services, older ones too) speak the native protocol.
pub(super) fn grpc_only(node: &NodeInfo) -> bool {
    let Some(protocols) = node
        .node
        .metadata
        .get(PROTOCOLS_METADATA)
        .or_else(|| node.service.metadata.get(PROTOCOLS_METADATA))
    else {
        return false;
    };
    let mut listed = protocols.split(',').map(str::trim);
    let (mut micro, mut grpc) = (false, false);
    for protocol in &mut listed {
        micro |= protocol.eq_ignore_ascii_case("micro");
        grpc |= protocol.eq_ignore_ascii_case("grpc");
    }
    grpc && !micro
}

fn no_node(service: &str, why: &str) -> Error {
    Error::unavailable(format!("service {service}: {why}")).with_origin(Origin::NotSent)
}

impl NodeFilter {
    /// Adds a metadata requirement (builder style, for call options).
    pub(crate) fn require(&mut self, key: String, value: String) {
        self.metadata.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::registry::{Node, Service};

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
        assert!(grpc_only(&node(Some("grpc"))));
        assert!(grpc_only(&node(Some(" GRPC "))));
        assert!(!grpc_only(&node(Some("micro,grpc"))));
        assert!(!grpc_only(&node(Some("micro"))));
        assert!(!grpc_only(&node(None)));
    }
}
