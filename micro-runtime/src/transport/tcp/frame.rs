//! Frames of the native protocol: the header, the frame kinds and flags, and
//! an incremental parser that never trusts a length it has not checked.

use bytes::{Buf, Bytes, BytesMut};

use crate::transport::MessageRun;

/// Sent by the client once, first, on every connection.
pub(crate) const PREFACE: &[u8; 8] = b"MICRO/1\n";

/// Bytes of a frame header.
pub(crate) const HEADER_LEN: usize = 10;

/// A frame larger than our limit but at most this many times the limit is
/// read and discarded, and the call it belongs to fails with 413 while the
/// connection lives on; a larger announced length closes the connection
/// (it is garbage or an attack, and skipping it would take too long).
pub(crate) const DISCARD_FACTOR: u64 = 4;

/// The least a partly received frame's buffer grows by.
const GROWTH_FLOOR: usize = 16 * 1024;

/// Frame kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Settings = 0,
    Request = 1,
    Message = 2,
    End = 3,
    Reset = 4,
    Window = 5,
    Ping = 6,
    GoAway = 7,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Kind::Settings,
            1 => Kind::Request,
            2 => Kind::Message,
            3 => Kind::End,
            4 => Kind::Reset,
            5 => Kind::Window,
            6 => Kind::Ping,
            7 => Kind::GoAway,
            _ => return None,
        })
    }
}

/// Flag bits.
pub(crate) mod flags {
    /// REQUEST, MESSAGE: the sender sends nothing more on this stream.
    pub(crate) const END_STREAM: u8 = 0x01;
    /// REQUEST: a streaming call (messages follow in MESSAGE frames).
    pub(crate) const STREAMING: u8 = 0x02;
    /// END, RESET: the payload is an error (JSON).
    pub(crate) const ERROR: u8 = 0x04;
    /// RESET from a server: the request was never processed (safe to retry).
    pub(crate) const NOT_PROCESSED: u8 = 0x08;
    /// PING: this is the answer.
    pub(crate) const ACK: u8 = 0x10;
}

/// SETTINGS identifiers.
pub(crate) mod settings {
    /// Largest frame payload the sender accepts, in bytes.
    pub(crate) const MAX_FRAME_SIZE: u16 = 1;
    /// Messages a stream may send towards the sender before waiting for credit.
    pub(crate) const INITIAL_WINDOW: u16 = 2;
}

/// One decoded frame.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) kind: Kind,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: Bytes,
}

impl Frame {
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// What the parser found.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A complete frame (any kind but MESSAGE).
    Frame(Frame),
    /// MESSAGE frames of one stream that arrived one after the other (at
    /// least one); `end` when the last one ends the stream (END_STREAM).
    Messages {
        stream: u32,
        run: MessageRun,
        end: bool,
    },
    /// A frame over the size limit, being skipped: fail its stream with 413.
    Oversized { kind: u8, stream: u32, len: u64 },
}

/// Why the connection must close.
#[derive(Debug)]
pub(crate) struct ProtocolError(pub(crate) String);

/// Writes a frame header.
pub(crate) fn put_header(buf: &mut BytesMut, kind: Kind, flags: u8, stream: u32, len: usize) {
    buf.reserve(HEADER_LEN + len);
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&(len as u32).to_be_bytes());
    header[4] = kind as u8;
    header[5] = flags;
    header[6..].copy_from_slice(&stream.to_be_bytes());
    // One copy (a frame is queued per streamed message).
    buf.extend_from_slice(&header);
}

/// Incremental frame parser over a read buffer.
///
/// Every complete frame at the front of the buffer is split off at once
/// (one split per read, not per frame) and handed out from there, each a
/// slice of that part: a reference count per frame, or per run of one
/// stream's messages.
pub(crate) struct FrameParser {
    max_frame: u32,
    /// Bytes of an oversized frame still to skip.
    skipping: u64,
    /// Complete frames, their headers checked, not yet handed out.
    ready: Bytes,
}

/// A frame header's fields: length, kind, flags, stream.
fn header(bytes: &[u8]) -> (u64, u8, u8, u32) {
    (
        u64::from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        bytes[4],
        bytes[5],
        u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]),
    )
}

impl FrameParser {
    pub(crate) fn new(max_frame: u32) -> Self {
        Self {
            max_frame,
            skipping: 0,
            ready: Bytes::new(),
        }
    }

    /// The next frame from `buf`, `Ok(None)` when more bytes are needed.
    pub(crate) fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Parsed>, ProtocolError> {
        if !self.ready.is_empty() {
            return self.take_ready().map(Some);
        }
        if self.skipping > 0 {
            let skip = (buf.len() as u64).min(self.skipping) as usize;
            buf.advance(skip);
            self.skipping -= skip as u64;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        if buf.len() < HEADER_LEN {
            buf.reserve(HEADER_LEN);
            return Ok(None);
        }
        let (len, kind, _, stream) = header(buf);
        if len > self.max_frame as u64 {
            if len > self.max_frame as u64 * DISCARD_FACTOR {
                return Err(ProtocolError(format!(
                    "frame header announces {len} bytes, far over the {} byte limit",
                    self.max_frame
                )));
            }
            buf.advance(HEADER_LEN);
            self.skipping = len;
            return Ok(Some(Parsed::Oversized { kind, stream, len }));
        }
        if Kind::from_u8(kind).is_none() {
            return Err(ProtocolError(format!("unknown frame kind {kind}")));
        }
        let total = HEADER_LEN + len as usize;
        if buf.len() < total {
            // Room grows with what arrived (doubling), not with what the
            // header announces: a peer that announces 4 MiB and sends
            // ten bytes holds ten bytes' worth of buffer, not 4 MiB.
            buf.reserve((total - buf.len()).min(buf.len().max(GROWTH_FLOOR)));
            return Ok(None);
        }
        // The complete frames that follow, up to one this parser must
        // look at alone (oversized, unknown kind) or that is partial.
        let mut end = total;
        while let Some(next) = buf.get(end..end + HEADER_LEN) {
            let (len, kind, _, _) = header(next);
            if len > self.max_frame as u64 || Kind::from_u8(kind).is_none() {
                break;
            }
            let next_end = end + HEADER_LEN + len as usize;
            if next_end > buf.len() {
                break;
            }
            end = next_end;
        }
        self.ready = buf.split_to(end).freeze();
        self.take_ready().map(Some)
    }

    /// The frame, or run of one stream's messages, at the front of `ready`.
    fn take_ready(&mut self) -> Result<Parsed, ProtocolError> {
        let (len, kind, flags, stream) = header(&self.ready);
        let Some(kind) = Kind::from_u8(kind) else {
            return Err(ProtocolError(format!("unknown frame kind {kind}")));
        };
        let mut end = HEADER_LEN + len as usize;
        if kind != Kind::Message {
            let mut payload = self.ready.split_to(end);
            payload.advance(HEADER_LEN);
            return Ok(Parsed::Frame(Frame {
                kind,
                flags,
                stream,
                payload,
            }));
        }
        let (mut count, mut bytes, mut largest) = (1, len, len);
        let mut ended = flags & flags::END_STREAM != 0;
        while !ended && let Some(next) = self.ready.get(end..end + HEADER_LEN) {
            let (len, kind, flags, next_stream) = header(next);
            if kind != Kind::Message as u8 || next_stream != stream {
                break;
            }
            count += 1;
            bytes += len;
            largest = largest.max(len);
            ended = flags & flags::END_STREAM != 0;
            end += HEADER_LEN + len as usize;
        }
        let run = self.ready.split_to(end);
        Ok(Parsed::Messages {
            stream,
            // At most the frame limit each, which is a u32.
            run: MessageRun::new(run, HEADER_LEN, count, bytes, largest as u32),
            end: ended,
        })
    }
}

/// SETTINGS payload: `(id u16, value u32)*`.
pub(crate) fn encode_settings(max_frame: u32, window: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[0..2].copy_from_slice(&settings::MAX_FRAME_SIZE.to_be_bytes());
    out[2..6].copy_from_slice(&max_frame.to_be_bytes());
    out[6..8].copy_from_slice(&settings::INITIAL_WINDOW.to_be_bytes());
    out[8..12].copy_from_slice(&window.to_be_bytes());
    out
}

/// Reads SETTINGS; unknown ids are ignored.
pub(crate) fn decode_settings(mut payload: Bytes) -> Result<Vec<(u16, u32)>, ProtocolError> {
    if !payload.len().is_multiple_of(6) {
        return Err(ProtocolError(format!(
            "SETTINGS payload of {} bytes is not a multiple of 6",
            payload.len()
        )));
    }
    let mut out = Vec::new();
    while payload.has_remaining() {
        out.push((payload.get_u16(), payload.get_u32()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut as _;

    fn frame(kind: Kind, flags: u8, stream: u32, payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        put_header(&mut buf, kind, flags, stream, payload.len());
        buf.put_slice(payload);
        buf
    }

    /// Every message of a run, in order.
    fn messages(run: &mut MessageRun) -> Vec<Bytes> {
        std::iter::from_fn(|| run.next_message()).collect()
    }

    #[test]
    fn parses_frames_split_anywhere() {
        let mut all = frame(Kind::Message, flags::END_STREAM, 7, b"hello");
        all.extend_from_slice(&frame(Kind::Ping, 0, 0, &[0; 8]));
        for split in 0..all.len() {
            let mut parser = FrameParser::new(1024);
            let mut buf = BytesMut::from(&all[..split]);
            let mut parsed = Vec::new();
            while let Some(p) = parser.next(&mut buf).unwrap() {
                parsed.push(p);
            }
            buf.extend_from_slice(&all[split..]);
            while let Some(p) = parser.next(&mut buf).unwrap() {
                parsed.push(p);
            }
            assert_eq!(parsed.len(), 2, "split at {split}");
            match &mut parsed[0] {
                Parsed::Messages { stream, run, end } => {
                    assert_eq!((*stream, *end), (7, true));
                    assert_eq!(messages(run), [&b"hello"[..]]);
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(&parsed[1], Parsed::Frame(f) if f.kind == Kind::Ping));
        }
    }

    #[test]
    fn one_streams_messages_in_a_row_come_as_one_run() {
        let mut buf = BytesMut::new();
        for (stream, flags, body) in [
            (1, 0, &b"a"[..]),
            (1, 0, b""),
            (1, flags::END_STREAM, b"bc"),
            (1, 0, b"late"),
            (3, 0, b"d"),
        ] {
            buf.extend_from_slice(&frame(Kind::Message, flags, stream, body));
        }
        buf.extend_from_slice(&frame(Kind::Window, 0, 3, &[0, 0, 0, 9]));
        buf.extend_from_slice(&frame(Kind::Message, 0, 3, b"e"));
        let mut parser = FrameParser::new(1024);
        let mut runs = Vec::new();
        while let Some(parsed) = parser.next(&mut buf).unwrap() {
            match parsed {
                Parsed::Messages {
                    stream,
                    mut run,
                    end,
                } => {
                    assert!(run.cost(32, 1 << 20) > 0);
                    runs.push((stream, run.count(), messages(&mut run), end));
                }
                Parsed::Frame(f) => runs.push((f.stream, 0, vec![f.payload], false)),
                other => panic!("{other:?}"),
            }
        }
        let b = |s: &'static [u8]| Bytes::from_static(s);
        assert_eq!(
            runs,
            [
                (1, 3, vec![b(b"a"), b(b""), b(b"bc")], true),
                (1, 1, vec![b(b"late")], false),
                (3, 1, vec![b(b"d")], false),
                (3, 0, vec![b(&[0, 0, 0, 9])], false),
                (3, 1, vec![b(b"e")], false),
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn frames_before_a_bad_header_are_handed_out_first() {
        let mut buf = frame(Kind::Message, 0, 1, b"ok");
        let mut bad = frame(Kind::Message, 0, 1, b"");
        bad[4] = 99;
        buf.extend_from_slice(&bad);
        let mut parser = FrameParser::new(1024);
        match parser.next(&mut buf).unwrap() {
            Some(Parsed::Messages { mut run, .. }) => assert_eq!(messages(&mut run), [&b"ok"[..]]),
            other => panic!("{other:?}"),
        }
        assert!(parser.next(&mut buf).is_err());
    }

    #[test]
    fn oversized_frame_is_skipped_then_parsing_resumes() {
        let mut buf = frame(Kind::Message, 0, 2, b"before");
        buf.extend_from_slice(&frame(Kind::Message, 0, 3, &[1u8; 100]));
        buf.extend_from_slice(&frame(Kind::Message, 0, 4, b"ok"));
        let mut parser = FrameParser::new(50);
        match parser.next(&mut buf).unwrap() {
            Some(Parsed::Messages {
                stream, mut run, ..
            }) => {
                assert_eq!(stream, 2);
                assert_eq!(messages(&mut run), [&b"before"[..]]);
            }
            other => panic!("{other:?}"),
        }
        match parser.next(&mut buf).unwrap() {
            Some(Parsed::Oversized { stream, len, .. }) => {
                assert_eq!((stream, len), (3, 100));
            }
            other => panic!("{other:?}"),
        }
        match parser.next(&mut buf).unwrap() {
            Some(Parsed::Messages { mut run, .. }) => assert_eq!(messages(&mut run), [&b"ok"[..]]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absurd_length_and_unknown_kind_are_protocol_errors() {
        let mut buf = BytesMut::from(&[0x40, 0, 0, 0, 2, 0, 0, 0, 0, 1][..]);
        let err = FrameParser::new(4 << 20).next(&mut buf).unwrap_err();
        assert!(err.0.contains("1073741824"), "{}", err.0);
        let mut buf = frame(Kind::Message, 0, 1, b"");
        buf[4] = 99;
        assert!(FrameParser::new(1024).next(&mut buf).is_err());
    }

    #[test]
    fn settings_round_trip() {
        let s = decode_settings(Bytes::copy_from_slice(&encode_settings(9, 3))).unwrap();
        assert_eq!(
            s,
            vec![(settings::MAX_FRAME_SIZE, 9), (settings::INITIAL_WINDOW, 3)]
        );
        assert!(decode_settings(Bytes::from_static(&[1, 2, 3])).is_err());
    }

    #[test]
    fn an_announced_length_is_not_reserved_before_its_bytes_arrive() {
        let mut parser = FrameParser::new(4 << 20);
        let mut buf = BytesMut::new();
        buf.put_u32((4 << 20) - 1);
        buf.put_u8(Kind::Message as u8);
        buf.put_u8(0);
        buf.put_u32(1);
        buf.put_slice(&[7; 100]);
        assert!(parser.next(&mut buf).unwrap().is_none());
        assert!(buf.capacity() < 64 * 1024, "{} reserved", buf.capacity());
        // As the bytes arrive the frame completes, whole.
        while buf.len() < HEADER_LEN + (4 << 20) - 1 {
            let room = (HEADER_LEN + (4 << 20) - 1 - buf.len()).min(100_000);
            buf.put_bytes(7, room);
            if buf.len() < HEADER_LEN + (4 << 20) - 1 {
                assert!(parser.next(&mut buf).unwrap().is_none());
            }
        }
        match parser.next(&mut buf).unwrap() {
            Some(Parsed::Messages { mut run, .. }) => {
                assert_eq!(run.next_message().unwrap().len(), (4 << 20) - 1);
            }
            other => panic!("{other:?}"),
        }
    }
}
