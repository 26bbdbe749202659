//! Learning from outcomes: a node's figures, ejection of a node that keeps
//! failing, and health probes of nodes that may be dead or hung.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::core::{Core, unary};
use super::wrapper::ClientResponse;
use crate::Result;
use crate::endpoint::CallKind;
use crate::error::Origin;
use crate::selector::{InFlightCall, NodeInfo, Outcome, ServiceNodes};
use crate::transport::RequestHead;

/// How an attempt ended, for the node's figures.
fn outcome_of(result: &Result<ClientResponse>) -> Outcome {
    match result {
        Ok(_) => Outcome::Answered,
        Err(err) => match err.origin() {
            Origin::NotSent if err.is_unavailable() => Outcome::Failed,
            Origin::NotSent => Outcome::Answered,
            Origin::Transport => Outcome::Failed,
            Origin::Remote if err.is_server_error() => Outcome::Failed,
            Origin::Remote => Outcome::Answered,
        },
    }
}

impl Core {
    /// Records the attempt on the node; ejects it when it keeps failing,
    /// and has it probed when it may be dead or hung.
    pub(super) fn learn(
        self: &Arc<Self>,
        call: InFlightCall,
        result: &Result<ClientResponse>,
        node: &Arc<NodeInfo>,
        nodes: &ServiceNodes,
    ) {
        let outcome = outcome_of(result);
        let failures = call.finish(outcome);
        if outcome == Outcome::Answered {
            return;
        }
        let policy = &self.options.outlier;
        if let Some(ejected_for) = policy.on_failure(&node.stats, failures, nodes) {
            tracing::warn!(service = %nodes.name, node = %node.node.id, address = %node.address,
                failures, ejected_ms = ejected_for.as_millis() as u64,
                "ejecting node after repeated failures");
            self.report(|o| o.ejected(&nodes.name));
            if node.stats.try_start_probe() {
                tokio::spawn(probe(Arc::downgrade(self), node.clone(), false));
            }
            return;
        }
        // No answer at all (timed out, or no connection): ask the node
        // whether it is alive, rather than waiting for more calls to fail.
        let silent = matches!(result, Err(e) if e.origin() != Origin::Remote);
        if silent && policy.consecutive_failures > 0 && node.stats.try_start_probe() {
            tokio::spawn(probe(Arc::downgrade(self), node.clone(), true));
        }
    }
}

/// Asks a node `Debug.Health` (1 s timeout) straight over the pool.
async fn health(core: &Core, node: &NodeInfo) -> Result<Bytes> {
    let mut head = RequestHead::new(node.service.name.as_str(), "Debug.Health", CallKind::Unary);
    head.timeout = Some(PROBE_TIMEOUT);
    let conn = core.pool_for(node.grpc_only).get(&node.address).await?;
    unary(
        &*conn,
        head,
        Bytes::new(),
        Some(Instant::now() + PROBE_TIMEOUT),
    )
    .await
}

/// How long a health probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Watches a node the caller holds the probing right of. A `suspect` node
/// (a call to it got no answer) is probed at once and ejected when the probe
/// gets no answer either. An ejected node is probed each time its ejection
/// runs out: an answer re-admits it, silence ejects it again for longer.
/// Stops when the client is gone or the node left the registry; a node
/// ejected by a failing call while this task held the probing right is
/// watched on, never left ejected with no one probing it.
async fn probe(core: Weak<Core>, node: Arc<NodeInfo>, suspect: bool) {
    if suspect {
        check_suspect(&core, &node).await;
    }
    loop {
        let client_gone = node.stats.awaiting_probe() && !watch_ejected(&core, &node).await;
        node.stats.end_probe();
        if client_gone {
            return;
        }
        // A call may have ejected the node while we held the right.
        if !(node.stats.awaiting_probe() && node.stats.try_start_probe()) {
            return;
        }
    }
}

/// Probes a node a call got no answer from; ejects it when silent.
async fn check_suspect(core: &Weak<Core>, node: &NodeInfo) {
    let Some(live) = core.upgrade() else { return };
    if health(&live, node).await.is_ok() {
        return;
    }
    if let Ok(nodes) = live.cache.get(&node.service.name).await
        && let Some(ejected_for) = live.options.outlier.try_eject(&node.stats, &nodes)
    {
        tracing::warn!(node = %node.node.id, address = %node.address,
            ejected_ms = ejected_for.as_millis() as u64,
            "ejecting node: no answer to calls or to its health probe");
        live.report(|o| o.ejected(&nodes.name));
    }
}

/// Probes an ejected node each time its ejection runs out until it answers
/// (re-admitted) or leaves the registry: true; false when the client is gone.
async fn watch_ejected(core: &Weak<Core>, node: &NodeInfo) -> bool {
    loop {
        let left = node.stats.ejection_left();
        if !left.is_zero() {
            tokio::time::sleep(left).await;
        }
        let Some(core) = core.upgrade() else {
            return false;
        };
        let still_listed = match core.cache.get(&node.service.name).await {
            Ok(nodes) => nodes.nodes.iter().any(|n| n.node.id == node.node.id),
            Err(_) => true,
        };
        if !still_listed {
            node.stats.readmit();
            return true;
        }
        match health(&core, node).await {
            Ok(_) => {
                tracing::info!(node = %node.node.id, address = %node.address,
                    "node answered its health probe; re-admitted");
                node.stats.readmit();
                return true;
            }
            Err(err) => {
                let policy = &core.options.outlier;
                let again = node.stats.eject(policy.base_ejection, policy.max_ejection);
                tracing::debug!(node = %node.node.id, error = %err,
                    ejected_ms = again.as_millis() as u64, "health probe failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn what_counts_against_a_node() {
        let answered = |r: Result<ClientResponse>| outcome_of(&r) == Outcome::Answered;
        assert!(answered(Ok(ClientResponse::Unary(Bytes::new()))));
        assert!(
            answered(Err(Error::not_found("no user"))),
            "a 4xx is an answer"
        );
        assert!(!answered(Err(Error::internal("bug"))), "a 5xx is a failure");
        let refused = Error::unavailable("refused").with_origin(Origin::NotSent);
        assert!(
            !answered(Err(refused)),
            "a node that refuses connections failed"
        );
        let no_node = Error::bad_request("no such filter").with_origin(Origin::NotSent);
        assert!(answered(Err(no_node)), "the node never saw it");
        let lost = Error::timeout("late").with_origin(Origin::Transport);
        assert!(!answered(Err(lost)));
    }
}
