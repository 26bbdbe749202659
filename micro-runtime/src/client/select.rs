//! Selection: which node an attempt goes to.

use std::sync::Arc;

use super::core::Core;
use super::wrapper::ClientRequest;
use crate::error::Origin;
use crate::selector::{NodeFilter, NodeInfo, ServiceNodes};
use crate::transport::Security;
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
        let reachable = |n: &NodeInfo| reachable(n.security, self.pool_for(n.grpc_only).security());
        let allowed = |n: &NodeInfo| filter.matches(n) && reachable(n);
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
        if let Some(node) = nodes.nodes.iter().find(|n| filter.matches(n)) {
            let client = self.pool_for(node.grpc_only).security();
            return Err(unreachable(&req.service, node.security, client));
        }
        Err(no_node(&req.service, &format!("no node matches {filter}")))
    }
}

/// Whether a client dialling with `client` can reach a node that needs
/// `node`: plaintext only to plaintext, TLS with at least what it asks.
fn reachable(node: Security, client: Security) -> bool {
    match node {
        Security::Plain => client == Security::Plain,
        _ => client >= node,
    }
}

/// Why no node of `service` can be reached with the client's TLS settings:
/// told before anything is dialled (401 for a missing client certificate,
/// 400 for TLS on one side only).
fn unreachable(service: &str, node: Security, client: Security) -> Error {
    let how = if cfg!(feature = "tls") {
        "set MICRO_TLS_CA (the CA that signed its certificate)"
    } else {
        "build with micro-runtime's cargo feature \"tls\" and set MICRO_TLS_CA"
    };
    match (node, client) {
        (Security::Plain, _) => Error::bad_request(format!(
            "service {service}: its nodes serve plaintext and this client dials only TLS \
             (unset the client's MICRO_TLS_* variables to call it)"
        )),
        (_, Security::Plain) => Error::bad_request(format!(
            "service {service}: its nodes serve TLS only (node metadata tls=1) and this client \
             has no TLS configuration: {how}"
        )),
        _ => Error::unauthorized(format!(
            "service {service}: its nodes require a client certificate (mutual TLS, node metadata \
             mtls=1): set MICRO_TLS_CLIENT_CERT and MICRO_TLS_CLIENT_KEY"
        )),
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
