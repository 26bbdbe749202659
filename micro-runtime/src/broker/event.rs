//! An event as a client publishes it, before a backend puts its envelope
//! (content type, id, topic) on the wire.

use std::io::Write;

use bytes::Bytes;

use super::{HEADER_CONTENT_TYPE, HEADER_ID, HEADER_TOPIC, Message};
use crate::Metadata;
use crate::codec::ContentType;
use crate::metadata::Text;

/// An encoded event with what the envelope is made of: handed to
/// [`Broker::publish_event`](super::Broker::publish_event), which lets a
/// backend carry the envelope in its own way (core NATS sends no header that
/// the receiving side can rebuild).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// How the body is encoded.
    pub content_type: ContentType,
    /// The publisher's metadata (its context's).
    pub metadata: Metadata,
    /// The encoded payload.
    pub body: Bytes,
}

impl Event {
    /// An event published with the context's `metadata`. The envelope
    /// headers of a message being handled (`content-type`, `micro-id`,
    /// `micro-topic`) are left out: a handler that publishes on sends a new
    /// message with its own envelope, carrying only the caller's metadata on.
    pub fn new(content_type: ContentType, metadata: &Metadata, body: Bytes) -> Self {
        const ENVELOPE: [&str; 3] = [HEADER_CONTENT_TYPE, HEADER_ID, HEADER_TOPIC];
        let mut metadata = metadata.clone();
        if !metadata.is_empty() && ENVELOPE.iter().any(|key| metadata.get(key).is_some()) {
            for key in ENVELOPE {
                metadata.remove(key);
            }
        }
        Self {
            content_type,
            metadata,
            body,
        }
    }

    /// The message every backend can carry: the metadata plus the
    /// envelope headers `content-type`, a new unique `micro-id` and
    /// `micro-topic` (the last two in place when short, as ids are).
    pub fn into_message(self, topic: &str) -> Message {
        let content_type = Text::Static(self.content_type.as_str());
        let (id, topic) = (new_message_id(), Text::short(topic));
        let headers = if self.metadata.is_empty() {
            Metadata::from_sorted([
                (Text::Static(HEADER_CONTENT_TYPE), content_type),
                (Text::Static(HEADER_ID), id),
                (Text::Static(HEADER_TOPIC), topic),
            ])
        } else {
            let mut headers = self.metadata;
            headers.insert_text(HEADER_CONTENT_TYPE, content_type);
            headers.insert_text(HEADER_ID, id);
            headers.insert_text(HEADER_TOPIC, topic);
            headers
        };
        Message {
            headers,
            body: self.body,
        }
    }
}

/// A new unique message id: 32 lower-case hex digits (128 random bits), in
/// place.
pub(crate) fn new_message_id() -> Text {
    let mut digits = [0u8; 32];
    // 32 digits fill the buffer exactly: writing them cannot fail.
    let _ = write!(&mut digits[..], "{:032x}", fastrand::u128(..));
    Text::ascii(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_carries_the_envelope_and_the_metadata() {
        let mut metadata = Metadata::new();
        metadata.insert("x-trace", "t1");
        let event = Event {
            content_type: ContentType::Json,
            metadata,
            body: Bytes::from_static(b"{}"),
        };
        let message = event.into_message("orders.created");
        assert_eq!(message.headers.get("x-trace"), Some("t1"));
        assert_eq!(
            message.headers.get(HEADER_CONTENT_TYPE),
            Some("application/json")
        );
        assert_eq!(message.headers.get(HEADER_TOPIC), Some("orders.created"));
        let id = message.headers.get(HEADER_ID).unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(*new_message_id(), *new_message_id());
        let bare = Event::new(ContentType::Protobuf, &Metadata::new(), Bytes::new());
        let bare = bare.into_message("orders.created");
        assert_eq!(bare.headers.len(), 3);
        assert_eq!(bare.headers.get(HEADER_TOPIC), Some("orders.created"));
        let long = "orders.created.in.a.region.far.away";
        let bare = Event::new(ContentType::Json, &Metadata::new(), Bytes::new());
        assert_eq!(
            bare.into_message(long).headers.get(HEADER_TOPIC),
            Some(long)
        );
        assert_eq!(&message.body[..], b"{}");
    }

    #[test]
    fn a_handled_message_envelope_is_not_published_on() {
        let handled = Event {
            content_type: ContentType::Protobuf,
            metadata: [("x-trace", "t1")].into_iter().collect(),
            body: Bytes::new(),
        }
        .into_message("orders.created");
        let next = Event::new(ContentType::Json, &handled.headers, Bytes::new());
        assert_eq!(next.metadata.get("x-trace"), Some("t1"));
        assert_eq!(next.metadata.len(), 1, "{:?}", next.metadata);
        let message = next.into_message("orders.shipped");
        assert_eq!(message.headers.get(HEADER_TOPIC), Some("orders.shipped"));
        assert_ne!(
            message.headers.get(HEADER_ID),
            handled.headers.get(HEADER_ID)
        );
        assert_eq!(
            message.headers.get(HEADER_CONTENT_TYPE),
            Some("application/json")
        );
    }
}
