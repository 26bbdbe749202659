//! micro's toolkit through chat: a [`Bot`] reads messages from its
//! [`Input`]s (the console, IRC, Slack), runs the [`Command`] a message
//! names and replies on the same channel.
//!
//! The built-in commands ([`builtin`]) list, describe, check, call and
//! publish through a [`Client`](micro_runtime::Client), on micro-runtime's
//! public API only; any service named `<namespace>.bot.<command>` that
//! serves `Command.Help` and `Command.Exec` (`proto/bot.proto`) becomes a
//! command while it runs ([`External`]).
#![doc = include_str!("../../docs/bot.md")]
#![forbid(unsafe_code)]

mod bot;
pub mod builtin;
mod command;
mod external;
pub mod input;
mod reply;
mod words;

pub use bot::Bot;
pub use command::Command;
pub use external::External;
pub use input::{Input, Message};
pub use reply::error_line;
pub use words::split;
