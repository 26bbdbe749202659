//! The gRPC client transport: calls plain gRPC servers (and micro servers,
//! whose TCP listener answers gRPC too) over HTTP/2 without TLS (h2c with
//! prior knowledge), one multiplexed connection per dial, through hyper.

use std::sync::Arc;

use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::client_conn::GrpcConnection;
use crate::env_vars;
use crate::error::Origin;
use crate::transport::tcp::{TcpOptions, TcpTransport};
use crate::transport::{Connection, Dispatcher, Listener, Security, Transport};
use crate::{Error, Result};

/// gRPC client tuning.
#[derive(Clone, Debug)]
pub struct GrpcOptions {
    /// Largest message sent or accepted, in bytes (`MICRO_TRANSPORT_MAX_FRAME`,
    /// default 4 MiB, gRPC's usual limit).
    pub max_message: usize,
}

impl Default for GrpcOptions {
    fn default() -> Self {
        Self {
            max_message: 4 * 1024 * 1024,
        }
    }
}

impl GrpcOptions {
    /// Defaults overridden by `MICRO_TRANSPORT_MAX_FRAME` (the same limit as
    /// the native transport's).
    ///
    /// # Errors
    ///
    /// 400 when the variable does not parse.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_MAX_FRAME")? {
            options.max_message = n.max(1024) as usize;
        }
        Ok(options)
    }
}

/// Calls over gRPC: `POST /<package>.<Service>/<Method>` on an HTTP/2
/// connection per dialled node, every call a stream of it. Unary and the
/// three streaming kinds; deadlines as `grpc-timeout`, metadata as headers,
/// errors from `grpc-status` (micro's whole error from `micro-error-bin`
/// when the server is micro). See `docs/grpc.md`.
///
/// A client picks it per node by the node's `protocols` metadata, or for
/// every call with `MICRO_TRANSPORT=grpc`. It listens with the native TCP
/// listener, which answers gRPC on the same port.
#[derive(Clone, Debug, Default)]
pub struct GrpcTransport {
    options: Arc<GrpcOptions>,
    /// TLS of dialled connections, ALPN `h2` (feature `tls`).
    #[cfg(feature = "tls")]
    client_tls: Option<crate::tls::ClientTls>,
    /// TLS of the listener (feature `tls`).
    #[cfg(feature = "tls")]
    server_tls: Option<crate::tls::ServerTls>,
}

impl GrpcTransport {
    /// A transport with these options.
    // The update fills the TLS fields, which exist with the `tls` feature only.
    #[cfg_attr(not(feature = "tls"), allow(clippy::needless_update))]
    pub fn new(options: GrpcOptions) -> Self {
        Self {
            options: Arc::new(options),
            ..Self::default()
        }
    }

    /// Dials every server with TLS (ALPN `h2`).
    #[cfg(feature = "tls")]
    pub fn client_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.client_tls = Some(tls);
        self
    }

    /// Listens with TLS only (the TCP listener's; see
    /// [`TcpTransport::server_tls`]).
    #[cfg(feature = "tls")]
    pub fn server_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.server_tls = Some(tls);
        self
    }

    /// Server and client TLS from the `MICRO_TLS_*` variables, as
    /// [`TcpTransport::tls_from_env`].
    ///
    /// # Errors
    ///
    /// 400 when a variable names a file that cannot be used.
    #[cfg(feature = "tls")]
    pub fn tls_from_env(mut self) -> Result<Self> {
        if let Some(tls) = crate::tls::ServerTls::from_env()? {
            self.server_tls = Some(tls);
        }
        if let Some(tls) = crate::tls::ClientTls::from_env()? {
            self.client_tls = Some(tls);
        }
        Ok(self)
    }
}

#[async_trait::async_trait]
impl Transport for GrpcTransport {
    fn name(&self) -> &'static str {
        "grpc"
    }

    async fn dial(&self, address: &str) -> Result<Arc<dyn Connection>> {
        let not_sent = |what: &str, e: &dyn std::fmt::Display| {
            Error::unavailable(format!("{what} {address}: {e}")).with_origin(Origin::NotSent)
        };
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| not_sent("connecting to", &e))?;
        let _ = stream.set_nodelay(true);
        let failure = Arc::<std::sync::OnceLock<Error>>::default();
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.client_tls {
            let stream = crate::transport::tcp::tls_connect(tls, address, stream, true).await?;
            let io = crate::tls::Tapped::new(stream, address, failure.clone());
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .handshake(TokioIo::new(io))
                .await
                .map_err(|e| {
                    failure
                        .get()
                        .cloned()
                        .unwrap_or_else(|| not_sent("HTTP/2 handshake with", &e))
                })?;
            return Ok(Arc::new(GrpcConnection::start(
                address,
                "https",
                sender,
                connection,
                failure,
                self.options.max_message,
            )));
        }
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| not_sent("HTTP/2 handshake with", &e))?;
        Ok(Arc::new(GrpcConnection::start(
            address,
            "http",
            sender,
            connection,
            failure,
            self.options.max_message,
        )))
    }

    fn dial_security(&self) -> Security {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.client_tls {
            return if tls.has_cert() {
                Security::MutualTls
            } else {
                Security::Tls
            };
        }
        Security::Plain
    }

    #[cfg(feature = "tls")]
    fn client_tls(&self) -> Option<crate::tls::ClientTls> {
        self.client_tls.clone()
    }

    async fn listen(
        &self,
        address: &str,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Box<dyn Listener>> {
        let tcp = TcpTransport::new(TcpOptions::from_env()?);
        #[cfg(feature = "tls")]
        let tcp = match &self.server_tls {
            Some(tls) => tcp.server_tls(tls.clone()),
            None => tcp,
        };
        tcp.listen(address, dispatcher).await
    }
}
