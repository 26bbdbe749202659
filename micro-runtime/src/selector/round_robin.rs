use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{NodeInfo, Selector, ServiceNodes, scan_from};

/// Rotates over the nodes across requests: with `n` nodes, each gets every
/// `n`-th call (go-micro's round robin only rotated within one request).
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobin;

impl Selector for RoundRobin {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn select(
        &self,
        nodes: &ServiceNodes,
        eligible: &dyn Fn(&NodeInfo) -> bool,
    ) -> Option<Arc<NodeInfo>> {
        if nodes.nodes.is_empty() {
            return None;
        }
        let start = nodes.cursor.fetch_add(1, Ordering::Relaxed);
        scan_from(nodes, start % nodes.nodes.len(), eligible)
    }
}
