//! The gRPC server: HTTP/2 (h2c) connections the TCP listener recognised by
//! their preface, served by hyper, every call dispatched to the node's
//! service like a native one (see `docs/grpc.md`).

mod body;
mod call;
mod catalog;
mod debug_pb;
mod health;
mod health_pb;
mod metadata;
mod reflection;
mod reflection_pb;
mod rewind;
mod route;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OnceCell, watch};

use self::catalog::Catalog;
use self::debug_pb::{DESCRIBE, ServiceDescription};
pub(crate) use self::rewind::Rewind;
use crate::endpoint::CallKind;
use crate::transport::tcp::TcpOptions;
use crate::transport::{Dispatcher, InFlight, IncomingBody, IncomingCall, RequestHead};
use crate::{Error, Metadata, Result};

/// HTTP/2's client preface, the first bytes of every HTTP/2 connection.
pub(crate) const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Its first bytes: enough to tell it from the native protocol's preface.
pub(crate) const H2_PREFACE_START: &[u8] = b"PRI ";

/// Where a listener is in its life: connections follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Calls are welcome.
    Serving,
    /// Shutting down: GOAWAY sent, calls in flight finish.
    Draining,
    /// The grace period is over: connections close, calls are cancelled.
    Closed,
}

/// What the gRPC side of one listener shares between its connections.
pub(crate) struct GrpcServer {
    dispatcher: Arc<dyn Dispatcher>,
    options: TcpOptions,
    in_flight: InFlight,
    /// Open HTTP/2 connections (a drain waits for them to close).
    connections: InFlight,
    phase: watch::Sender<Phase>,
    catalog: OnceCell<Arc<Catalog>>,
}

impl GrpcServer {
    /// The gRPC side of a listener serving `dispatcher`; its calls count in
    /// `in_flight` (the listener's, so shutdown waits for them too).
    pub(crate) fn new(
        dispatcher: Arc<dyn Dispatcher>,
        options: TcpOptions,
        in_flight: InFlight,
    ) -> Self {
        Self {
            dispatcher,
            options,
            in_flight,
            connections: InFlight::default(),
            phase: watch::Sender::new(Phase::Serving),
            catalog: OnceCell::new(),
        }
    }

    /// Moves every connection to `phase` (draining sends GOAWAY; closed
    /// drops the connections and the calls on them).
    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Resolves once every HTTP/2 connection closed: after
    /// [`Phase::Draining`], each closes by itself once its calls are done
    /// (and their responses sent).
    pub(crate) async fn connections_closed(&self) {
        self.connections.wait_idle().await;
    }

    fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// The node's proto files, from its `Debug.Describe` (asked once, with
    /// the metadata of the call that first needs it).
    async fn catalog(&self, metadata: &Metadata) -> Result<Arc<Catalog>> {
        self.catalog
            .get_or_try_init(|| async {
                let service = self
                    .dispatcher
                    .service()
                    .ok_or_else(|| Error::new(501, "this listener serves no named service"))?;
                let mut head = RequestHead::new(service.to_owned(), DESCRIBE, CallKind::Unary);
                head.metadata = metadata.clone();
                let body = self
                    .dispatcher
                    .dispatch(IncomingCall {
                        head,
                        body: IncomingBody::Unary(Bytes::new()),
                    })
                    .await?
                    .unwrap_or_default();
                let description = ServiceDescription::decode(&body[..]).map_err(|e| {
                    Error::internal(format!("Debug.Describe answer does not decode: {e}"))
                })?;
                Ok(Arc::new(Catalog::new(&description, &*self.dispatcher)))
            })
            .await
            .cloned()
    }

    /// Serves one HTTP/2 connection until it ends or the listener closes.
    pub(crate) async fn serve<I>(self: Arc<Self>, io: I, peer: String)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _open = self.connections.enter();
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .keep_alive_interval(self.options.keepalive_interval)
            .keep_alive_timeout(self.options.keepalive_timeout)
            .max_concurrent_streams(self.options.max_streams)
            .max_header_list_size(self.options.max_head_size);
        let mut phase = self.phase.subscribe();
        let server = self.clone();
        let service = service_fn(move |request| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(call::handle(server, request).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let mut draining = false;
        loop {
            if !draining && *phase.borrow_and_update() != Phase::Serving {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(err) = ended {
                        tracing::debug!(peer = %peer, error = %err, "gRPC connection ended");
                    }
                    return;
                }
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() == Phase::Closed {
                        // Dropping the connection drops the calls on it.
                        return;
                    }
                }
            }
        }
    }
}
