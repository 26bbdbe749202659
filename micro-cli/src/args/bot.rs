//! `micro bot`: the toolkit through chat (micro-bot).

use clap::{Args, ValueEnum};

/// `micro bot`.
#[derive(Debug, Args)]
pub struct BotArgs {
    /// Where messages come from (repeatable, comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "console",
        value_name = "INPUT"
    )]
    pub input: Vec<BotInput>,
    /// Services named `<namespace>.bot.<command>` add commands.
    #[arg(long, default_value = "micro", env = "MICRO_BOT_NAMESPACE")]
    pub namespace: String,
    /// The IRC server, `host:port`.
    #[arg(long, default_value = "127.0.0.1:6667", env = "MICRO_BOT_IRC_SERVER")]
    pub irc_server: String,
    /// The bot's IRC nick.
    #[arg(long, default_value = "micro", env = "MICRO_BOT_IRC_NICK")]
    pub irc_nick: String,
    /// IRC channels to join (repeatable, comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "#micro",
        env = "MICRO_BOT_IRC_CHANNEL"
    )]
    pub irc_channel: Vec<String>,
}

/// A chat the bot takes part in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BotInput {
    /// Lines on stdin, replies on stdout.
    Console,
    /// An IRC server (`--irc-*`).
    Irc,
    /// Slack in socket mode (tokens from MICRO_BOT_SLACK_APP_TOKEN and
    /// MICRO_BOT_SLACK_BOT_TOKEN; needs the `slack` feature).
    Slack,
}
