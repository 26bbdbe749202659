//! What handler wrappers see: a request routed, not yet decoded.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use crate::chain::{End, Next, NextService, TowerLayer, Wrapper, wrapper_fn};
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

/// What a handler answers: the encoded response message, or `None` for a
/// stream that ended normally.
pub type HandlerResponse = Option<Bytes>;

/// The erased handler of one endpoint, the end of the chain.
pub(crate) type EndpointFn = End<HandlerRequest, HandlerResponse>;

/// Middleware around handlers: a [`Wrapper`] of [`HandlerRequest`]s.
///
/// Implemented by every `Wrapper<HandlerRequest, HandlerResponse>`; write
/// one with [`handler_fn`] or by implementing [`Wrapper`].
///
/// # Examples
///
/// ```
/// use micro_runtime::wrapper::{handler_fn, HandlerNext, HandlerRequest};
/// use micro_runtime::Error;
///
/// // Refuse calls without an `authorization` entry in their metadata.
/// let auth = handler_fn(|req: HandlerRequest, next: HandlerNext| async move {
///     if req.context().metadata().get("authorization").is_none() {
///         return Err(Error::unauthorized("missing authorization"));
///     }
///     next.run(req).await
/// });
/// # let _ = auth;
/// ```
pub trait HandlerWrapper: Wrapper<HandlerRequest, HandlerResponse> {}

impl<W: Wrapper<HandlerRequest, HandlerResponse>> HandlerWrapper for W {}

/// The rest of a handler chain, ending with the handler.
pub type HandlerNext = Next<HandlerRequest, HandlerResponse>;

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
pub type TowerHandlerLayer<S> = TowerLayer<S, HandlerRequest, HandlerResponse>;

/// The innermost service a tower layer wraps on the handler side.
pub type HandlerNextService = NextService<HandlerRequest, HandlerResponse>;

/// A handler wrapper from an async closure taking the request and `next`.
pub fn handler_fn<F, Fut>(f: F) -> impl HandlerWrapper
where
    F: Fn(HandlerRequest, HandlerNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<HandlerResponse>> + Send + 'static,
{
    wrapper_fn(f)
}
