//! One client connection to NATS, made on first use and reconnecting by
//! itself (backoff up to 4 s, no limit; core subscriptions are restored).

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};

use crate::{Error, Result};

/// A lazily connected NATS client. `id` names the user in errors
/// (`micro.broker`, `micro.transport`).
pub(crate) struct Connection {
    address: String,
    timeout: Duration,
    id: &'static str,
    /// The connected client, read without waiting (every publish does).
    current: std::sync::Mutex<Option<Arc<Client>>>,
    /// Held while connecting, so one task connects and the others wait.
    connecting: tokio::sync::Mutex<()>,
}

impl Connection {
    /// A connection to `address` (URLs, comma-separated), the first
    /// connect bounded by `timeout`.
    pub(crate) fn new(address: &str, timeout: Duration, id: &'static str) -> Self {
        Self {
            address: address.to_owned(),
            timeout,
            id,
            current: std::sync::Mutex::default(),
            connecting: tokio::sync::Mutex::default(),
        }
    }

    /// The client when connected already (no waiting, no allocation).
    pub(crate) fn connected(&self) -> Option<Arc<Client>> {
        self.current.lock().unwrap().clone()
    }

    /// 503 naming the server and `why`.
    pub(crate) fn unavailable(&self, why: impl std::fmt::Display) -> Error {
        Error::unavailable(format!("nats at {}: {why}", self.address)).with_id(self.id)
    }

    /// The client, connecting first if needed.
    ///
    /// # Errors
    ///
    /// 503 with the address and reason when the server cannot be reached.
    pub(crate) async fn client(&self) -> Result<Arc<Client>> {
        if let Some(client) = self.connected() {
            return Ok(client);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(client) = self.connected() {
            return Ok(client);
        }
        let address = self.address.clone();
        let options = ConnectOptions::new()
            .name("micro")
            .connection_timeout(self.timeout)
            // Subjects are checked before they are used (stricter).
            .skip_subject_validation(true)
            .event_callback(move |event| {
                let address = address.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!(address, "nats connected")
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!(address, "nats disconnected; reconnecting")
                        }
                        other => tracing::debug!(address, event = %other, "nats event"),
                    }
                }
            });
        let servers: Vec<async_nats::ServerAddr> = self
            .address
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.unavailable(format!("bad address: {e}")))?;
        let connected = tokio::time::timeout(self.timeout, options.connect(servers))
            .await
            .map_err(|_| self.unavailable("connecting timed out"))?
            .map_err(|e| self.unavailable(e))?;
        let connected = Arc::new(connected);
        *self.current.lock().unwrap() = Some(connected.clone());
        Ok(connected)
    }

    /// Flushes and closes the client; the next use connects again.
    pub(crate) async fn close(&self) -> Result<()> {
        let _connecting = self.connecting.lock().await;
        let client = self.current.lock().unwrap().take();
        if let Some(client) = client
            && let Err(err) = client.drain().await
        {
            tracing::debug!(error = %err, "draining the nats client");
        }
        Ok(())
    }

    /// The server address(es) it was made with.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The limit of the first connection.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}
