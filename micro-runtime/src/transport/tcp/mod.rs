//! The native protocol over TCP (transport `tcp`, the default).
//!
//! The wire format follows; it is `docs/protocol.md` in the repository.
#![doc = include_str!("../../../../docs/protocol.md")]

mod client;
mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod head;
mod ids;
mod pending;
mod server;
#[cfg(feature = "tls")]
mod tls;
mod wire;

#[cfg(feature = "tls")]
pub(crate) use tls::connect as tls_connect;

use std::sync::Arc;
use std::time::Duration;

use super::{Connection, Dispatcher, Listener, Security, Transport};
use crate::{Result, env_vars};

/// Settings of the TCP transport.
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Largest frame payload accepted (`MICRO_TRANSPORT_MAX_FRAME`, default 4 MiB).
    pub max_frame_size: u32,
    /// Bytes in flight per stream direction before the writer waits
    /// (`MICRO_TRANSPORT_STREAM_WINDOW`, default 256 KiB).
    pub stream_window: u32,
    /// Silence after which a PING is sent (`MICRO_TRANSPORT_KEEPALIVE`, 10 s).
    pub keepalive_interval: Duration,
    /// Silence after which the connection is closed (`MICRO_TRANSPORT_KEEPALIVE_TIMEOUT`, 20 s).
    pub keepalive_timeout: Duration,
    /// Most metadata entries a request may carry; more is refused with 431
    /// (`MICRO_TRANSPORT_MAX_METADATA`, default 256).
    pub max_metadata: u16,
    /// Most bytes of a request head, metadata included; more is refused
    /// with 431 (`MICRO_TRANSPORT_MAX_HEAD`, default 64 KiB).
    pub max_head_size: u32,
    /// Connections a server serves at once; more are closed as they arrive
    /// (`MICRO_TRANSPORT_MAX_CONNECTIONS`, default 4096).
    pub max_connections: u32,
    /// Calls in flight on one connection; more are refused unprocessed
    /// with 503, so the client may send them elsewhere
    /// (`MICRO_TRANSPORT_MAX_STREAMS`, default 1024).
    pub max_streams: u32,
    /// How long a new connection may take to send its preface
    /// (`MICRO_TRANSPORT_PREFACE_TIMEOUT`, default 10 s).
    pub preface_timeout: Duration,
    /// Bytes a server may hold in partly received frames across all its
    /// connections; a connection that would take more is closed
    /// (`MICRO_TRANSPORT_MAX_PENDING_BYTES`, default 256 MiB).
    pub max_pending_bytes: usize,
    /// How long a server keeps a connection with no call open and no
    /// frame but keepalive pings before it closes it with GOAWAY; the
    /// client dials again on its next call (`MICRO_TRANSPORT_IDLE_TIMEOUT`,
    /// default 5 min; `0` keeps idle connections open).
    pub idle_timeout: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            max_frame_size: 4 * 1024 * 1024,
            stream_window: super::DEFAULT_STREAM_WINDOW,
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(20),
            max_metadata: 256,
            max_head_size: 64 * 1024,
            max_connections: 4096,
            max_streams: 1024,
            preface_timeout: Duration::from_secs(10),
            max_pending_bytes: 256 * 1024 * 1024,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

impl TcpOptions {
    /// Defaults overridden by the `MICRO_TRANSPORT_*` variables.
    ///
    /// # Errors
    ///
    /// 400 naming a variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_MAX_FRAME")? {
            options.max_frame_size = n.max(1024);
        }
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_STREAM_WINDOW")? {
            options.stream_window = n.max(1024);
        }
        if let Some(d) = env_vars::duration("MICRO_TRANSPORT_KEEPALIVE")? {
            options.keepalive_interval = d;
            options.keepalive_timeout = d * 2;
        }
        if let Some(d) = env_vars::duration("MICRO_TRANSPORT_KEEPALIVE_TIMEOUT")? {
            options.keepalive_timeout = d;
        }
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_MAX_METADATA")? {
            options.max_metadata = u16::try_from(n).unwrap_or(u16::MAX);
        }
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_MAX_HEAD")? {
            options.max_head_size = n.max(1024);
        }
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_MAX_CONNECTIONS")? {
            options.max_connections = n.max(1);
        }
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_MAX_STREAMS")? {
            options.max_streams = n.max(1);
        }
        if let Some(d) = env_vars::duration("MICRO_TRANSPORT_PREFACE_TIMEOUT")? {
            options.preface_timeout = d;
        }
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_MAX_PENDING_BYTES")? {
            options.max_pending_bytes = (n as usize).max(64 * 1024);
        }
        if let Some(d) = env_vars::duration("MICRO_TRANSPORT_IDLE_TIMEOUT")? {
            options.idle_timeout = d;
        }
        Ok(options)
    }

    /// What one request head may hold on a server with these options.
    pub(crate) fn head_limits(&self) -> head::HeadLimits {
        head::HeadLimits {
            max_metadata: usize::from(self.max_metadata),
            max_head_size: self.max_head_size as usize,
        }
    }
}

/// The native TCP transport.
#[derive(Clone, Debug, Default)]
pub struct TcpTransport {
    options: TcpOptions,
    /// TLS of the listener (feature `tls`).
    #[cfg(feature = "tls")]
    server_tls: Option<crate::tls::ServerTls>,
    /// TLS of dialled connections (feature `tls`).
    #[cfg(feature = "tls")]
    client_tls: Option<crate::tls::ClientTls>,
}

impl TcpTransport {
    /// A transport with these options.
    // The update fills the TLS fields, which exist with the `tls` feature only.
    #[cfg_attr(not(feature = "tls"), allow(clippy::needless_update))]
    pub fn new(options: TcpOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// The options.
    pub fn options(&self) -> &TcpOptions {
        &self.options
    }

    /// Listens with TLS only (and mutual TLS when `tls` has a client CA):
    /// native protocol and gRPC alike, told apart by ALPN.
    #[cfg(feature = "tls")]
    pub fn server_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.server_tls = Some(tls);
        self
    }

    /// Dials every node with TLS.
    #[cfg(feature = "tls")]
    pub fn client_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.client_tls = Some(tls);
        self
    }

    /// Server and client TLS from the `MICRO_TLS_*` variables
    /// ([`ServerTls::from_env`](crate::tls::ServerTls::from_env),
    /// [`ClientTls::from_env`](crate::tls::ClientTls::from_env)); unchanged
    /// where they are unset.
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
impl Transport for TcpTransport {
    fn name(&self) -> &'static str {
        "tcp"
    }

    async fn dial(&self, address: &str) -> Result<Arc<dyn Connection>> {
        Ok(Arc::new(
            client::dial(
                address,
                self.options.clone(),
                #[cfg(feature = "tls")]
                self.client_tls.as_ref(),
            )
            .await?,
        ))
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
        Ok(Box::new(
            server::listen(
                address,
                dispatcher,
                self.options.clone(),
                #[cfg(feature = "tls")]
                self.server_tls.clone(),
            )
            .await?,
        ))
    }
}

/// Frame and head codecs, for the benchmarks.
#[doc(hidden)]
pub mod bench {
    use bytes::{Bytes, BytesMut};

    use super::frame::{FrameParser, Kind, Parsed, put_header};
    use crate::transport::RequestHead;

    /// Appends one MESSAGE frame.
    pub fn encode_message_frame(buf: &mut BytesMut, stream: u32, body: &[u8]) {
        put_header(buf, Kind::Message, 0, stream, body.len());
        buf.extend_from_slice(body);
    }

    /// Parses every complete frame in `buf`, taking each message out of
    /// its run; returns how many there were.
    pub fn parse_frames(buf: &mut BytesMut, max_frame: u32) -> usize {
        let mut parser = FrameParser::new(max_frame);
        let mut n = 0;
        loop {
            match parser.next(buf) {
                Ok(Some(Parsed::Messages { mut run, .. })) => {
                    while run.next_message().is_some() {
                        n += 1;
                    }
                }
                Ok(Some(_)) => n += 1,
                Ok(None) | Err(_) => return n,
            }
        }
    }

    /// Encodes a request head.
    pub fn encode_head(head: &RequestHead, buf: &mut BytesMut) {
        super::head::encode(head, buf);
    }

    /// Decodes a request head.
    pub fn decode_head(payload: &mut Bytes) -> Option<RequestHead> {
        super::head::decode(payload, super::head::HeadLimits::NONE).ok()
    }
}
