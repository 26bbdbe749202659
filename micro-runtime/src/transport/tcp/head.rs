//! The request head inside a REQUEST frame.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Metadata;
use crate::codec::ContentType;
use crate::endpoint::CallKind;
use crate::metadata::{Entries, Text};
use crate::transport::RequestHead;

/// Bytes [`encode`] will write for `head`.
pub(crate) fn encoded_len(head: &RequestHead) -> usize {
    2 + head.service.len()
        + 2
        + head.endpoint.len()
        + 1
        + 1
        + 8
        + 2
        + head
            .metadata
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>()
}

fn put_str(buf: &mut BytesMut, s: &str) {
    let len = s.len().min(u16::MAX as usize);
    buf.put_u16(len as u16);
    buf.put_slice(&s.as_bytes()[..len]);
}

fn kind_code(kind: CallKind) -> u8 {
    match kind {
        CallKind::Unary => 0,
        CallKind::ServerStreaming => 1,
        CallKind::ClientStreaming => 2,
        CallKind::Bidi => 3,
    }
}

/// Writes the head.
pub(crate) fn encode(head: &RequestHead, buf: &mut BytesMut) {
    put_str(buf, &head.service);
    put_str(buf, &head.endpoint);
    buf.put_u8(head.content_type.wire_code());
    buf.put_u8(kind_code(head.kind));
    // Microseconds left; 0 = no deadline (an expired call is never sent).
    let micros = head
        .timeout
        .map_or(0, |t| (t.as_micros() as u64).clamp(1, u64::MAX));
    buf.put_u64(micros);
    buf.put_u16(head.metadata.len().min(u16::MAX as usize) as u16);
    for (k, v) in head.metadata.iter().take(u16::MAX as usize) {
        put_str(buf, k);
        put_str(buf, v);
    }
}

/// Why a head does not decode: 400 for a malformed one, 431 for one over
/// the [`HeadLimits`].
#[derive(Debug)]
pub(crate) struct BadHead {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

impl BadHead {
    fn malformed(reason: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: reason.into(),
        }
    }

    fn too_large(reason: String) -> Self {
        Self { code: 431, reason }
    }
}

/// What one request head may hold: its metadata is decoded (and kept
/// for the whole call) before any handler can refuse it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadLimits {
    /// Most metadata entries.
    pub(crate) max_metadata: usize,
    /// Most bytes of the head (names, deadline and metadata).
    pub(crate) max_head_size: usize,
}

impl HeadLimits {
    /// No limit beyond the frame's (tests and benchmarks).
    pub(crate) const NONE: Self = Self {
        max_metadata: usize::MAX,
        max_head_size: usize::MAX,
    };

    fn check_size(self, read: usize) -> Result<(), BadHead> {
        if read > self.max_head_size {
            return Err(BadHead::too_large(format!(
                "request head over the limit of {} bytes",
                self.max_head_size
            )));
        }
        Ok(())
    }
}

/// The next length-prefixed field of `buf` (a view of it, not a copy).
fn take_field(buf: &mut Bytes, what: &str) -> Result<Bytes, BadHead> {
    if buf.remaining() < 2 {
        return Err(BadHead::malformed(format!("truncated before {what}")));
    }
    let len = buf.get_u16() as usize;
    if buf.remaining() < len {
        return Err(BadHead::malformed(format!("{what} runs past the frame")));
    }
    Ok(buf.split_to(len))
}

/// `bytes` as text, or why not.
fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, BadHead> {
    std::str::from_utf8(bytes).map_err(|_| BadHead::malformed(format!("{what} is not UTF-8")))
}

/// Reads a head off the front of `payload`, leaving the body; refuses one
/// over `limits` as soon as it is known to be.
pub(crate) fn decode(payload: &mut Bytes, limits: HeadLimits) -> Result<RequestHead, BadHead> {
    let start = payload.remaining();
    let service = take_field(payload, "service")?;
    let service: Arc<str> = utf8(&service, "service")?.into();
    let endpoint = take_field(payload, "endpoint")?;
    let endpoint = utf8(&endpoint, "endpoint")?.to_owned();
    limits.check_size(start - payload.remaining())?;
    if payload.remaining() < 12 {
        return Err(BadHead::malformed("truncated before content type"));
    }
    let content_type = ContentType::from_wire_code(payload.get_u8())
        .map_err(|e| BadHead::malformed(e.detail()))?;
    let kind = match payload.get_u8() {
        0 => CallKind::Unary,
        1 => CallKind::ServerStreaming,
        2 => CallKind::ClientStreaming,
        3 => CallKind::Bidi,
        other => return Err(BadHead::malformed(format!("unknown call kind {other}"))),
    };
    let micros = payload.get_u64();
    let timeout = (micros > 0).then(|| Duration::from_micros(micros));
    if payload.remaining() < 2 {
        return Err(BadHead::malformed("truncated before metadata"));
    }
    let count = usize::from(payload.get_u16());
    if count > limits.max_metadata {
        return Err(BadHead::too_large(format!(
            "{count} metadata entries, over the limit of {}",
            limits.max_metadata
        )));
    }
    // Short keys and values are held in place: no allocation of their own.
    let mut entries = Entries::with_capacity(count);
    for _ in 0..count {
        let key = take_field(payload, "metadata key")?;
        let value = take_field(payload, "metadata value")?;
        limits.check_size(start - payload.remaining())?;
        entries.push((
            Text::short_lowercase(utf8(&key, "metadata key")?),
            Text::short(utf8(&value, "metadata value")?),
        ));
    }
    Ok(RequestHead {
        service,
        endpoint: Cow::Owned(endpoint),
        package: Cow::Borrowed(""),
        content_type,
        timeout,
        metadata: Metadata::from_unsorted(entries),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_field() {
        let mut head = RequestHead::new("greeter", "Greeter.Hello", CallKind::Bidi);
        head.content_type = ContentType::Json;
        head.timeout = Some(Duration::from_millis(1500));
        head.metadata.insert("x-user", "ada");
        let mut buf = BytesMut::new();
        encode(&head, &mut buf);
        assert_eq!(buf.len(), encoded_len(&head));
        buf.put_slice(b"body");
        let mut payload = buf.freeze();
        let back = decode(&mut payload, HeadLimits::NONE).unwrap();
        assert_eq!(&*back.service, "greeter");
        assert_eq!(back.endpoint, "Greeter.Hello");
        assert_eq!(back.content_type, ContentType::Json);
        assert_eq!(back.kind, CallKind::Bidi);
        assert_eq!(back.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(back.metadata.get("x-user"), Some("ada"));
        assert_eq!(&payload[..], b"body");
    }

    #[test]
    fn truncated_heads_are_refused_at_every_length() {
        let mut head = RequestHead::new("s", "E.m", CallKind::Unary);
        head.metadata.insert("k", "v");
        let mut buf = BytesMut::new();
        encode(&head, &mut buf);
        for len in 0..buf.len() {
            let mut payload = Bytes::copy_from_slice(&buf[..len]);
            assert!(
                decode(&mut payload, HeadLimits::NONE).is_err(),
                "length {len}"
            );
        }
    }

    #[test]
    fn heads_over_the_limits_are_refused_with_431() {
        let mut head = RequestHead::new("s", "E.m", CallKind::Unary);
        for i in 0..10 {
            head.metadata.insert(format!("k{i}"), "v".repeat(100));
        }
        let mut buf = BytesMut::new();
        encode(&head, &mut buf);
        let decode_with = |max_metadata, max_head_size| {
            let limits = HeadLimits {
                max_metadata,
                max_head_size,
            };
            decode(&mut buf.clone().freeze(), limits)
        };
        let bad = decode_with(9, 1 << 20).unwrap_err();
        assert_eq!(bad.code, 431);
        assert!(bad.reason.contains("10 metadata entries"), "{}", bad.reason);
        let bad = decode_with(10, 500).unwrap_err();
        assert_eq!((bad.code, bad.reason.contains("500 bytes")), (431, true));
        assert_eq!(decode_with(10, buf.len()).unwrap().metadata.len(), 10);
    }

    #[test]
    fn many_keys_in_descending_order_decode_in_order() {
        let mut buf = BytesMut::new();
        encode(&RequestHead::new("s", "E.m", CallKind::Unary), &mut buf);
        buf.truncate(buf.len() - 2);
        buf.put_u16(u16::MAX);
        for i in (0..u16::MAX).rev() {
            put_str(&mut buf, &format!("K{i:05}"));
            put_str(&mut buf, "v");
        }
        let head = decode(&mut buf.freeze(), HeadLimits::NONE).unwrap();
        assert_eq!(head.metadata.len(), usize::from(u16::MAX));
        assert_eq!(head.metadata.iter().next(), Some(("k00000", "v")));
        assert_eq!(head.metadata.get("K65534"), Some("v"));
    }
}
