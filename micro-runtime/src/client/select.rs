//! Selection: which node an attempt goes to.

use std::sync::Arc;

use super::core::Core;
use super::wrapper::ClientRequest;
use crate::error::Origin;
use crate::selector::{NodeFilter, NodeInfo, ServiceNodes};
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
                    grpc: node.grpc_only,
                    node: Some((node, nodes.clone())),
                });
            }
        }
        Err(no_node(&req.service, &format!("no node matches {filter}")))
    }
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
