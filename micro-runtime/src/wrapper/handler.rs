use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::codec::ContentType;
use crate::endpoint::EndpointDescriptor;
use crate::transport::IncomingBody;
use crate::{Context, Result};

/// A request as a handler wrapper sees it: routed, not yet decoded.
pub struct HandlerRequest {
    pub(crate) ctx: Context,
    pub(crate) service: Arc<str>,
    pub(crate) endpoint: EndpointDescriptor,
    pub(crate) content_type: ContentType,
    pub(crate) body: IncomingBody,
    pub(crate) next: Option<Next>,
}

impl HandlerRequest {
    /// The call's context (metadata and deadline).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The call's context, to change what the handler will see.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// The service this server runs.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The endpoint being called.
    pub fn endpoint(&self) -> &EndpointDescriptor {
        &self.endpoint
    }

    /// Codec of the body.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// The encoded request of a unary call (`None` for streaming calls).
    pub fn body(&self) -> Option<&Bytes> {
        match &self.body {
            IncomingBody::Unary(body) => Some(body),
            IncomingBody::Stream { .. } => None,
        }
    }
}

impl std::fmt::Debug for HandlerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerRequest")
            .field("service", &self.service)
            .field("endpoint", &self.endpoint.name)
            .field("content_type", &self.content_type)
            .field("context", &self.ctx)
            .finish_non_exhaustive()
    }
}

/// The erased handler of one endpoint, the innermost step of the chain.
pub(crate) type EndpointFn =
    dyn Fn(HandlerRequest) -> BoxFuture<'static, Result<Option<Bytes>>> + Send + Sync;

/// Middleware around handlers.
///
/// The response is the encoded response message (`Some`) or `None` for a
/// stream that ended normally.
///
/// # Examples
///
/// ```
/// use micro_runtime::wrapper::{handler_fn, HandlerRequest, Next};
/// use micro_runtime::Error;
///
/// // Refuse calls without an `authorization` entry in their metadata.
/// let auth = handler_fn(|req: HandlerRequest, next: Next| async move {
///     if req.context().metadata().get("authorization").is_none() {
///         return Err(Error::unauthorized("missing authorization"));
///     }
///     next.run(req).await
/// });
/// # let _ = auth;
/// ```
pub trait HandlerWrapper: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)`.
    fn call(&self, req: HandlerRequest, next: Next) -> BoxFuture<'static, Result<Option<Bytes>>>;
}

/// The rest of a handler chain.
#[derive(Clone)]
pub struct Next {
    wrappers: Arc<[Arc<dyn HandlerWrapper>]>,
    index: usize,
    endpoint: Arc<EndpointFn>,
}

impl Next {
    /// Runs the rest of the chain, ending with the handler.
    pub fn run(self, req: HandlerRequest) -> BoxFuture<'static, Result<Option<Bytes>>> {
        match self.wrappers.get(self.index).cloned() {
            Some(wrapper) => {
                let next = Next {
                    index: self.index + 1,
                    ..self
                };
                wrapper.call(req, next)
            }
            None => (self.endpoint)(req),
        }
    }
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("remaining", &(self.wrappers.len() - self.index))
            .finish()
    }
}

/// The handler wrappers of a server, in order.
#[derive(Clone, Default)]
pub(crate) struct HandlerChain {
    wrappers: Arc<[Arc<dyn HandlerWrapper>]>,
}

impl HandlerChain {
    pub(crate) fn new(wrappers: Vec<Arc<dyn HandlerWrapper>>) -> Self {
        Self {
            wrappers: wrappers.into(),
        }
    }

    /// Runs `req` through the chain into `endpoint`.
    pub(crate) fn run(
        &self,
        req: HandlerRequest,
        endpoint: &Arc<EndpointFn>,
    ) -> BoxFuture<'static, Result<Option<Bytes>>> {
        if self.wrappers.is_empty() {
            return endpoint(req);
        }
        Next {
            wrappers: self.wrappers.clone(),
            index: 0,
            endpoint: endpoint.clone(),
        }
        .run(req)
    }
}

struct FnWrapper<F>(F);

impl<F, Fut> HandlerWrapper for FnWrapper<F>
where
    F: Fn(HandlerRequest, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Bytes>>> + Send + 'static,
{
    fn call(&self, req: HandlerRequest, next: Next) -> BoxFuture<'static, Result<Option<Bytes>>> {
        Box::pin((self.0)(req, next))
    }
}

/// A handler wrapper from an async closure taking the request and `next`.
pub fn handler_fn<F, Fut>(f: F) -> impl HandlerWrapper
where
    F: Fn(HandlerRequest, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Bytes>>> + Send + 'static,
{
    FnWrapper(f)
}
