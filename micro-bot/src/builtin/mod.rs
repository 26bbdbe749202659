//! The commands every bot has: `ping`, `list services`, `get service`,
//! `health`, `call` and `publish`, on micro-runtime's public API only, with
//! short service names resolved as the `micro` command resolves them
//! ([`micro_runtime::client::resolve`]).

mod call;
mod describe;
mod health;
mod ping;
mod publish;
mod services;

use std::sync::Arc;

use micro_runtime::broker::Broker;
use micro_runtime::{Client, Error, Result};

pub use call::Call;
pub use describe::GetService;
pub use health::Health;
pub use ping::Ping;
pub use publish::Publish;
pub use services::ListServices;

use crate::command::Command;

/// The built-in commands, calling through `client`; `publish` needs a
/// `broker` (without one it answers 400).
pub fn commands(client: Client, broker: Option<Arc<dyn Broker>>) -> Vec<Arc<dyn Command>> {
    vec![
        Arc::new(Ping),
        Arc::new(ListServices::new(client.clone())),
        Arc::new(GetService::new(client.clone())),
        Arc::new(Health::new(client.clone())),
        Arc::new(Call::new(client)),
        Arc::new(Publish::new(broker)),
    ]
}

/// `args` when there are `n` of them, else 400 with `usage`.
pub(crate) fn exactly<const N: usize>(args: Vec<String>, usage: &str) -> Result<[String; N]> {
    args.try_into()
        .map_err(|_| Error::bad_request(format!("usage: {usage}")))
}

/// Parses `text` as JSON: 400 saying where it breaks.
pub(crate) fn json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::bad_request(format!("{what} is not valid JSON: {e}")))
}
