//! `ping`: `pong`, to see that the bot is there.

use async_trait::async_trait;

use crate::command::Command;

/// Answers `pong`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ping;

#[async_trait]
impl Command for Ping {
    fn name(&self) -> &str {
        "ping"
    }

    fn usage(&self) -> String {
        "ping — pong".into()
    }

    async fn run(&self, _args: Vec<String>) -> micro_runtime::Result<String> {
        Ok("pong".into())
    }
}
