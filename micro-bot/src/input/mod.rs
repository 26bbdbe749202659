//! Where messages come from and replies go: an [`Input`] connects, yields
//! [`Message`]s, and sends text to a channel. One module per input.

pub mod console;
pub mod irc;
#[cfg(feature = "slack")]
pub mod slack;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use self::console::Console;
pub use self::irc::{Irc, IrcOptions};
#[cfg(feature = "slack")]
pub use self::slack::{Slack, SlackOptions};

/// One incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Where to reply: a channel, or the person for a private message.
    pub channel: String,
    /// Who wrote it (empty when the input does not know).
    pub sender: String,
    /// The text, without a leading mention of the bot.
    pub text: String,
    /// Meant for the bot: a private message, or one that mentions it. In a
    /// busy channel the bot answers other messages only when they name a
    /// command, so chatter gets no "unknown command" replies.
    pub addressed: bool,
}

/// A chat the bot takes part in.
#[async_trait]
pub trait Input: Send + Sync + 'static {
    /// Its name in logs (`console`, `irc`, `slack`).
    fn name(&self) -> &str;

    /// Connects and returns the incoming messages; the channel closes
    /// when the input ends (end of stdin, a closed connection).
    ///
    /// # Errors
    ///
    /// 503 when the chat cannot be reached; 400 for wrong options.
    async fn connect(&self) -> micro_runtime::Result<mpsc::Receiver<Message>>;

    /// Sends `text` (lines separated by `\n`) to `channel`.
    ///
    /// # Errors
    ///
    /// 503 when the chat cannot be reached.
    async fn send(&self, channel: &str, text: &str) -> micro_runtime::Result<()>;
}

/// How many messages an input buffers before it waits for the bot.
pub(crate) const BUFFER: usize = 64;
