//! `publish TOPIC JSON`: one JSON message on the broker, as `micro
//! publish` sends it.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use micro_runtime::Error;
use micro_runtime::broker::{Broker, HEADER_CONTENT_TYPE, Message};
use tokio::sync::OnceCell;

use super::{exactly, json};
use crate::command::Command;

/// Publishes events.
pub struct Publish {
    broker: Option<Arc<dyn Broker>>,
    connected: OnceCell<()>,
}

impl Publish {
    /// Publishes to `broker` (connected on first use); without one it
    /// answers 400.
    pub fn new(broker: Option<Arc<dyn Broker>>) -> Self {
        Self {
            broker,
            connected: OnceCell::new(),
        }
    }
}

#[async_trait]
impl Command for Publish {
    fn name(&self) -> &str {
        "publish"
    }

    fn usage(&self) -> String {
        "publish TOPIC JSON — one message on the broker".into()
    }

    async fn run(&self, args: Vec<String>) -> micro_runtime::Result<String> {
        let [topic, text] = exactly::<2>(args, "publish TOPIC JSON")?;
        let value = json(&text, "the message")?;
        let broker = self
            .broker
            .as_ref()
            .ok_or_else(|| Error::bad_request("this bot has no broker to publish to"))?;
        self.connected.get_or_try_init(|| broker.connect()).await?;
        let message = Message::new(Bytes::from(value.to_string()))
            .with_header(HEADER_CONTENT_TYPE, "application/json");
        broker.publish(&topic, message).await?;
        Ok(format!("published to {topic}"))
    }
}
