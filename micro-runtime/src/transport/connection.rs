use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::RequestHead;
use super::stream::{Canceller, RawReceiver, RawSender};
use crate::endpoint::CallKind;
use crate::error::Origin;
use crate::{Error, Result};

/// One client connection to a node: many calls in flight at once.
pub trait Connection: Send + Sync + 'static {
    /// Starts a unary call. Never waits: the request is queued and the
    /// returned future resolves with the response body.
    fn unary(&self, head: RequestHead, body: Bytes) -> ResponseFuture;

    /// Opens a streaming call: the request half to write, the response half
    /// to read. The caller ends the request half with [`RawSender::finish`].
    ///
    /// # Errors
    ///
    /// 503 (not sent) when the connection is closed or draining.
    fn open_stream(&self, head: RequestHead) -> Result<(RawSender, RawReceiver)>;

    /// Calls currently in flight on this connection.
    fn in_flight(&self) -> usize;

    /// False once the connection closed or the peer said it is going away:
    /// the pool then stops handing it out.
    fn is_usable(&self) -> bool;
}

/// The response of a unary call.
///
/// # Cancel safety
///
/// Dropping it before it resolves cancels the call: the peer is told to
/// abandon it and the handler's future is dropped.
pub struct ResponseFuture {
    state: State,
}

enum State {
    Ready(Option<Result<Bytes>>),
    Pending {
        rx: oneshot::Receiver<Result<Bytes>>,
        cancel: Option<Canceller>,
    },
}

impl ResponseFuture {
    /// A response that is already known (typically a local error).
    pub fn ready(result: Result<Bytes>) -> Self {
        Self {
            state: State::Ready(Some(result)),
        }
    }

    pub(crate) fn pending(rx: oneshot::Receiver<Result<Bytes>>, cancel: Canceller) -> Self {
        Self {
            state: State::Pending {
                rx,
                cancel: Some(cancel),
            },
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Bytes>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Ready(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| Err(Error::internal("response polled after completion"))),
            ),
            State::Pending { rx, cancel } => match Pin::new(rx).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(result) => {
                    *cancel = None;
                    Poll::Ready(result.unwrap_or_else(|_| {
                        Err(Error::unavailable("connection closed before the response")
                            .with_origin(Origin::Transport))
                    }))
                }
            },
        }
    }
}

impl Drop for ResponseFuture {
    fn drop(&mut self) {
        if let State::Pending { cancel, .. } = &mut self.state
            && let Some(cancel) = cancel.take()
        {
            cancel.cancel();
        }
    }
}

/// The body of a call arriving at a server.
pub enum IncomingBody {
    /// The single request of a unary call.
    Unary(Bytes),
    /// A streaming call: the caller's messages and the half to answer on.
    Stream {
        /// Messages from the caller.
        rx: RawReceiver,
        /// Messages to the caller.
        tx: RawSender,
    },
}

/// A call arriving at a server.
pub struct IncomingCall {
    /// The request head.
    pub head: RequestHead,
    /// The body.
    pub body: IncomingBody,
}

/// What a server does with calls: implemented by the server's router,
/// driven by a transport's listener.
pub trait Dispatcher: Send + Sync + 'static {
    /// Handles one call. `Ok(Some(body))` is the response message (unary and
    /// client-streaming calls), `Ok(None)` a stream that ended normally.
    fn dispatch(&self, call: IncomingCall) -> BoxFuture<'static, Result<Option<Bytes>>>;

    /// The service this dispatcher serves, when it serves one: callers that
    /// do not name it (gRPC names a proto service and a method) are routed
    /// to it, and transports that address services rather than hosts (NATS)
    /// name their subjects after it. `None` by default.
    fn service(&self) -> Option<&str> {
        None
    }

    /// The kind of `endpoint` (e.g. `Greeter.Hello`), `None` when it does not
    /// serve it: a caller that does not say whether it streams (gRPC) is
    /// served with the body the endpoint expects. `None` by default.
    fn kind(&self, endpoint: &str) -> Option<CallKind> {
        let _ = endpoint;
        None
    }
}

/// A listening server endpoint of a transport.
#[async_trait::async_trait]
pub trait Listener: Send + Sync + 'static {
    /// The address it listens on (`host:port` for TCP).
    fn local_address(&self) -> String;

    /// What a client needs to connect: plaintext, TLS, or TLS with a
    /// client certificate. Registered as node metadata (`tls`, `mtls`).
    fn security(&self) -> Security {
        Security::Plain
    }

    /// Graceful shutdown: stop accepting connections, tell connected clients
    /// to go away (new calls are refused as not processed, so they go to
    /// another node), let calls in flight finish within `grace`, then close.
    async fn shutdown(&self, grace: Duration);
}

/// A way to carry calls between processes (or within one).
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Short name, e.g. `tcp`.
    fn name(&self) -> &'static str;

    /// Connects to a node.
    ///
    /// # Errors
    ///
    /// 503 (not sent) when the node cannot be reached.
    async fn dial(&self, address: &str) -> Result<Arc<dyn Connection>>;

    /// What its dialled connections offer: plaintext, TLS, or TLS with a
    /// client certificate. The client checks it against a node's `tls` and
    /// `mtls` metadata before dialling.
    fn dial_security(&self) -> Security {
        Security::Plain
    }

    /// The TLS it dials with, for a second transport of the same client
    /// (the gRPC one) to share.
    #[cfg(feature = "tls")]
    fn client_tls(&self) -> Option<crate::tls::ClientTls> {
        None
    }

    /// Listens on `address` and hands every call to `dispatcher`.
    ///
    /// # Errors
    ///
    /// 500 when the address cannot be bound.
    async fn listen(
        &self,
        address: &str,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Box<dyn Listener>>;
}

/// How a connection is secured, from a client's point of view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Security {
    /// Plaintext.
    #[default]
    Plain,
    /// TLS: the client verifies the server.
    Tls,
    /// Mutual TLS: each side verifies the other.
    MutualTls,
}

impl Security {
    /// From a node's metadata (`tls=1`, `mtls=1`).
    pub fn of_node(metadata: &std::collections::BTreeMap<String, String>) -> Self {
        let set = |key: &str| metadata.get(key).is_some_and(|v| v.trim() == "1");
        if set(super::MTLS_METADATA) {
            Security::MutualTls
        } else if set(super::TLS_METADATA) {
            Security::Tls
        } else {
            Security::Plain
        }
    }
}
