use std::sync::Arc;

use super::{NodeInfo, Selector, ServiceNodes, scan_from};

/// Picks a node uniformly at random.
#[derive(Clone, Copy, Debug, Default)]
pub struct Random;

impl Selector for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn select(
        &self,
        nodes: &ServiceNodes,
        eligible: &dyn Fn(&NodeInfo) -> bool,
    ) -> Option<Arc<NodeInfo>> {
        if nodes.nodes.is_empty() {
            return None;
        }
        scan_from(nodes, fastrand::usize(..nodes.nodes.len()), eligible)
    }
}
