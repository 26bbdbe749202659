//! Tower layers as wrappers.
//!
//! The layer is applied once, around a placeholder inner service
//! ([`NextService`] / [`ClientNextService`]) that continues micro's chain;
//! each call clones the layered service, so state a layer shares between
//! clones (a concurrency limit's semaphore, a rate limiter's budget) is
//! shared by every call, as in any tower stack.

use std::future::poll_fn;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tower_layer::Layer;
use tower_service::Service;

use super::{ClientRequest, ClientResponse, ClientWrapper, HandlerRequest, HandlerWrapper};
use crate::wrapper::{ClientNext, Next};
use crate::{Error, Result};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Maps a tower error onto the toolkit's error, keeping ours as they are.
fn from_tower(err: BoxError) -> Error {
    match err.downcast::<Error>() {
        Ok(err) => *err,
        Err(other) => {
            let text = other.to_string();
            if text.contains("timed out") {
                Error::timeout(text)
            } else if text.contains("overloaded") {
                Error::unavailable(text)
            } else {
                Error::internal(text)
            }
        }
    }
}

async fn call_tower<S, R>(mut svc: S, req: R) -> Result<S::Response>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    poll_fn(|cx| svc.poll_ready(cx))
        .await
        .map_err(|e| from_tower(e.into()))?;
    svc.call(req).await.map_err(|e| from_tower(e.into()))
}

/// The innermost service a tower layer wraps on the handler side: it runs
/// the rest of micro's handler chain.
#[derive(Clone, Copy, Debug, Default)]
pub struct NextService;

impl Service<HandlerRequest> for NextService {
    type Response = Option<Bytes>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Option<Bytes>>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: HandlerRequest) -> Self::Future {
        match req.next.take() {
            Some(next) => next.run(req),
            None => Box::pin(async {
                Err(Error::internal(
                    "tower service called outside micro's handler chain",
                ))
            }),
        }
    }
}

/// A tower layer used as a handler wrapper.
///
/// # Examples
///
/// ```
/// use micro_runtime::wrapper::TowerHandlerLayer;
/// # #[derive(Clone)] struct Identity;
/// # impl<S> tower_layer::Layer<S> for Identity { type Service = S; fn layer(&self, s: S) -> S { s } }
/// // e.g. tower::limit::ConcurrencyLimitLayer::new(64)
/// let wrapper = TowerHandlerLayer::new(Identity);
/// # let _ = wrapper;
/// ```
#[derive(Clone, Debug)]
pub struct TowerHandlerLayer<S> {
    service: S,
}

impl<S> TowerHandlerLayer<S> {
    /// Applies `layer` around micro's handler chain.
    pub fn new<L: Layer<NextService, Service = S>>(layer: L) -> Self {
        Self {
            service: layer.layer(NextService),
        }
    }
}

impl<S> HandlerWrapper for TowerHandlerLayer<S>
where
    S: Service<HandlerRequest, Response = Option<Bytes>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn call(
        &self,
        mut req: HandlerRequest,
        next: Next,
    ) -> BoxFuture<'static, Result<Option<Bytes>>> {
        req.next = Some(next);
        Box::pin(call_tower(self.service.clone(), req))
    }
}

/// The innermost service a tower layer wraps on the client side.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientNextService;

impl Service<ClientRequest> for ClientNextService {
    type Response = ClientResponse;
    type Error = Error;
    type Future = BoxFuture<'static, Result<ClientResponse>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: ClientRequest) -> Self::Future {
        match req.next.take() {
            Some(next) => next.run(req),
            None => Box::pin(async {
                Err(Error::internal(
                    "tower service called outside micro's client chain",
                ))
            }),
        }
    }
}

/// A tower layer used as a client wrapper.
#[derive(Clone, Debug)]
pub struct TowerClientLayer<S> {
    service: S,
}

impl<S> TowerClientLayer<S> {
    /// Applies `layer` around the rest of the client chain.
    pub fn new<L: Layer<ClientNextService, Service = S>>(layer: L) -> Self {
        Self {
            service: layer.layer(ClientNextService),
        }
    }
}

impl<S> ClientWrapper for TowerClientLayer<S>
where
    S: Service<ClientRequest, Response = ClientResponse> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn call(
        &self,
        mut req: ClientRequest,
        next: ClientNext,
    ) -> BoxFuture<'static, Result<ClientResponse>> {
        req.next = Some(next);
        Box::pin(call_tower(self.service.clone(), req))
    }
}
