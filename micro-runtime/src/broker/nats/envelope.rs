//! The envelope of a client's event on core NATS: what the publisher
//! leaves out (see [`core_headers`]) and the subscriber fills in again
//! (see [`core_metadata`]).

use async_nats::HeaderMap;

use super::connection::{from_headers, to_headers};
use super::ids::IdSequence;
use crate::Metadata;
use crate::broker::{Event, HEADER_CONTENT_TYPE, HEADER_ID, HEADER_TOPIC};
use crate::codec::ContentType;
use crate::metadata::Text;

/// The headers of a client's event on core NATS: its metadata, and the
/// content type unless it is protobuf; `None` when that leaves nothing.
/// The topic is the subject and the id is made on receipt (core NATS never
/// redelivers nor deduplicates, so nothing downstream needs the publisher's
/// one), see [`core_metadata`].
pub(super) fn core_headers(event: &Event) -> Option<HeaderMap> {
    let json = event.content_type != ContentType::Protobuf;
    if event.metadata.is_empty() && !json {
        return None;
    }
    let mut headers = to_headers(&event.metadata);
    if json {
        headers.insert(HEADER_CONTENT_TYPE, event.content_type.as_str());
    }
    Some(headers)
}

/// Where the id is among a bare message's envelope entries (in key order).
const ID_AT: usize = 1;

/// What a core subscription makes the envelopes of its messages with.
pub(super) struct Envelopes {
    /// The last bare message's envelope: the next one's id is written over
    /// it once the handler is done with it (the usual case), so a bare
    /// message costs no allocation.
    last: Metadata,
    /// Ids of messages that came without one.
    ids: IdSequence,
    /// Every message has the same subject (a topic without wildcards), so
    /// a bare message's envelope differs from the last one by its id only.
    one_subject: bool,
}

impl Envelopes {
    pub(super) fn new(one_subject: bool) -> Self {
        Self {
            last: Metadata::new(),
            ids: IdSequence::new(),
            one_subject,
        }
    }
}

/// The headers a handler sees for a core NATS message on `subject`: those it carried, with the envelope filled
/// in where the publisher left it out (see [`core_headers`]):
/// `content-type` protobuf, `micro-topic` the subject (in place when short),
/// a new `micro-id`.
pub(super) fn core_metadata(
    subject: &str,
    headers: Option<&HeaderMap>,
    envelopes: &mut Envelopes,
) -> Metadata {
    let mut id = || Text::ascii(envelopes.ids.next_digits());
    let topic = || Text::short(subject);
    if headers.is_none_or(HeaderMap::is_empty) {
        // The common event: a bare message, its id written into the
        // previous one's envelope when the handler is done with it and the
        // subject is the same, else made (in key order).
        let last = &mut envelopes.last;
        if envelopes.one_subject && last.replace_unshared(ID_AT, id()) {
            return last.clone();
        }
        *last = Metadata::from_sorted([
            (
                Text::Static(HEADER_CONTENT_TYPE),
                Text::Static(ContentType::Protobuf.as_str()),
            ),
            (Text::Static(HEADER_ID), id()),
            (Text::Static(HEADER_TOPIC), topic()),
        ]);
        return last.clone();
    }
    let mut metadata = from_headers(headers);
    if metadata.get(HEADER_CONTENT_TYPE).is_none() {
        metadata.insert_static(HEADER_CONTENT_TYPE, ContentType::Protobuf.as_str());
    }
    if metadata.get(HEADER_ID).is_none() {
        metadata.insert_text(HEADER_ID, id());
    }
    if metadata.get(HEADER_TOPIC).is_none() {
        metadata.insert_text(HEADER_TOPIC, topic());
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_messages_get_the_envelope_filled_in() {
        // A topic without wildcards: every message on the same subject.
        let mut envelopes = Envelopes::new(true);
        let bare = core_metadata("orders.created", None, &mut envelopes);
        assert_eq!(bare.get("content-type"), Some("application/protobuf"));
        assert_eq!(bare.get("micro-topic"), Some("orders.created"));
        assert_eq!(bare.get("micro-id").map(str::len), Some(32));
        assert_eq!(bare.len(), 3);
        // The next bare message has its own id, whether or not the first
        // one's envelope is still held.
        let next = core_metadata("orders.created", None, &mut envelopes);
        assert_ne!(next.get("micro-id"), bare.get("micro-id"));
        let first_id = bare.get("micro-id").unwrap().to_owned();
        drop(bare);
        let reused = core_metadata("orders.created", None, &mut envelopes);
        assert_ne!(reused.get("micro-id"), Some(first_id.as_str()));
        assert_ne!(reused.get("micro-id"), next.get("micro-id"));
        assert_eq!(reused.get("micro-topic"), Some("orders.created"));
        assert_eq!(reused.len(), 3);
        drop(reused);
        let again = core_metadata("orders.created", None, &mut envelopes);
        assert_eq!(again.get("micro-topic"), Some("orders.created"));
        assert_eq!(again.get("content-type"), Some("application/protobuf"));
        // A topic with wildcards: each bare message names its own subject,
        // and one still held is not written over.
        let mut envelopes = Envelopes::new(false);
        let long_topic = "orders.created.in.a.region.far.away";
        let long = core_metadata(long_topic, None, &mut envelopes);
        let short = core_metadata("orders.paid", None, &mut envelopes);
        assert_eq!(long.get("micro-topic"), Some(long_topic));
        assert_eq!(short.get("micro-topic"), Some("orders.paid"));
        drop(short);
        let again = core_metadata(long_topic, None, &mut envelopes);
        assert_eq!(again.get("micro-topic"), Some(long_topic));
        assert_eq!(again.len(), 3);
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json");
        headers.insert("X-Trace", "t1");
        let carried = core_metadata("orders.paid", Some(&headers), &mut envelopes);
        assert_eq!(carried.get("content-type"), Some("application/json"));
        assert_eq!(carried.get("x-trace"), Some("t1"));
        assert_eq!(carried.get("micro-topic"), Some("orders.paid"));
        assert_ne!(carried.get("micro-id"), next.get("micro-id"));
        assert_eq!(carried.len(), 4);
    }
}
