//! The client connection (made on first use, reconnecting by itself), and
//! the mapping of headers and names onto NATS.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, jetstream};

use super::NatsOptions;
use crate::broker::backend::unavailable;
use crate::{Metadata, Result};

/// The shared client of a broker.
pub(super) struct Connection {
    address: String,
    timeout: Duration,
    /// The connected client, read without waiting (every publish does).
    current: std::sync::Mutex<Option<Arc<Client>>>,
    /// Held while connecting, so one task connects and the others wait.
    connecting: tokio::sync::Mutex<()>,
}

impl Connection {
    pub(super) fn new(options: &NatsOptions) -> Self {
        Self {
            address: options.address.clone(),
            timeout: options.timeout,
            current: std::sync::Mutex::default(),
            connecting: tokio::sync::Mutex::default(),
        }
    }

    /// The client when connected already (no waiting, no allocation).
    pub(super) fn connected(&self) -> Option<Arc<Client>> {
        self.current.lock().unwrap().clone()
    }

    /// The client, connecting first if needed.
    ///
    /// # Errors
    ///
    /// 503 with the address and reason when the server cannot be reached.
    pub(super) async fn client(&self) -> Result<Arc<Client>> {
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
            // Topics are checked before they become subjects (stricter).
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
        let urls: Vec<&str> = self
            .address
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        let servers: Vec<async_nats::ServerAddr> = urls
            .iter()
            .map(|url| url.parse())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| unavailable("nats", &self.address, format!("bad address: {e}")))?;
        let connected = tokio::time::timeout(self.timeout, options.connect(servers))
            .await
            .map_err(|_| unavailable("nats", &self.address, "connecting timed out"))?
            .map_err(|e| unavailable("nats", &self.address, e))?;
        let connected = Arc::new(connected);
        *self.current.lock().unwrap() = Some(connected.clone());
        Ok(connected)
    }

    /// A JetStream context over the client.
    ///
    /// # Errors
    ///
    /// As [`Connection::client`].
    pub(super) async fn jetstream(&self) -> Result<jetstream::Context> {
        let client = self.client().await?;
        Ok(jetstream::ContextBuilder::new()
            .timeout(self.timeout)
            .build(Client::clone(&client)))
    }

    /// Flushes and closes the client; the next use connects again.
    pub(super) async fn close(&self) -> Result<()> {
        let _connecting = self.connecting.lock().await;
        let client = self.current.lock().unwrap().take();
        if let Some(client) = client
            && let Err(err) = client.drain().await
        {
            tracing::debug!(error = %err, "draining the nats client");
        }
        Ok(())
    }

    pub(super) fn address(&self) -> &str {
        &self.address
    }
}

/// The message's headers as NATS headers (values with line breaks, which
/// the protocol cannot carry, are left out and logged).
pub(super) fn to_headers(metadata: &Metadata) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (key, value) in metadata.iter() {
        let name = key.parse::<async_nats::HeaderName>();
        match name {
            Ok(name) if !value.contains(['\r', '\n']) && !key.contains(' ') => {
                headers.insert(name, value);
            }
            _ => tracing::warn!(header = key, "header cannot travel over NATS; left out"),
        }
    }
    headers
}

/// NATS headers as message headers, leaving out the server's `Nats-*` ones.
pub(super) fn from_headers(headers: Option<&HeaderMap>) -> Metadata {
    let Some(headers) = headers else {
        return Metadata::new();
    };
    let mut metadata = Metadata::with_capacity(headers.len() + 3);
    for (name, values) in headers.iter() {
        let name: &str = name.as_ref();
        if name.len() >= 5 && name[..5].eq_ignore_ascii_case("nats-") {
            continue;
        }
        if let Some(value) = values.last() {
            metadata.insert(name, value.as_str());
        }
    }
    metadata
}

/// `name` with every character outside `[A-Za-z0-9_-]` replaced by `_`,
/// for stream and consumer names.
pub(super) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A short stable hash of `text` (FNV-1a), to tell apart names that
/// sanitize alike.
pub(super) fn short_hash(text: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_headers() {
        assert_eq!(sanitize("user.signup.*"), "user_signup__");
        assert_eq!(sanitize("a-b_C9"), "a-b_C9");
        assert_ne!(short_hash("a.b"), short_hash("a_b"));
        let mut md = Metadata::new();
        md.insert("Content-Type", "application/protobuf");
        md.insert("x-user", "ada");
        md.insert("bad", "line\nbreak");
        md.insert("bad\u{7}name", "x");
        md.insert("naïve", "x");
        let mut headers = to_headers(&md);
        headers.insert("Nats-Msg-Id", "1");
        let back = from_headers(Some(&headers));
        assert_eq!(back.get("content-type"), Some("application/protobuf"));
        assert_eq!(back.get("x-user"), Some("ada"));
        assert_eq!(back.get("bad"), None);
        assert_eq!(back.get("nats-msg-id"), None);
        assert_eq!(back.len(), 2);
    }
}
