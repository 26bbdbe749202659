//! The three Web API methods the Slack input uses: `auth.test` (who the
//! bot is), `apps.connections.open` (a socket-mode URL) and
//! `chat.postMessage`.

use std::fmt;

use micro_runtime::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use super::SlackOptions;

/// The Web API with the app's tokens.
pub(super) struct Api {
    options: SlackOptions,
    http: reqwest::Client,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.options.fmt(f)
    }
}

/// Every method's answer: `ok`, else `error`.
#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

impl Api {
    pub(super) fn new(options: SlackOptions) -> Self {
        // rustls needs one crypto provider per process: ring (an app that
        // installed another keeps it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            options,
            http: reqwest::Client::new(),
        }
    }

    /// The bot's own user id (`U…`), to tell mentions of it.
    pub(super) async fn auth_test(&self) -> micro_runtime::Result<String> {
        let answer = self
            .call("auth.test", &self.options.bot_token, json!({}))
            .await?;
        Ok(field(&answer, "user_id"))
    }

    /// A fresh `wss://` URL for socket mode.
    pub(super) async fn open_connection(&self) -> micro_runtime::Result<String> {
        let answer = self
            .call("apps.connections.open", &self.options.app_token, json!({}))
            .await?;
        let url = field(&answer, "url");
        if url.is_empty() {
            return Err(Error::unavailable(
                "Slack's apps.connections.open gave no url",
            ));
        }
        Ok(url)
    }

    /// Posts `text` to `channel` as the bot.
    pub(super) async fn post_message(
        &self,
        channel: &str,
        text: &str,
    ) -> micro_runtime::Result<()> {
        let body = json!({ "channel": channel, "text": text });
        self.call("chat.postMessage", &self.options.bot_token, body)
            .await
            .map(drop)
    }

    async fn call(&self, method: &str, token: &str, body: Value) -> micro_runtime::Result<Answer> {
        let url = format!("{}/{method}", self.options.api_url.trim_end_matches('/'));
        let unreachable = |e: reqwest::Error| {
            // reqwest's text names the URL, never the headers (the token).
            Error::unavailable(format!("Slack {method}: {}", e.without_url()))
        };
        let answer: Answer = self
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?
            .error_for_status()
            .map_err(unreachable)?
            .json()
            .await
            .map_err(unreachable)?;
        if !answer.ok {
            let code = match answer.error.as_str() {
                "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" => 401,
                "channel_not_found" => 404,
                "not_in_channel" | "missing_scope" => 403,
                "ratelimited" => 429,
                _ => 502,
            };
            return Err(Error::new(
                code,
                format!("Slack {method}: {}", answer.error),
            ));
        }
        Ok(answer)
    }
}

fn field(answer: &Answer, name: &str) -> String {
    answer
        .rest
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
