//! An event as a client publishes it, before a backend puts its envelope
//! (content type, id, topic) on the wire.

use bytes::Bytes;

use super::{HEADER_CONTENT_TYPE, HEADER_ID, HEADER_TOPIC, Message};
use crate::Metadata;
use crate::codec::ContentType;

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
    /// `micro-topic`.
    pub fn into_message(self, topic: &str) -> Message {
        let mut headers = self.metadata;
        headers.insert_static(HEADER_CONTENT_TYPE, self.content_type.as_str());
        headers.insert_static(HEADER_ID, new_message_id());
        headers.insert_static(HEADER_TOPIC, topic.to_owned());
        Message {
            headers,
            body: self.body,
        }
    }
}

/// A new unique message id: 32 lower-case hex digits (128 random bits).
pub fn new_message_id() -> String {
    String::from_utf8(message_id_digits().to_vec()).expect("hex digits are ASCII")
}

/// A new unique message id as its 32 ASCII hex digits (no allocation).
pub(crate) fn message_id_digits() -> [u8; 32] {
    let random = fastrand::u128(..);
    id_digits(hex_digits((random >> 64) as u64), random as u64)
}

/// An id's 32 digits: `high`'s 16, then `low` in hex.
fn id_digits(high: [u8; 16], low: u64) -> [u8; 32] {
    let mut digits = [0u8; 32];
    digits[..16].copy_from_slice(&high);
    digits[16..].copy_from_slice(&hex_digits(low));
    digits
}

/// Unique message ids made one after another, for the messages a
/// subscription receives without one: 16 hex digits of a random prefix
/// drawn once, then 16 of a count, so an id costs no random number.
#[cfg_attr(not(feature = "nats"), allow(dead_code))] // used by the NATS broker
pub(crate) struct IdSequence {
    prefix: [u8; 16],
    next: u64,
}

#[cfg_attr(not(feature = "nats"), allow(dead_code))] // used by the NATS broker
impl IdSequence {
    /// A sequence with a new random prefix.
    pub(crate) fn new() -> Self {
        Self {
            prefix: hex_digits(fastrand::u64(..)),
            next: 0,
        }
    }

    /// The next id's 32 ASCII hex digits.
    pub(crate) fn next_digits(&mut self) -> [u8; 32] {
        let digits = id_digits(self.prefix, self.next);
        self.next = self.next.wrapping_add(1);
        digits
    }
}

/// `value` as 16 lower-case hex digits, most significant first: every
/// nibble spread to a byte, then turned into its digit, all in one word
/// at a time (no table, no branch).
fn hex_digits(value: u64) -> [u8; 16] {
    /// The low nibbles of the 4 bytes of `half` in the 8 bytes of the
    /// result, the first nibble in the highest byte.
    fn spread(half: u32) -> u64 {
        let mut x = u64::from(half);
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        x
    }
    /// Nibbles (one per byte) as ASCII: '0' + n, plus 39 more for a-f.
    fn digits(nibbles: u64) -> u64 {
        let letters = ((nibbles + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        nibbles + 0x3030_3030_3030_3030 + letters * 39
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&digits(spread((value >> 32) as u32)).to_be_bytes());
    out[8..].copy_from_slice(&digits(spread(value as u32)).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_match_the_formatter() {
        for value in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xdead_beef,
            u64::MAX,
            0x0123_4567_89ab_cdef,
        ]
        .into_iter()
        .chain(std::iter::repeat_with(|| fastrand::u64(..)).take(1000))
        {
            let digits = hex_digits(value);
            assert_eq!(
                std::str::from_utf8(&digits).unwrap(),
                format!("{value:016x}")
            );
        }
        let id = message_id_digits();
        assert!(
            id.iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

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
        assert_ne!(new_message_id(), new_message_id());
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
