//! The bot: reads every input's messages, runs the command each names and
//! replies on its channel. A failing command, an unknown one or a reply
//! that cannot be sent costs one line, never the bot.

use std::sync::Arc;

use futures_util::future::join_all;
use micro_runtime::{Error, Result};

use crate::command::Command;
use crate::external::External;
use crate::input::{Input, Message};
use crate::reply::error_line;
use crate::words::split;

/// A bot: its commands, the services that add commands, and its inputs.
///
/// # Examples
///
/// ```no_run
/// # async fn run(client: micro_runtime::Client) -> micro_runtime::Result<()> {
/// use micro_bot::{Bot, External, builtin, input::Console};
///
/// Bot::new()
///     .commands(builtin::commands(client.clone(), None))
///     .external(External::new(client, "micro"))
///     .input(Console::new())
///     .run()
///     .await
/// # }
/// ```
#[derive(Default)]
pub struct Bot {
    commands: Vec<Arc<dyn Command>>,
    external: Option<Arc<External>>,
    inputs: Vec<Arc<dyn Input>>,
}

impl Bot {
    /// A bot with no commands (but `help`) and no inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `command`; a later command with the same name wins.
    pub fn command(mut self, command: impl Command) -> Self {
        self.commands.push(Arc::new(command));
        self
    }

    /// Adds `commands` (as [`crate::builtin::commands`] makes them).
    pub fn commands(mut self, commands: impl IntoIterator<Item = Arc<dyn Command>>) -> Self {
        self.commands.extend(commands);
        self
    }

    /// Adds the commands services serve, as `external` finds them.
    pub fn external(mut self, external: External) -> Self {
        self.external = Some(Arc::new(external));
        self
    }

    /// Adds an input to read messages from and reply on.
    pub fn input(mut self, input: impl Input) -> Self {
        self.inputs.push(Arc::new(input));
        self
    }

    /// The reply to `text`: a command's answer, an error line, or `None`
    /// for a message that is not `addressed` and names no command.
    pub async fn answer(&self, text: &str, addressed: bool) -> Option<String> {
        let words = split(text);
        if words.is_empty() {
            return addressed
                .then(|| error_line(&Error::bad_request("an empty command; try \"help\"")));
        }
        let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        if lower[0] == "help" {
            return Some(self.help(&lower[1..]).await);
        }
        let Some((command, used)) = self.find(&lower).await else {
            return addressed.then(|| {
                error_line(&Error::not_found(format!(
                    "unknown command {:?}; try \"help\"",
                    words[0]
                )))
            });
        };
        let args = words[used..].to_vec();
        Some(match command.run(args).await {
            Ok(reply) if reply.trim().is_empty() => "ok".to_owned(),
            Ok(reply) => reply,
            Err(err) => error_line(&err),
        })
    }

    /// Connects every input, then answers their messages until all of them
    /// end. The commands of services are followed meanwhile (a registry
    /// that cannot be reached delays them, not the bot).
    ///
    /// # Errors
    ///
    /// 400 without inputs; an input's error when it cannot connect.
    pub async fn run(self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(Error::bad_request("the bot has no inputs"));
        }
        let mut connected = Vec::new();
        for input in &self.inputs {
            connected.push((input.clone(), input.connect().await?));
        }
        let following = self.external.as_ref().map(|e| e.clone().follow());
        let bot = Arc::new(self);
        let serving = connected.into_iter().map(|(input, mut messages)| {
            let bot = bot.clone();
            async move {
                // One message at a time per input: replies keep their order.
                while let Some(message) = messages.recv().await {
                    bot.reply(&*input, message).await;
                }
            }
        });
        join_all(serving).await;
        if let Some(following) = following {
            following.abort();
        }
        Ok(())
    }

    async fn reply(&self, input: &dyn Input, message: Message) {
        let Some(reply) = self.answer(&message.text, message.addressed).await else {
            return;
        };
        if let Err(err) = input.send(&message.channel, &reply).await {
            tracing::warn!(input = input.name(), channel = %message.channel, "cannot reply: {err}");
        }
    }

    /// The command whose name starts `words` (the longest one), and how
    /// many words its name took.
    async fn find(&self, words: &[String]) -> Option<(Arc<dyn Command>, usize)> {
        let mut all = self.all().await;
        // The longest name first; among equals the last one added.
        all.reverse();
        all.sort_by_key(|c| std::cmp::Reverse(c.name().split(' ').count()));
        all.into_iter().find_map(|command| {
            let name: Vec<&str> = command.name().split(' ').collect();
            let matches = name.len() <= words.len() && name.iter().zip(words).all(|(n, w)| n == w);
            matches.then(|| (command.clone(), name.len()))
        })
    }

    /// Built-in and added commands, then the services' ones.
    async fn all(&self) -> Vec<Arc<dyn Command>> {
        let mut all = self.commands.clone();
        if let Some(external) = &self.external {
            all.extend(external.commands());
        }
        all
    }

    async fn help(&self, about: &[String]) -> String {
        let all = self.all().await;
        if !about.is_empty() {
            let wanted = about.join(" ");
            return match all.iter().rev().find(|c| c.name() == wanted) {
                Some(command) => command.usage(),
                None => error_line(&Error::not_found(format!(
                    "unknown command {wanted:?}; try \"help\""
                ))),
            };
        }
        let mut lines = vec![
            "commands:".to_owned(),
            "help [COMMAND] — this list".to_owned(),
        ];
        let mut seen = std::collections::HashSet::new();
        for command in all.iter().rev() {
            if seen.insert(command.name().to_owned()) {
                lines.push(command.usage());
            }
        }
        lines[2..].sort();
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::builtin::Ping;

    /// Answers with its name and the words it got, or fails on `fail`.
    struct Named(&'static str);

    #[async_trait]
    impl Command for Named {
        fn name(&self) -> &str {
            self.0
        }

        fn usage(&self) -> String {
            format!("{} ARGS — test", self.0)
        }

        async fn run(&self, args: Vec<String>) -> Result<String> {
            if args.first().is_some_and(|a| a == "fail") {
                return Err(Error::unavailable("down").with_id("svc"));
            }
            Ok(format!("{}: {}", self.0, args.join("|")))
        }
    }

    fn bot() -> Bot {
        Bot::new()
            .command(Ping)
            .command(Named("list"))
            .command(Named("list services"))
    }

    #[tokio::test]
    async fn the_longest_name_wins_and_args_follow_it() {
        let bot = bot();
        assert_eq!(bot.answer("PING", true).await.unwrap(), "pong");
        assert_eq!(
            bot.answer("list services a {\"b\": 1}", true)
                .await
                .unwrap(),
            "list services: a|{\"b\": 1}"
        );
        assert_eq!(bot.answer("list nodes", true).await.unwrap(), "list: nodes");
        assert_eq!(
            bot.answer("list fail", true).await.unwrap(),
            "error: service unavailable (503): down (from svc)"
        );
    }

    #[tokio::test]
    async fn unknown_commands_point_at_help_when_addressed() {
        let bot = bot();
        assert_eq!(
            bot.answer("hello there", true).await.unwrap(),
            "error: not found (404): unknown command \"hello\"; try \"help\""
        );
        assert_eq!(bot.answer("hello there", false).await, None);
        assert_eq!(bot.answer("ping", false).await.unwrap(), "pong");
        assert!(
            bot.answer("  ", true)
                .await
                .unwrap()
                .starts_with("error: bad request (400)")
        );
    }

    #[tokio::test]
    async fn help_lists_every_command_once() {
        let bot = bot();
        let help = bot.answer("help", true).await.unwrap();
        assert_eq!(
            help.lines().collect::<Vec<_>>(),
            [
                "commands:",
                "help [COMMAND] — this list",
                "list ARGS — test",
                "list services ARGS — test",
                "ping — pong"
            ]
        );
        assert_eq!(
            bot.answer("help list services", true).await.unwrap(),
            "list services ARGS — test"
        );
        assert!(
            bot.answer("help nope", true)
                .await
                .unwrap()
                .starts_with("error: not found (404)")
        );
    }
}
