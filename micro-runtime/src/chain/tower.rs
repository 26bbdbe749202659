//! Tower layers as wrappers.
//!
//! The layer is applied once, around [`NextService`]; each request clones
//! the layered service, so state a layer shares between clones (a
//! concurrency limit's semaphore, a rate limiter's budget) is shared by
//! every request, as in any tower stack. The layered service receives a
//! [`Chained`] request: the request together with the rest of the chain,
//! which only a running chain can make, so the innermost service always
//! has a continuation to run.

use std::future::poll_fn;
use std::marker::PhantomData;
use std::task::{Context as TaskContext, Poll};

use futures_util::future::BoxFuture;
use tower_layer::Layer;
use tower_service::Service;

use super::{Next, Wrapper};
use crate::{Error, Result};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request inside a tower layer: the request and the rest of the chain.
pub struct Chained<Req, Rsp> {
    request: Req,
    next: Next<Req, Rsp>,
}

impl<Req, Rsp> Chained<Req, Rsp> {
    /// The request.
    pub fn request(&self) -> &Req {
        &self.request
    }

    /// The request, to change what the rest of the chain sees.
    pub fn request_mut(&mut self) -> &mut Req {
        &mut self.request
    }
}

impl<Req: std::fmt::Debug, Rsp> std::fmt::Debug for Chained<Req, Rsp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chained")
            .field("request", &self.request)
            .field("next", &self.next)
            .finish()
    }
}

/// The innermost service of a tower layer used as a wrapper: it runs the
/// rest of the chain.
pub struct NextService<Req, Rsp>(PhantomData<fn(Req) -> Rsp>);

impl<Req, Rsp> Clone for NextService<Req, Rsp> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Req, Rsp> Copy for NextService<Req, Rsp> {}

impl<Req, Rsp> Default for NextService<Req, Rsp> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Req, Rsp> std::fmt::Debug for NextService<Req, Rsp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NextService")
    }
}

impl<Req: Send + 'static, Rsp: Send + 'static> Service<Chained<Req, Rsp>>
    for NextService<Req, Rsp>
{
    type Response = Rsp;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Rsp>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, chained: Chained<Req, Rsp>) -> Self::Future {
        chained.next.run(chained.request)
    }
}

/// A tower layer used as a wrapper of requests `Req` answered with `Rsp`.
///
/// The aliases `TowerHandlerLayer`, `TowerClientLayer` and
/// `TowerSubscriberLayer` in [`crate::wrapper`] name the three kinds.
pub struct TowerLayer<S, Req, Rsp> {
    service: S,
    kind: PhantomData<fn(Req) -> Rsp>,
}

impl<S: Clone, Req, Rsp> Clone for TowerLayer<S, Req, Rsp> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            kind: PhantomData,
        }
    }
}

impl<S: std::fmt::Debug, Req, Rsp> std::fmt::Debug for TowerLayer<S, Req, Rsp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TowerLayer")
            .field("service", &self.service)
            .finish()
    }
}

impl<S, Req, Rsp> TowerLayer<S, Req, Rsp> {
    /// Applies `layer` around the rest of the chain.
    pub fn new<L: Layer<NextService<Req, Rsp>, Service = S>>(layer: L) -> Self {
        Self {
            service: layer.layer(NextService::default()),
            kind: PhantomData,
        }
    }
}

impl<S, Req, Rsp> Wrapper<Req, Rsp> for TowerLayer<S, Req, Rsp>
where
    S: Service<Chained<Req, Rsp>, Response = Rsp> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Req: Send + 'static,
    Rsp: Send + 'static,
{
    fn call(&self, request: Req, next: Next<Req, Rsp>) -> BoxFuture<'static, Result<Rsp>> {
        let mut service = self.service.clone();
        Box::pin(async move {
            poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(|e| from_tower(e.into()))?;
            service
                .call(Chained { request, next })
                .await
                .map_err(|e| from_tower(e.into()))
        })
    }
}

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
