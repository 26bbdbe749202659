//! The request head inside a REQUEST frame.

use std::borrow::Cow;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Metadata;
use crate::codec::ContentType;
use crate::endpoint::CallKind;
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

/// Why a head does not decode.
#[derive(Debug)]
pub(crate) struct BadHead(pub(crate) String);

fn take_str(buf: &mut Bytes, what: &str) -> Result<String, BadHead> {
    if buf.remaining() < 2 {
        return Err(BadHead(format!("truncated before {what}")));
    }
    let len = buf.get_u16() as usize;
    if buf.remaining() < len {
        return Err(BadHead(format!("{what} runs past the frame")));
    }
    let bytes = buf.split_to(len);
    String::from_utf8(bytes.to_vec()).map_err(|_| BadHead(format!("{what} is not UTF-8")))
}

/// Reads a head off the front of `payload`, leaving the body.
pub(crate) fn decode(payload: &mut Bytes) -> Result<RequestHead, BadHead> {
    let service = take_str(payload, "service")?;
    let endpoint = take_str(payload, "endpoint")?;
    if payload.remaining() < 12 {
        return Err(BadHead("truncated before content type".into()));
    }
    let content_type = ContentType::from_wire_code(payload.get_u8())
        .map_err(|e| BadHead(e.detail().to_owned()))?;
    let kind = match payload.get_u8() {
        0 => CallKind::Unary,
        1 => CallKind::ServerStreaming,
        2 => CallKind::ClientStreaming,
        3 => CallKind::Bidi,
        other => return Err(BadHead(format!("unknown call kind {other}"))),
    };
    let micros = payload.get_u64();
    let timeout = (micros > 0).then(|| Duration::from_micros(micros));
    if payload.remaining() < 2 {
        return Err(BadHead("truncated before metadata".into()));
    }
    let count = payload.get_u16();
    let mut metadata = Metadata::new();
    for _ in 0..count {
        let key = take_str(payload, "metadata key")?;
        let value = take_str(payload, "metadata value")?;
        metadata.insert(key, value);
    }
    Ok(RequestHead {
        service: service.into(),
        endpoint: Cow::Owned(endpoint),
        content_type,
        timeout,
        metadata,
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
        let back = decode(&mut payload).unwrap();
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
            assert!(decode(&mut payload).is_err(), "length {len}");
        }
    }
}
