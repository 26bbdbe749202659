//! What one socket-mode frame means: every envelope with an
//! `envelope_id` is acknowledged; `hello`, `disconnect` and the message
//! events matter, the rest is acknowledged and let be.

use serde::Deserialize;

use crate::input::Message;

/// One frame read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Frame {
    /// The `envelope_id` to acknowledge.
    pub(super) ack: Option<String>,
    pub(super) kind: Kind,
}

/// What the frame asks of the bot.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Connected.
    Hello,
    /// A message for the bot, with its timestamp (`ts`), which the same
    /// message's `message` and `app_mention` events share.
    Message(Message, String),
    /// Slack will close this connection (`refresh_requested`, …).
    Disconnect(String),
    /// Nothing to do: the bot's own message, an edit, another event.
    Ignore,
    /// Not an envelope: why.
    Bad(String),
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    #[serde(default)]
    payload: Payload,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
struct Payload {
    event: Option<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    bot_id: Option<String>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    channel_type: String,
    #[serde(default)]
    ts: String,
}

/// Reads one text frame; `me` is the bot's user id.
pub(super) fn read(text: &str, me: &str) -> Frame {
    let envelope: Envelope = match serde_json::from_str(text) {
        Ok(envelope) => envelope,
        Err(err) => {
            return Frame {
                ack: None,
                kind: Kind::Bad(format!("not a socket-mode envelope: {err}")),
            };
        }
    };
    let kind = match envelope.kind.as_str() {
        "hello" => Kind::Hello,
        "disconnect" => Kind::Disconnect(envelope.reason),
        "events_api" => envelope
            .payload
            .event
            .map_or(Kind::Ignore, |e| event(e, me)),
        _ => Kind::Ignore,
    };
    Frame {
        ack: envelope.envelope_id,
        kind,
    }
}

fn event(event: Event, me: &str) -> Kind {
    let from_a_bot = event.bot_id.is_some() || (!me.is_empty() && event.user == me);
    // Edits, joins and the like carry a subtype; a person's message has none.
    if from_a_bot
        || event.subtype.is_some()
        || !matches!(event.kind.as_str(), "message" | "app_mention")
    {
        return Kind::Ignore;
    }
    let mention = format!("<@{me}>");
    let (text, mentioned) = match event.text.trim().strip_prefix(&mention) {
        Some(rest) if !me.is_empty() => (rest.trim_start_matches([':', ',']).trim(), true),
        _ => (event.text.trim(), false),
    };
    if text.is_empty() || event.channel.is_empty() {
        return Kind::Ignore;
    }
    let addressed = mentioned || event.kind == "app_mention" || event.channel_type == "im";
    Kind::Message(
        Message {
            channel: event.channel,
            sender: event.user,
            // Slack escapes these three in message text.
            text: text
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
            addressed,
        },
        event.ts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "U0BOT";

    fn message(kind: &Kind) -> &Message {
        match kind {
            Kind::Message(message, _) => message,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn hello_and_disconnect() {
        let hello = r#"{"type":"hello","num_connections":1,"debug_info":{"host":"applink-1"},"connection_info":{"app_id":"A1"}}"#;
        assert_eq!(
            read(hello, ME),
            Frame {
                ack: None,
                kind: Kind::Hello
            }
        );
        let bye = r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-1"}}"#;
        assert_eq!(
            read(bye, ME).kind,
            Kind::Disconnect("refresh_requested".into())
        );
    }

    #[test]
    fn messages_mentions_and_direct_messages() {
        let frame = read(include_str!("../../../tests/slack/message.json"), ME);
        assert_eq!(
            frame.ack.as_deref(),
            Some("dbdd0ef3-1543-4f94-bfb4-133d0e6c1545")
        );
        let m = message(&frame.kind);
        assert_eq!(
            (m.channel.as_str(), m.text.as_str(), m.addressed),
            ("C0CHAN", "ping", false)
        );
        let frame = read(include_str!("../../../tests/slack/app_mention.json"), ME);
        let m = message(&frame.kind);
        assert_eq!(m.text, r#"call greeter hello {"name": "<John>"}"#);
        assert!(m.addressed);
        let frame = read(include_str!("../../../tests/slack/direct_message.json"), ME);
        assert!(message(&frame.kind).addressed);
    }

    #[test]
    fn the_bots_own_messages_and_edits_are_acknowledged_and_ignored() {
        let frame = read(include_str!("../../../tests/slack/bot_message.json"), ME);
        assert!(frame.ack.is_some());
        assert_eq!(frame.kind, Kind::Ignore);
        let frame = read(
            include_str!("../../../tests/slack/message_changed.json"),
            ME,
        );
        assert!(frame.ack.is_some());
        assert_eq!(frame.kind, Kind::Ignore);
        let slash = r#"{"type":"slash_commands","envelope_id":"e-9","payload":{"command":"/x"}}"#;
        assert_eq!(
            read(slash, ME),
            Frame {
                ack: Some("e-9".into()),
                kind: Kind::Ignore
            }
        );
        assert!(matches!(read("not json", ME).kind, Kind::Bad(_)));
    }
}
