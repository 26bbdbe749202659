//! Entry points for the fuzz targets of the native protocol (`fuzz/`,
//! feature `fuzzing`): arbitrary bytes in, and the checks that must hold
//! whatever the bytes are. Not a stable API.

use bytes::{Bytes, BytesMut};

use super::frame::{FrameParser, HEADER_LEN, Parsed, decode_settings};
use super::head::{self, HeadLimits};
use crate::Error;

/// Feeds `data` to the frame parser in pieces (their sizes taken from the
/// first byte) as a socket would: it never panics, and the buffer it grows
/// for a partly received frame stays within a small multiple of what
/// arrived, however large a length the header announces.
pub fn frames(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let max_frame = 64 * 1024;
    let mut parser = FrameParser::new(max_frame);
    let mut buf = BytesMut::new();
    let mut received = 0usize;
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        received += piece.len();
        loop {
            match parser.next(&mut buf) {
                Ok(Some(Parsed::Frame(frame))) => {
                    assert!(frame.payload.len() <= max_frame as usize);
                }
                Ok(Some(Parsed::Messages { mut run, .. })) => {
                    let count = run.count();
                    let mut seen = 0;
                    while let Some(message) = run.next_message() {
                        assert!(message.len() <= max_frame as usize);
                        seen += 1;
                    }
                    assert_eq!(seen, count, "a run holds the messages it counts");
                }
                Ok(Some(Parsed::Oversized { len, .. })) => assert!(len > u64::from(max_frame)),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        let bound = 2 * received.max(HEADER_LEN) + 64 * 1024;
        assert!(
            buf.capacity() <= bound,
            "{} bytes reserved after {received} arrived",
            buf.capacity()
        );
    }
}

/// Decodes `data` as a request head (with a server's default limits); a
/// head that decodes encodes back to one that decodes the same, and a
/// refusal is a 400 or a 431.
pub fn request_head(data: &[u8]) {
    let limits = HeadLimits {
        max_metadata: 256,
        max_head_size: 64 * 1024,
    };
    let mut payload = Bytes::copy_from_slice(data);
    match head::decode(&mut payload, limits) {
        Ok(decoded) => {
            let mut again = BytesMut::new();
            head::encode(&decoded, &mut again);
            assert_eq!(again.len(), head::encoded_len(&decoded));
            let back = head::decode(&mut again.freeze(), HeadLimits::NONE)
                .expect("an encoded head decodes");
            assert_eq!(back.service, decoded.service);
            assert_eq!(back.endpoint, decoded.endpoint);
            assert_eq!(back.content_type, decoded.content_type);
            assert_eq!(back.kind, decoded.kind);
            assert_eq!(back.timeout, decoded.timeout);
            assert_eq!(back.metadata, decoded.metadata);
        }
        Err(bad) => assert!(matches!(bad.code, 400 | 431), "{}", bad.code),
    }
}

/// What the peer's answers carry besides bodies: the error of an END or
/// RESET frame (JSON, or anything) and a SETTINGS payload. The error
/// survives its own round trip.
pub fn response_head(data: &[u8]) {
    let err = super::wire::error_payload(data, "call failed");
    let back = Error::from_json(&err.to_json());
    assert_eq!(back.code(), err.code());
    assert_eq!(back.detail(), err.detail());
    if let Ok(settings) = decode_settings(Bytes::copy_from_slice(data)) {
        assert_eq!(settings.len() * 6, data.len());
    }
}
