//! gRPC's length-prefixed messages: a compressed flag, a big-endian u32
//! length, the bytes. Compressed messages are accepted in gzip.

use std::io::Read;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::read::GzDecoder;

use crate::{Error, Result};

const PREFIX: usize = 5;

/// One message with its prefix, uncompressed.
pub(crate) fn encode_message(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(PREFIX + body.len());
    out.put_u8(0);
    out.put_u32(body.len() as u32);
    out.put_slice(body);
    out.freeze()
}

/// Cuts a stream of HTTP/2 DATA chunks into messages.
pub(crate) struct MessageDecoder {
    buffer: BytesMut,
    max_message: usize,
    /// The `grpc-encoding` of compressed messages: only `gzip` is accepted.
    gzip: bool,
}

impl MessageDecoder {
    /// A decoder refusing messages over `max_message` bytes (compressed or
    /// not); `encoding` is the call's `grpc-encoding` header.
    pub(crate) fn new(max_message: usize, encoding: Option<&str>) -> Self {
        Self {
            buffer: BytesMut::new(),
            max_message,
            gzip: encoding == Some("gzip"),
        }
    }

    /// Appends a chunk of the body.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole message, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// 413 for a message over the limit, 400 for a compressed message
    /// without gzip or one that does not inflate, or a bad flag byte.
    pub(crate) fn next_message(&mut self) -> Result<Option<Bytes>> {
        if self.buffer.len() < PREFIX {
            return Ok(None);
        }
        let flag = self.buffer[0];
        let len = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if len > self.max_message {
            return Err(Error::payload_too_large(format!(
                "gRPC message of {len} bytes is over the limit of {} bytes",
                self.max_message
            )));
        }
        if self.buffer.len() < PREFIX + len {
            return Ok(None);
        }
        self.buffer.advance(PREFIX);
        let body = self.buffer.split_to(len).freeze();
        match flag {
            0 => Ok(Some(body)),
            1 if self.gzip => self.inflate(&body).map(Some),
            1 => Err(Error::bad_request(
                "compressed gRPC message without grpc-encoding: gzip",
            )),
            other => Err(Error::bad_request(format!(
                "gRPC message flag {other} (0 or 1 expected)"
            ))),
        }
    }

    /// True when bytes of an unfinished message are left (an error at the
    /// end of the stream).
    pub(crate) fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }

    fn inflate(&self, body: &[u8]) -> Result<Bytes> {
        let mut out = Vec::new();
        let limit = self.max_message as u64 + 1;
        GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| Error::bad_request(format!("gzip message does not inflate: {e}")))?;
        if out.len() > self.max_message {
            return Err(Error::payload_too_large(format!(
                "inflated gRPC message is over the limit of {} bytes",
                self.max_message
            )));
        }
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(body: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn messages_split_across_chunks_come_out_whole() {
        let mut wire = encode_message(b"hello").to_vec();
        wire.extend_from_slice(&encode_message(b""));
        wire.extend_from_slice(&encode_message(b"world"));
        let mut decoder = MessageDecoder::new(1024, None);
        let mut out = Vec::new();
        for byte in wire {
            decoder.push(&[byte]);
            while let Some(message) = decoder.next_message().unwrap() {
                out.push(message);
            }
        }
        assert_eq!(out, [&b"hello"[..], b"", b"world"]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn gzip_inflates_when_announced_and_is_refused_otherwise() {
        let packed = gzip(b"compressed body");
        let mut frame = vec![1];
        frame.extend_from_slice(&(packed.len() as u32).to_be_bytes());
        frame.extend_from_slice(&packed);

        let mut decoder = MessageDecoder::new(1024, Some("gzip"));
        decoder.push(&frame);
        assert_eq!(
            decoder.next_message().unwrap().unwrap(),
            &b"compressed body"[..]
        );

        let mut plain = MessageDecoder::new(1024, None);
        plain.push(&frame);
        assert_eq!(plain.next_message().unwrap_err().code(), 400);
    }

    #[test]
    fn oversized_bombs_and_bad_flags_are_refused() {
        let mut decoder = MessageDecoder::new(16, None);
        decoder.push(&[0, 0, 0, 1, 0]);
        assert_eq!(decoder.next_message().unwrap_err().code(), 413);

        let bomb = gzip(&[0u8; 4096]);
        let mut frame = vec![1];
        frame.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
        frame.extend_from_slice(&bomb);
        let mut decoder = MessageDecoder::new(100, Some("gzip"));
        decoder.push(&frame);
        assert_eq!(decoder.next_message().unwrap_err().code(), 413);

        let mut decoder = MessageDecoder::new(16, None);
        decoder.push(&[7, 0, 0, 0, 0]);
        assert_eq!(decoder.next_message().unwrap_err().code(), 400);
        let mut decoder = MessageDecoder::new(16, None);
        decoder.push(&[0, 0, 0]);
        assert!(decoder.next_message().unwrap().is_none());
        assert!(decoder.has_partial());
    }
}
