//! Slack in socket mode: the bot opens a WebSocket with the app token
//! (`apps.connections.open`), acknowledges every envelope, takes `message`
//! and `app_mention` events as messages, reconnects when Slack says
//! `disconnect`, and replies with `chat.postMessage` and the bot token.
//!
//! Tokens come from the environment only and are never logged. Slack
//! itself is not reachable from the tests: they feed recorded socket-mode
//! payloads through a local WebSocket and Web API (`api_url`).

mod api;
mod envelope;
mod socket;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use micro_runtime::Error;
use tokio::sync::mpsc;

use super::{BUFFER, Input, Message};
use api::Api;

/// Where Slack's Web API is.
pub const SLACK_API: &str = "https://slack.com/api";

/// The tokens (and API address) of a Slack app in socket mode.
#[derive(Clone)]
pub struct SlackOptions {
    /// `xapp-…`: opens socket-mode connections.
    pub app_token: String,
    /// `xoxb-…`: posts the replies.
    pub bot_token: String,
    /// The Web API's base address ([`SLACK_API`]).
    pub api_url: String,
}

impl SlackOptions {
    /// From `MICRO_BOT_SLACK_APP_TOKEN` and `MICRO_BOT_SLACK_BOT_TOKEN`
    /// (and `MICRO_BOT_SLACK_API_URL`, for a proxy or a test).
    ///
    /// # Errors
    ///
    /// 400 naming the variable that is missing.
    pub fn from_env() -> micro_runtime::Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::bad_request(format!("the Slack input needs {name}")))
        };
        Ok(Self {
            app_token: var("MICRO_BOT_SLACK_APP_TOKEN")?,
            bot_token: var("MICRO_BOT_SLACK_BOT_TOKEN")?,
            api_url: std::env::var("MICRO_BOT_SLACK_API_URL").unwrap_or_else(|_| SLACK_API.into()),
        })
    }
}

impl fmt::Debug for SlackOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the tokens.
        f.debug_struct("SlackOptions")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// A Slack workspace, through one app in socket mode.
#[derive(Debug)]
pub struct Slack {
    api: Arc<Api>,
}

impl Slack {
    /// An input for `options`; it connects in [`Input::connect`].
    pub fn new(options: SlackOptions) -> Self {
        Self {
            api: Arc::new(Api::new(options)),
        }
    }
}

#[async_trait]
impl Input for Slack {
    fn name(&self) -> &str {
        "slack"
    }

    async fn connect(&self) -> micro_runtime::Result<mpsc::Receiver<Message>> {
        let me = self.api.auth_test().await?;
        let url = self.api.open_connection().await?;
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(socket::serve(self.api.clone(), me, url, tx));
        Ok(rx)
    }

    async fn send(&self, channel: &str, text: &str) -> micro_runtime::Result<()> {
        self.api.post_message(channel, text).await
    }
}
