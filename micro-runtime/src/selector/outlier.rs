//! Outlier ejection: a node that fails several calls in a row — or that
//! does not answer a health probe (`Debug.Health`) after a call to it timed
//! out or could not connect — is taken out of rotation for a backoff that
//! grows with each ejection; a health probe re-admits it. Never more than a configurable share of a
//! service's nodes is ejected at once, so a shared failure (the network,
//! a bad deploy of everything) cannot empty the rotation.

use std::time::Duration;

use super::ServiceNodes;
use super::stats::NodeStats;

/// Tuning of outlier ejection.
#[derive(Clone, Debug)]
pub struct OutlierPolicy {
    /// Failures in a row (connection failures, 5xx, no answer in time)
    /// that eject a node; 0 disables ejection.
    pub consecutive_failures: u32,
    /// First ejection; doubles with each further one.
    pub base_ejection: Duration,
    /// Longest ejection.
    pub max_ejection: Duration,
    /// Largest share of a service's nodes ejected at once (0.0–1.0).
    pub max_ejected_share: f64,
}

impl Default for OutlierPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(1),
            max_ejection: Duration::from_secs(30),
            max_ejected_share: 0.5,
        }
    }
}

impl OutlierPolicy {
    /// After a failure left `failures` in a row on `stats`: ejects the node
    /// when the policy says so and the share allows. Returns the ejection.
    pub(crate) fn on_failure(
        &self,
        stats: &NodeStats,
        failures: u32,
        nodes: &ServiceNodes,
    ) -> Option<Duration> {
        if self.consecutive_failures == 0 || failures < self.consecutive_failures {
            return None;
        }
        self.try_eject(stats, nodes)
    }

    /// Ejects the node unless it already is, or the share forbids it.
    pub(crate) fn try_eject(&self, stats: &NodeStats, nodes: &ServiceNodes) -> Option<Duration> {
        if self.consecutive_failures == 0 || stats.awaiting_probe() {
            return None;
        }
        let ejected = nodes
            .nodes
            .iter()
            .filter(|n| n.stats.awaiting_probe())
            .count();
        let allowed = (nodes.nodes.len() as f64 * self.max_ejected_share).floor() as usize;
        if ejected + 1 > allowed {
            return None;
        }
        Some(stats.eject(self.base_ejection, self.max_ejection))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::tests::nodes;

    #[test]
    fn ejects_after_consecutive_failures_within_the_share() {
        let snapshot = nodes(4);
        let policy = OutlierPolicy::default();
        let stats = &snapshot.nodes[0].stats;
        assert!(policy.on_failure(stats, 4, &snapshot).is_none());
        assert_eq!(
            policy.on_failure(stats, 5, &snapshot),
            Some(Duration::from_secs(1))
        );
        assert!(stats.is_ejected());
        assert!(
            policy.on_failure(stats, 6, &snapshot).is_none(),
            "already ejected"
        );
        // Half of 4 may be ejected: one more, then no more.
        assert!(
            policy
                .on_failure(&snapshot.nodes[1].stats, 5, &snapshot)
                .is_some()
        );
        assert!(
            policy
                .on_failure(&snapshot.nodes[2].stats, 5, &snapshot)
                .is_none()
        );
    }

    #[test]
    fn a_lone_node_is_never_ejected() {
        let snapshot = nodes(1);
        let policy = OutlierPolicy::default();
        assert!(
            policy
                .on_failure(&snapshot.nodes[0].stats, 50, &snapshot)
                .is_none()
        );
    }
}
