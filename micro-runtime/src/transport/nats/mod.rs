//! RPC over NATS request/reply (transport `nats`, cargo feature `nats`).
//!
//! The design follows; it is `docs/transport-nats.md` in the repository.
#![doc = include_str!("../../../../docs/transport-nats.md")]

mod client;
mod headers;
mod outbox;
mod server;
mod subject;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use super::{Connection, Dispatcher, Listener, Transport};
use crate::error::Origin;
use crate::{Result, env_vars};
use client::ClientSide;
use outbox::Outbox;

/// Settings of the NATS transport.
#[derive(Clone, Debug)]
pub struct NatsTransportOptions {
    /// Server URL(s), comma-separated (`MICRO_TRANSPORT_ADDRESS`, default
    /// `nats://127.0.0.1:4222`).
    pub address: String,
    /// Bytes in flight per stream direction before the writer waits
    /// (`MICRO_TRANSPORT_STREAM_WINDOW`, default 256 KiB).
    pub stream_window: u32,
    /// Silence of a node with calls in flight after which it is pinged (a
    /// node that is gone fails them with 503), and of a caller on a stream
    /// after which its inbox is probed (a caller that is gone has the
    /// handler dropped) (`MICRO_TRANSPORT_KEEPALIVE`, default 500 ms).
    pub probe_after: Duration,
    /// Limit of the first connection to NATS and of a ping (default 5 s).
    pub timeout: Duration,
}

impl Default for NatsTransportOptions {
    fn default() -> Self {
        Self {
            address: crate::nats::DEFAULT_ADDRESS.to_owned(),
            stream_window: super::DEFAULT_STREAM_WINDOW,
            probe_after: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
        }
    }
}

impl NatsTransportOptions {
    /// Defaults overridden by `MICRO_TRANSPORT_ADDRESS`,
    /// `MICRO_TRANSPORT_STREAM_WINDOW` and `MICRO_TRANSPORT_KEEPALIVE`.
    ///
    /// # Errors
    ///
    /// 400 naming a variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(address) = env_vars::string("MICRO_TRANSPORT_ADDRESS") {
            options.address = address;
        }
        if let Some(n) = env_vars::number("MICRO_TRANSPORT_STREAM_WINDOW")? {
            options.stream_window = n.max(1024);
        }
        if let Some(d) = env_vars::duration("MICRO_TRANSPORT_KEEPALIVE")? {
            options.probe_after = d.max(Duration::from_millis(10));
        }
        Ok(options)
    }
}

/// RPC over NATS. Clones share the NATS connection.
///
/// # Examples
///
/// ```no_run
/// # fn demo() -> micro_runtime::Result<()> {
/// use std::sync::Arc;
/// use micro_runtime::transport::nats::{NatsTransport, NatsTransportOptions};
///
/// let transport = NatsTransport::new(NatsTransportOptions {
///     address: "nats://127.0.0.1:4222".into(),
///     ..NatsTransportOptions::default()
/// });
/// let service = micro_runtime::Service::builder()
///     .name("greeter")
///     .transport(Arc::new(transport))
///     .build()?;
/// # let _ = service; Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NatsTransport {
    inner: Arc<Inner>,
}

struct Inner {
    options: NatsTransportOptions,
    connection: crate::nats::Connection,
    outbox: OnceCell<Arc<Outbox>>,
    client_side: OnceCell<Arc<ClientSide>>,
}

impl std::fmt::Debug for NatsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsTransport")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl NatsTransport {
    /// A transport for `options`; it connects on first use.
    pub fn new(options: NatsTransportOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                connection: crate::nats::Connection::new(
                    &options.address,
                    options.timeout,
                    "micro.transport",
                ),
                options,
                outbox: OnceCell::new(),
                client_side: OnceCell::new(),
            }),
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &NatsTransportOptions {
        &self.inner.options
    }

    async fn outbox(&self) -> Result<Arc<Outbox>> {
        self.inner
            .outbox
            .get_or_try_init(|| async {
                let client = self.inner.connection.client().await?;
                Ok(Arc::new(Outbox::new(client)))
            })
            .await
            .cloned()
    }

    async fn client_side(&self) -> Result<Arc<ClientSide>> {
        let outbox = self.outbox().await?;
        self.inner
            .client_side
            .get_or_try_init(|| ClientSide::start(outbox, self.inner.options.clone()))
            .await
            .cloned()
    }
}

#[async_trait::async_trait]
impl Transport for NatsTransport {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn dial(&self, address: &str) -> Result<Arc<dyn Connection>> {
        let subject = subject::of_address(address)?;
        let side = self
            .client_side()
            .await
            .map_err(|e| e.with_origin(Origin::NotSent))?;
        Ok(Arc::new(side.dial(subject).await?))
    }

    /// Listens on `nats:<subject>` when `address` names one, else on a
    /// fresh node subject of the dispatcher's service (a host:port from
    /// `MICRO_SERVER_ADDRESS` means nothing here and is ignored).
    async fn listen(
        &self,
        address: &str,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Box<dyn Listener>> {
        let node = match subject::of_address(address) {
            Ok(subject) => subject.to_owned(),
            Err(_) => subject::node_subject(dispatcher.service()),
        };
        let outbox = self.outbox().await?;
        Ok(Box::new(
            server::listen(
                outbox,
                node,
                dispatcher,
                self.inner.options.stream_window,
                self.inner.options.probe_after,
            )
            .await?,
        ))
    }
}
