//! The shared AMQP connection and publishing channel (made again after a
//! failure on next use), and the mapping of names and headers onto AMQP.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ConnectionProperties, ExchangeKind};

use super::RabbitMqOptions;
use crate::broker::backend::unavailable;
use crate::{Error, Metadata, Result};

/// Headers RabbitMQ sets itself; not passed to handlers.
const BROKER_HEADERS: [&str; 5] = [
    "x-death",
    "x-delivery-count",
    "x-first-death-",
    "x-last-death-",
    "x-received-from",
];

pub(super) struct Connection {
    uri: String,
    address: String,
    exchange: String,
    timeout: Duration,
    connection: tokio::sync::Mutex<Option<Arc<lapin::Connection>>>,
    publisher: tokio::sync::Mutex<Option<Channel>>,
}

impl Connection {
    pub(super) fn new(options: &RabbitMqOptions) -> Self {
        Self {
            uri: options.address.clone(),
            address: redact(&options.address),
            exchange: options.exchange.clone(),
            timeout: options.timeout,
            connection: tokio::sync::Mutex::default(),
            publisher: tokio::sync::Mutex::default(),
        }
    }

    /// The address, password left out.
    pub(super) fn address(&self) -> &str {
        &self.address
    }

    pub(super) fn exchange(&self) -> &str {
        &self.exchange
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// 503 for a failure of `what`.
    pub(super) fn error(&self, what: &str, err: impl std::fmt::Display) -> Error {
        unavailable("rabbitmq", &self.address, format!("{what}: {err}"))
    }

    /// The open connection, connecting (again) when there is none.
    ///
    /// # Errors
    ///
    /// 503 with the address and reason.
    pub(super) async fn connection(&self) -> Result<Arc<lapin::Connection>> {
        let mut current = self.connection.lock().await;
        if let Some(connection) = current.as_ref()
            && connection.status().connected()
        {
            return Ok(connection.clone());
        }
        let properties = ConnectionProperties::default().with_connection_name("micro".into());
        let connection = tokio::time::timeout(
            self.timeout,
            lapin::Connection::connect(&self.uri, properties),
        )
        .await
        .map_err(|_| self.error("connecting", "timed out"))?
        .map_err(|e| self.error("connecting", e))?;
        let connection = Arc::new(connection);
        *current = Some(connection.clone());
        tracing::info!(address = %self.address, "rabbitmq connected");
        Ok(connection)
    }

    /// A new channel on the connection, with the exchange declared.
    ///
    /// # Errors
    ///
    /// 503 with the address and reason.
    pub(super) async fn channel(&self) -> Result<Channel> {
        let connection = self.connection().await?;
        let channel = self
            .bounded("opening a channel", connection.create_channel())
            .await?;
        self.bounded(
            "declaring the exchange",
            channel.exchange_declare(
                short(&self.exchange)?,
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(channel)
    }

    /// The publishing channel (publisher confirms on).
    ///
    /// # Errors
    ///
    /// 503 with the address and reason.
    pub(super) async fn publisher(&self) -> Result<Channel> {
        let mut current = self.publisher.lock().await;
        if let Some(channel) = current.as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let channel = self.channel().await?;
        self.bounded(
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        *current = Some(channel.clone());
        Ok(channel)
    }

    /// Closes the connection; the next use connects again.
    pub(super) async fn close(&self) {
        self.publisher.lock().await.take();
        let connection = self.connection.lock().await.take();
        if let Some(connection) = connection {
            let _ = tokio::time::timeout(self.timeout, connection.close(200, "disconnect".into()))
                .await;
        }
    }

    /// `fut` within the timeout, its failure as a 503 about `what`.
    pub(super) async fn bounded<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = lapin::Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| self.error(what, "timed out"))?
            .map_err(|e| self.error(what, e))
    }
}

/// `uri` without its password.
fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => uri.to_owned(),
    }
}

/// An AMQP short string (a name or routing key), 400 when over 255 bytes.
pub(super) fn short(text: &str) -> Result<ShortString> {
    ShortString::try_new(text).map_err(|_| {
        Error::bad_request(format!(
            "{text:?} is longer than the 255 bytes AMQP allows for names"
        ))
    })
}

/// Message headers as an AMQP header table (string values).
pub(super) fn to_table(metadata: &Metadata) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in metadata.iter() {
        match ShortString::try_new(key) {
            Ok(key) => {
                table.insert(key, AMQPValue::LongString(LongString::from(value)));
            }
            Err(_) => tracing::warn!(header = key, "header name too long for AMQP; left out"),
        }
    }
    table
}

/// An AMQP header table as message headers (strings, numbers and booleans;
/// the broker's own headers left out).
pub(super) fn from_table(table: Option<&FieldTable>) -> Metadata {
    let mut metadata = Metadata::new();
    for (key, value) in table.into_iter().flat_map(|t| t.inner().iter()) {
        let key = key.as_str();
        let lower = key.to_ascii_lowercase();
        if BROKER_HEADERS.iter().any(|h| lower.starts_with(h)) {
            continue;
        }
        if let Some(value) = value_text(value) {
            metadata.insert(key, value);
        }
    }
    metadata
}

/// The text of a header value, for the kinds a header can sensibly be.
pub(super) fn value_text(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
    }

    #[test]
    fn headers_round_trip() {
        let mut md = Metadata::new();
        md.insert("content-type", "application/json");
        md.insert("x-user", "ada");
        let mut table = to_table(&md);
        table.insert("x-delivery-count".into(), AMQPValue::LongInt(2));
        table.insert("x-death".into(), AMQPValue::Void);
        let back = from_table(Some(&table));
        assert_eq!(back, md);
        assert!(short(&"x".repeat(256)).is_err());
    }
}
