//! The innermost step of every call, read top to bottom: check the
//! deadline, then attempt after attempt select a node ([`select`](super::select)),
//! send, learn from the outcome ([`probe`](super::probe)), and decide
//! whether to retry ([`attempts`](super::attempts)).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;

use super::ClientOptions;
use super::attempts::{Attempts, Verdict};
use super::observer::CallObserver;
use super::pool::Pool;
use super::retry::RetryBudget;
use super::wrapper::{ClientBody, ClientRequest, ClientResponse};
use crate::error::Origin;
use crate::selector::{RegistryCache, Selector};
use crate::transport::{Connection, RequestHead};
use crate::{Error, Result};

/// The client's shared machinery.
pub(crate) struct Core {
    pub(crate) cache: RegistryCache,
    pub(crate) selector: Arc<dyn Selector>,
    pub(crate) pool: Pool,
    /// Connections to nodes that speak gRPC only (`None` when `pool`'s
    /// transport is gRPC already).
    pub(crate) grpc: Option<Pool>,
    pub(crate) options: ClientOptions,
    pub(crate) budget: RetryBudget,
    /// Told of retries, ejections and publishes (metrics), once installed.
    pub(crate) observer: OnceLock<Arc<dyn CallObserver>>,
}

impl Core {
    /// Makes the call `req`: attempts until one succeeds or retrying is
    /// not allowed.
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
        let mut attempts = Attempts::new(&req, self.options.retries);
        loop {
            let err = match self.attempt(&req, &mut attempts).await {
                Ok(rsp) => return Ok(rsp),
                Err(err) => err,
            };
            match attempts.verdict(err, &req.ctx, &self.budget, &self.options) {
                Verdict::GiveUp(err) => return Err(err.or_id(id)),
                Verdict::Retry { wait, err } => {
                    tracing::debug!(service = %req.service, endpoint = %req.endpoint,
                        error = %err, "retrying call");
                    self.report(|o| o.retried(&req.service, &req.endpoint));
                    if let Some(wait) = wait {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// One attempt: select a node, send, record how it went.
    async fn attempt(
        self: &Arc<Self>,
        req: &ClientRequest,
        attempts: &mut Attempts,
    ) -> Result<ClientResponse> {
        let target = self.select(req, attempts.tried()).await?;
        let Some((node, nodes)) = target.node else {
            return self.send(req, &target.address, target.grpc).await;
        };
        let call = node.stats.start();
        let result = self.send(req, &target.address, target.grpc).await;
        self.learn(call, &result, &node, &nodes);
        if result.is_err() {
            attempts.failed_on(&node, &req.endpoint);
        }
        result
    }

    /// The pool for a node: gRPC's for one that speaks only gRPC.
    pub(super) fn pool_for(&self, grpc: bool) -> &Pool {
        match (&self.grpc, grpc) {
            (Some(pool), true) => pool,
            _ => &self.pool,
        }
    }

    async fn send(
        &self,
        req: &ClientRequest,
        address: &Arc<str>,
        grpc: bool,
    ) -> Result<ClientResponse> {
        let conn = self.pool_for(grpc).get(address).await?;
        let head = RequestHead {
            service: req.service.clone(),
            endpoint: req.endpoint.clone(),
            package: Cow::Borrowed(req.package),
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
}

/// A unary call on `conn`, bounded by `deadline`.
pub(super) async fn unary(
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
