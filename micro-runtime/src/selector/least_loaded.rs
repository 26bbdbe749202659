use std::sync::Arc;

use super::{NodeInfo, Selector, ServiceNodes, scan_from};

/// Least-loaded selection, the default: the better of two nodes drawn at
/// random ("power of two choices"), where a node's load is its peak-EWMA
/// latency times the calls in flight to it plus one. A slow or hung node
/// collects in-flight calls and stops being chosen within a few requests;
/// drawing two (not scanning all) keeps the cost constant and avoids every
/// client herding onto the same "best" node.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeastLoaded;

/// Random draws tried before falling back to a scan.
const DRAWS: usize = 4;

fn draw(
    nodes: &ServiceNodes,
    eligible: &dyn Fn(&NodeInfo) -> bool,
    not: Option<usize>,
) -> Option<usize> {
    let len = nodes.nodes.len();
    for _ in 0..DRAWS {
        let i = fastrand::usize(..len);
        if Some(i) != not && eligible(&nodes.nodes[i]) {
            return Some(i);
        }
    }
    // Few eligible nodes: scan from a random point.
    let start = fastrand::usize(..len);
    (0..len)
        .map(|k| (start + k) % len)
        .find(|&i| Some(i) != not && eligible(&nodes.nodes[i]))
}

impl Selector for LeastLoaded {
    fn name(&self) -> &'static str {
        "leastloaded"
    }

    fn select(
        &self,
        nodes: &ServiceNodes,
        eligible: &dyn Fn(&NodeInfo) -> bool,
    ) -> Option<Arc<NodeInfo>> {
        match nodes.nodes.len() {
            0 => None,
            1 => scan_from(nodes, 0, eligible),
            _ => {
                let a = draw(nodes, eligible, None)?;
                let Some(b) = draw(nodes, eligible, Some(a)) else {
                    return Some(nodes.nodes[a].clone());
                };
                let (na, nb) = (&nodes.nodes[a], &nodes.nodes[b]);
                let pick = if nb.stats.load() < na.stats.load() {
                    nb
                } else {
                    na
                };
                Some(pick.clone())
            }
        }
    }
}
