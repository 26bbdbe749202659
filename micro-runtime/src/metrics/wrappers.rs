//! The wrappers that feed the series: around handlers (server), around
//! calls (client) and around subscribers (deliveries). A handler that
//! panics is counted as a 500, and its panic goes on to the guard that
//! turns it into the caller's error.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::Shared;
use super::labels::code_of;
use crate::Result;
use crate::broker::wrapper::{SubscriberNext, SubscriberRequest};
use crate::chain::Wrapper;
use crate::client::wrapper::{ClientNext, ClientRequest, ClientResponse};
use crate::server::wrapper::{HandlerNext, HandlerRequest, HandlerResponse};

/// Runs `inner`, calling `settle` with its code; a panic settles as 500
/// and unwinds on.
async fn settled<T>(inner: impl Future<Output = Result<T>>, settle: impl FnOnce(u16)) -> Result<T> {
    match AssertUnwindSafe(inner).catch_unwind().await {
        Ok(result) => {
            settle(code_of(&result));
            result
        }
        Err(panic) => {
            settle(500);
            std::panic::resume_unwind(panic)
        }
    }
}

/// Times and counts every request a service handles.
pub(crate) struct ServerMetrics(pub(crate) Arc<Shared>);

impl Wrapper<HandlerRequest, HandlerResponse> for ServerMetrics {
    fn call(
        &self,
        req: HandlerRequest,
        next: HandlerNext,
    ) -> BoxFuture<'static, Result<HandlerResponse>> {
        let timer = self.0.server.start(req.service(), req.endpoint().name);
        Box::pin(settled(next.run(req), |code| timer.finish(code)))
    }
}

/// Times and counts every call a client makes (a streaming call until its
/// stream is open).
pub(crate) struct ClientMetrics(pub(crate) Arc<Shared>);

impl Wrapper<ClientRequest, ClientResponse> for ClientMetrics {
    fn call(
        &self,
        req: ClientRequest,
        next: ClientNext,
    ) -> BoxFuture<'static, Result<ClientResponse>> {
        let timer = self.0.client.start(req.service(), req.endpoint());
        Box::pin(async move {
            let result = next.run(req).await;
            timer.finish(code_of(&result));
            result
        })
    }
}

/// Counts every message a service's subscribers handle, and those moved
/// aside (a 4xx from the handler).
pub(crate) struct SubscriberMetrics(pub(crate) Arc<Shared>);

impl Wrapper<SubscriberRequest, ()> for SubscriberMetrics {
    fn call(&self, req: SubscriberRequest, next: SubscriberNext) -> BoxFuture<'static, Result<()>> {
        let shared = self.0.clone();
        let topic = shared.topics.topic(req.topic());
        Box::pin(settled(next.run(req), move |code| {
            shared.topics.delivered(&topic, code)
        }))
    }
}
