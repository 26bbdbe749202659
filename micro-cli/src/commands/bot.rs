//! `micro bot`: wires micro-bot to the command line: the inputs asked for,
//! the built-in commands on this session's client and broker, and the
//! commands services of `--namespace` serve.

use micro_bot::input::{Console, Irc, IrcOptions};
use micro_bot::{Bot, External, builtin};

use crate::args::{BotArgs, BotInput};
use crate::failure::Outcome;
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: BotArgs) -> Outcome {
    let client = session.client()?.clone();
    let broker = session.broker(None)?;
    let external = External::new(client.clone(), &args.namespace)
        .on_notice(|line| eprintln!("micro bot: {line}"));
    let mut bot = Bot::new()
        .commands(builtin::commands(client, Some(broker)))
        .external(external);
    let mut inputs = args.input.clone();
    inputs.sort_by_key(|i| *i as u8);
    inputs.dedup();
    for input in inputs {
        bot = match input {
            BotInput::Console => bot.input(Console::new()),
            BotInput::Irc => bot.input(Irc::new(IrcOptions {
                server: args.irc_server.clone(),
                nick: args.irc_nick.clone(),
                channels: args.irc_channel.clone(),
            })),
            BotInput::Slack => slack(bot)?,
        };
    }
    Ok(bot.run().await?)
}

/// Adds the Slack input, its tokens from the environment only.
#[cfg(feature = "slack")]
fn slack(bot: Bot) -> Outcome<Bot> {
    let options = micro_bot::input::SlackOptions::from_env()?;
    Ok(bot.input(micro_bot::input::Slack::new(options)))
}

#[cfg(not(feature = "slack"))]
fn slack(_bot: Bot) -> Outcome<Bot> {
    Err(crate::failure::Failure::bad_request(
        "this micro was built without Slack: build micro-cli with --features slack",
    ))
}
