//! Node selection: which node of a service gets a call.
//!
//! The client asks a [`RegistryCache`] for the service's nodes (a snapshot,
//! kept current by watching the registry), filters them (version, tried
//! nodes, …) and lets a [`Selector`] strategy pick one. Selection never
//! touches the registry, so its cost does not depend on the request rate.

mod cache;
mod filter;
mod least_loaded;
mod node;
mod outlier;
mod random;
mod round_robin;
mod stats;

use std::sync::Arc;

pub use cache::{CacheOptions, RegistryCache};
pub use filter::NodeFilter;
pub use least_loaded::LeastLoaded;
pub(crate) use node::StatsTable;
pub use node::{NodeInfo, ServiceNodes};
pub use outlier::OutlierPolicy;
pub use stats::NodeStats;
pub(crate) use stats::{InFlightCall, Outcome};

/// The clock the selector's figures use.
pub(crate) mod stats_clock {
    pub(crate) use super::stats::now_secs;
}
pub use random::Random;
pub use round_robin::RoundRobin;

use crate::{Error, Result};

/// A selection strategy.
pub trait Selector: Send + Sync + 'static {
    /// Short name, e.g. `roundrobin`.
    fn name(&self) -> &'static str;

    /// Picks one of the nodes for which `eligible` holds, or `None`.
    fn select(
        &self,
        nodes: &ServiceNodes,
        eligible: &dyn Fn(&NodeInfo) -> bool,
    ) -> Option<Arc<NodeInfo>>;
}

/// The strategy called `name`: `leastloaded` (the default), `roundrobin`,
/// `random`.
///
/// # Errors
///
/// 400 naming the unknown strategy.
pub fn by_name(name: &str) -> Result<Arc<dyn Selector>> {
    match name {
        "leastloaded" | "least_loaded" | "least-loaded" | "p2c" => Ok(Arc::new(LeastLoaded)),
        "random" => Ok(Arc::new(Random)),
        "roundrobin" | "round_robin" | "round-robin" => Ok(Arc::new(RoundRobin)),
        other => Err(Error::bad_request(format!(
            "unknown selector {other:?} (known: leastloaded, roundrobin, random)"
        ))),
    }
}

/// The first eligible node at or after `start`, wrapping around.
pub(crate) fn scan_from(
    nodes: &ServiceNodes,
    start: usize,
    eligible: &dyn Fn(&NodeInfo) -> bool,
) -> Option<Arc<NodeInfo>> {
    let len = nodes.nodes.len();
    (0..len)
        .map(|i| &nodes.nodes[(start + i) % len])
        .find(|n| eligible(n))
        .cloned()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::registry::{Node, Service};

    pub(crate) fn nodes(n: usize) -> ServiceNodes {
        let table = StatsTable::default();
        let service = Arc::new(Service {
            name: "s".into(),
            ..Default::default()
        });
        ServiceNodes {
            name: "s".into(),
            nodes: (0..n)
                .map(|i| {
                    let id = format!("n{i}");
                    Arc::new(NodeInfo {
                        endpoints: Arc::default(),
                        address: format!("addr{i}").into(),
                        node: Node {
                            id: id.clone(),
                            address: format!("addr{i}"),
                            ..Default::default()
                        },
                        service: service.clone(),
                        stats: table.get(&id),
                        grpc_only: false,
                        security: crate::transport::Security::Plain,
                    })
                })
                .collect(),
            cursor: Arc::default(),
        }
    }

    #[test]
    fn round_robin_balances_across_requests() {
        let snapshot = nodes(3);
        let mut counts = HashMap::new();
        for _ in 0..300 {
            let n = RoundRobin.select(&snapshot, &|_| true).unwrap();
            *counts.entry(n.node.id.clone()).or_insert(0) += 1;
        }
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![100; 3]);
    }

    #[test]
    fn least_loaded_avoids_a_node_with_calls_piling_up() {
        let snapshot = nodes(3);
        let stuck: Vec<_> = (0..20).map(|_| snapshot.nodes[1].stats.start()).collect();
        for _ in 0..300 {
            let n = LeastLoaded.select(&snapshot, &|_| true).unwrap();
            assert_ne!(n.node.id, "n1");
        }
        drop(stuck);
        let picked: std::collections::HashSet<_> = (0..300)
            .map(|_| {
                LeastLoaded
                    .select(&snapshot, &|_| true)
                    .unwrap()
                    .node
                    .id
                    .clone()
            })
            .collect();
        assert_eq!(picked.len(), 3, "an idle node is picked again");
    }

    #[test]
    fn strategies_skip_ineligible_nodes() {
        let snapshot = nodes(3);
        for selector in [
            by_name("random").unwrap(),
            by_name("roundrobin").unwrap(),
            by_name("leastloaded").unwrap(),
        ] {
            for _ in 0..20 {
                let n = selector.select(&snapshot, &|n| n.node.id == "n2").unwrap();
                assert_eq!(n.node.id, "n2");
            }
            assert!(selector.select(&snapshot, &|_| false).is_none());
        }
        assert!(by_name("nope").is_err());
    }
}
