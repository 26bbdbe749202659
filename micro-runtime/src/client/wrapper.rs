//! What client wrappers see: an outgoing call, encoded, not yet routed,
//! and what it returned.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use super::CallOptions;
use crate::chain::{Next, NextService, TowerLayer, Wrapper, wrapper_fn};
use crate::codec::ContentType;
use crate::endpoint::CallKind;
use crate::transport::{RawReceiver, RawSender};
use crate::{Context, Result};

/// The body of an outgoing call.
#[derive(Debug)]
pub enum ClientBody {
    /// The encoded request of a unary call.
    Unary(Bytes),
    /// A streaming call: messages are sent on the returned [`RawSender`].
    Stream,
}

/// What an outgoing call returned.
pub enum ClientResponse {
    /// The encoded response of a unary call.
    Unary(Bytes),
    /// The halves of a streaming call.
    Stream {
        /// Request messages go here.
        tx: RawSender,
        /// Response messages come from here.
        rx: RawReceiver,
    },
}

impl std::fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientResponse::Unary(body) => f.debug_tuple("Unary").field(&body.len()).finish(),
            ClientResponse::Stream { .. } => f.write_str("Stream"),
        }
    }
}

/// An outgoing call as a client wrapper sees it: encoded, not yet routed.
pub struct ClientRequest {
    pub(crate) service: Arc<str>,
    pub(crate) endpoint: Cow<'static, str>,
    /// The proto package when a typed stub knows it (see [`RequestHead`](crate::transport::RequestHead)).
    pub(crate) package: &'static str,
    pub(crate) kind: CallKind,
    pub(crate) content_type: ContentType,
    pub(crate) ctx: Context,
    pub(crate) options: CallOptions,
    pub(crate) idempotent: bool,
    pub(crate) body: ClientBody,
}

impl ClientRequest {
    /// The service called.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The endpoint called, e.g. `Greeter.Hello`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The RPC kind.
    pub fn kind(&self) -> CallKind {
        self.kind
    }

    /// Codec of the body.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// The context the call carries (metadata and deadline).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The context, to add metadata (e.g. an authorization token).
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// The call's options.
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The encoded request of a unary call.
    pub fn body(&self) -> Option<&Bytes> {
        match &self.body {
            ClientBody::Unary(body) => Some(body),
            ClientBody::Stream => None,
        }
    }
}

impl std::fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRequest")
            .field("service", &self.service)
            .field("endpoint", &self.endpoint)
            .field("kind", &self.kind)
            .field("context", &self.ctx)
            .finish_non_exhaustive()
    }
}

/// Middleware around a client's calls: a [`Wrapper`] of [`ClientRequest`]s.
///
/// Implemented by every `Wrapper<ClientRequest, ClientResponse>`; write one
/// with [`client_fn`] or by implementing [`Wrapper`].
///
/// # Examples
///
/// ```
/// use micro_runtime::wrapper::{client_fn, ClientNext, ClientRequest};
///
/// // Stamp every outgoing call with a tenant id.
/// let tenant = client_fn(|mut req: ClientRequest, next: ClientNext| async move {
///     req.context_mut().metadata_mut().insert("x-tenant", "acme");
///     next.run(req).await
/// });
/// # let _ = tenant;
/// ```
pub trait ClientWrapper: Wrapper<ClientRequest, ClientResponse> {}

impl<W: Wrapper<ClientRequest, ClientResponse>> ClientWrapper for W {}

/// The rest of a client chain, ending with the call itself (selection,
/// retries, transport).
pub type ClientNext = Next<ClientRequest, ClientResponse>;

/// A tower layer used as a client wrapper.
pub type TowerClientLayer<S> = TowerLayer<S, ClientRequest, ClientResponse>;

/// The innermost service a tower layer wraps on the client side.
pub type ClientNextService = NextService<ClientRequest, ClientResponse>;

/// A client wrapper from an async closure taking the request and `next`.
pub fn client_fn<F, Fut>(f: F) -> impl ClientWrapper
where
    F: Fn(ClientRequest, ClientNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ClientResponse>> + Send + 'static,
{
    wrapper_fn(f)
}
