//! The innermost step of every call: pick a node, get a connection, send,
//! learn from the outcome (latency, failures, ejection), and retry what is
//! safe to retry within the budget and the deadline.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ClientOptions;
use super::pool::Pool;
use super::retry::{RetryBudget, backoff, is_retryable};
use crate::endpoint::CallKind;
use crate::error::Origin;
use crate::selector::{
    InFlightCall, NodeFilter, NodeInfo, Outcome, RegistryCache, Selector, ServiceNodes,
};
use crate::transport::{Connection, RequestHead};
use crate::wrapper::{ClientBody, ClientRequest, ClientResponse};
use crate::{Error, Result};

/// The client's shared machinery.
pub(crate) struct Core {
    pub(crate) cache: RegistryCache,
    pub(crate) selector: Arc<dyn Selector>,
    pub(crate) pool: Pool,
    pub(crate) options: ClientOptions,
    pub(crate) budget: RetryBudget,
}

/// Where one attempt goes.
struct Target {
    address: Arc<str>,
    node: Option<(Arc<NodeInfo>, Arc<ServiceNodes>)>,
}

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
    pub(crate) async fn execute(self: &Arc<Self>, req: ClientRequest) -> Result<ClientResponse> {
        let id = self.options.id.as_str();
        if req.ctx.is_expired() {
            return Err(Error::timeout(format!(
                "deadline passed before calling {}.{}",
                req.service, req.endpoint
            ))
            .with_id(id));
        }
        self.budget.record_call();
        let max_retries = req.options.retries.unwrap_or(self.options.retries);
        let mut idempotent = req.idempotent;
        let mut tried: Vec<Arc<str>> = Vec::new();
        let mut attempt: u32 = 0;
        loop {
            let (result, node) = self.attempt(&req, &tried).await;
            let err = match result {
                Ok(rsp) => return Ok(rsp),
                Err(err) => err,
            };
            if let Some(node) = node {
                // The node's advertised metadata may declare the endpoint
                // idempotent (`#[micro(idempotent)]` on a .proto handler).
                idempotent |= node
                    .endpoint(&req.endpoint)
                    .is_some_and(|e| e.metadata.get("idempotent").is_some_and(|v| v == "true"));
                tried.push(node.address.clone());
            }
            let streaming_sent = matches!(req.body, ClientBody::Stream) && !err.is_not_sent();
            if attempt >= max_retries
                || streaming_sent
                || req.ctx.is_expired()
                || !is_retryable(&err, idempotent)
            {
                return Err(err.or_id(id));
            }
            attempt += 1;
            if !err.is_not_sent() {
                if !self.budget.try_retry() {
                    tracing::debug!(service = %req.service, endpoint = %req.endpoint,
                        "retry budget spent; not retrying");
                    return Err(err.or_id(id));
                }
                let wait = backoff(self.options.backoff_base, self.options.backoff_max, attempt);
                if req.ctx.remaining().is_some_and(|left| left <= wait) {
                    return Err(err.or_id(id));
                }
                tokio::time::sleep(wait).await;
            }
            tracing::debug!(service = %req.service, endpoint = %req.endpoint, attempt,
                error = %err, "retrying call");
        }
    }

    /// One attempt: the result, and the node it went to (if selected).
    async fn attempt(
        self: &Arc<Self>,
        req: &ClientRequest,
        tried: &[Arc<str>],
    ) -> (Result<ClientResponse>, Option<Arc<NodeInfo>>) {
        let target = match self.target(req, tried).await {
            Ok(target) => target,
            Err(err) => return (Err(err), None),
        };
        let call = target.node.as_ref().map(|(n, _)| n.stats.start());
        let result = self.send(req, &target.address).await;
        match (call, target.node) {
            (Some(call), Some((node, nodes))) => {
                self.learn(call, &result, &node, &nodes);
                (result, Some(node))
            }
            _ => (result, None),
        }
    }

    async fn send(&self, req: &ClientRequest, address: &Arc<str>) -> Result<ClientResponse> {
        let conn = self.pool.get(address).await?;
        let head = RequestHead {
            service: req.service.clone(),
            endpoint: req.endpoint.clone(),
            content_type: req.content_type,
            timeout: req.ctx.remaining(),
            metadata: req.ctx.metadata().clone(),
            kind: req.kind,
        };
        match &req.body {
            ClientBody::Unary(body) => unary(&*conn, head, body.clone(), req.ctx.deadline())
                .await
                .map(ClientResponse::Unary),
            ClientBody::Stream => {
                let (tx, rx) = conn.open_stream(head)?;
                Ok(ClientResponse::Stream { tx, rx })
            }
        }
    }

    /// Records the attempt on the node; ejects it when it keeps failing,
    /// and has it probed when it may be dead or hung.
    fn learn(
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

    async fn target(&self, req: &ClientRequest, tried: &[Arc<str>]) -> Result<Target> {
        if let Some(address) = &req.options.address {
            return Ok(Target {
                address: address.as_str().into(),
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
        // Best first; then relax: ejected nodes, nodes already tried, and
        // last, nodes that do not advertise the endpoint (they answer 404).
        let passes: [&dyn Fn(&NodeInfo) -> bool; 4] = [&healthy, &untried, &serving, &allowed];
        for eligible in passes {
            if let Some(node) = self.selector.select(&nodes, eligible) {
                return Ok(Target {
                    address: node.address.clone(),
                    node: Some((node, nodes.clone())),
                });
            }
        }
        Err(no_node(&req.service, &format!("no node matches {filter}")))
    }
}

async fn unary(
    conn: &dyn Connection,
    head: RequestHead,
    body: Bytes,
    deadline: Option<Instant>,
) -> Result<Bytes> {
    let endpoint = head.endpoint.clone();
    let response = conn.unary(head, body);
    match deadline {
        None => response.await,
        Some(deadline) => tokio::time::timeout_at(deadline.into(), response)
            .await
            .unwrap_or_else(|_| {
                // The node did not answer in time: a transport-level failure
                // (retryable only for idempotent endpoints).
                Err(Error::timeout(format!("{endpoint}: deadline exceeded"))
                    .with_origin(Origin::Transport))
            }),
    }
}

/// Asks a node `Debug.Health` (1 s timeout) straight over the pool.
async fn health(core: &Core, node: &NodeInfo) -> Result<Bytes> {
    let mut head = RequestHead::new(node.service.name.as_str(), "Debug.Health", CallKind::Unary);
    head.timeout = Some(PROBE_TIMEOUT);
    let conn = core.pool.get(&node.address).await?;
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

fn no_node(service: &str, why: &str) -> Error {
    Error::unavailable(format!("service {service}: {why}")).with_origin(Origin::NotSent)
}

impl NodeFilter {
    /// Adds a metadata requirement (builder style, for call options).
    pub(crate) fn require(&mut self, key: String, value: String) {
        self.metadata.push((key, value));
    }
}
