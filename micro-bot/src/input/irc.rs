//! IRC: the bot joins channels on one server (the `irc` crate, plain TCP)
//! and answers `PRIVMSG`s there and in private. In a channel it takes a
//! message as meant for it when it starts with its nick (`micro: ping`);
//! see [`Message::addressed`].

use std::sync::Mutex;

use async_trait::async_trait;
use futures_util::StreamExt;
use irc::client::prelude::{Client, Command as IrcCommand, Config, Response, Sender};
use micro_runtime::Error;
use tokio::sync::mpsc;

use super::{BUFFER, Input, Message};

/// Where and as whom the bot chats on IRC.
#[derive(Debug, Clone)]
pub struct IrcOptions {
    /// `host:port` of the server, e.g. `127.0.0.1:6667`.
    pub server: String,
    /// The bot's nick.
    pub nick: String,
    /// The channels it joins (`#micro`).
    pub channels: Vec<String>,
}

/// An IRC connection. Notices (joined a channel) go to `notice`.
pub struct Irc {
    options: IrcOptions,
    sender: Mutex<Option<Sender>>,
}

impl Irc {
    /// An input for `options`; it connects in [`Input::connect`].
    pub fn new(options: IrcOptions) -> Self {
        Self {
            options,
            sender: Mutex::new(None),
        }
    }

    fn config(&self) -> micro_runtime::Result<Config> {
        let (host, port) = self
            .options
            .server
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "the IRC server {:?} is not host:port",
                    self.options.server
                ))
            })?;
        if self.options.nick.is_empty() {
            return Err(Error::bad_request("the IRC nick is empty"));
        }
        Ok(Config {
            nickname: Some(self.options.nick.clone()),
            username: Some(self.options.nick.clone()),
            realname: Some("micro bot".into()),
            server: Some(host.trim_matches(['[', ']']).to_owned()),
            port: Some(port),
            channels: self.options.channels.clone(),
            ..Config::default()
        })
    }
}

#[async_trait]
impl Input for Irc {
    fn name(&self) -> &str {
        "irc"
    }

    async fn connect(&self) -> micro_runtime::Result<mpsc::Receiver<Message>> {
        let unreachable = |e: irc::error::Error| {
            Error::unavailable(format!("IRC server {}: {e}", self.options.server))
        };
        let mut client = Client::from_config(self.config()?)
            .await
            .map_err(unreachable)?;
        client.identify().map_err(unreachable)?;
        let mut stream = client.stream().map_err(unreachable)?;
        *self.sender.lock().unwrap() = Some(client.sender());
        let nick = self.options.nick.clone();
        let server = self.options.server.clone();
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(async move {
            // The client lives as long as its stream is read.
            let _client = client;
            while let Some(next) = stream.next().await {
                let message = match next {
                    Ok(message) => message,
                    Err(err) => {
                        tracing::warn!(%server, "IRC connection ended: {err}");
                        break;
                    }
                };
                let sender = message.source_nickname().unwrap_or_default().to_owned();
                let target = message.response_target().map(str::to_owned);
                match message.command {
                    IrcCommand::PRIVMSG(to, text) => {
                        let Some(channel) = target else { continue };
                        let Some(message) = incoming(&nick, &to, &channel, sender, &text) else {
                            continue;
                        };
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    IrcCommand::Response(Response::RPL_ENDOFNAMES, args) => {
                        if let Some(channel) = args.get(1) {
                            tracing::info!(%server, %channel, "joined");
                        }
                    }
                    _ => {}
                }
            }
        });
        Ok(rx)
    }

    async fn send(&self, channel: &str, text: &str) -> micro_runtime::Result<()> {
        let sender = self
            .sender
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| Error::unavailable("not connected to IRC"))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            sender
                .send_privmsg(channel, line)
                .map_err(|e| Error::unavailable(format!("IRC: {e}")))?;
        }
        Ok(())
    }
}

/// The message a `PRIVMSG` to `to` carries for the bot `nick`, replied to
/// on `channel`; none for an empty one or a CTCP request.
fn incoming(nick: &str, to: &str, channel: &str, sender: String, text: &str) -> Option<Message> {
    if text.starts_with('\u{1}') {
        return None;
    }
    let private = to.eq_ignore_ascii_case(nick);
    let mention = text
        .get(..nick.len())
        .filter(|head| head.eq_ignore_ascii_case(nick))
        .map(|_| &text[nick.len()..])
        .and_then(|rest| rest.strip_prefix([':', ',']));
    let (text, addressed) = match mention {
        Some(rest) => (rest.trim(), true),
        None => (text.trim(), private),
    };
    if text.is_empty() {
        return None;
    }
    Some(Message {
        channel: channel.to_owned(),
        sender,
        text: text.to_owned(),
        addressed,
    })
}

#[cfg(test)]
mod tests {
    use super::incoming;

    #[test]
    fn mentions_and_private_messages_are_addressed() {
        let m = incoming("micro", "#c", "#c", "ann".into(), "micro: ping").unwrap();
        assert_eq!((m.text.as_str(), m.addressed), ("ping", true));
        let m = incoming("micro", "#c", "#c", "ann".into(), "ping").unwrap();
        assert_eq!((m.text.as_str(), m.addressed), ("ping", false));
        let m = incoming("micro", "micro", "ann", "ann".into(), "ping").unwrap();
        assert_eq!((m.channel.as_str(), m.addressed), ("ann", true));
        assert!(incoming("micro", "#c", "#c", "ann".into(), "\u{1}VERSION\u{1}").is_none());
        assert!(incoming("micro", "#c", "#c", "ann".into(), "micro:  ").is_none());
    }
}
