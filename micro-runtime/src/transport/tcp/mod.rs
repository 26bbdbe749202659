//! The native protocol over TCP (transport `tcp`, the default).
//!
//! # Connection
//!
//! The client opens a TCP connection and sends the 8-byte preface
//! `MICRO/1\n` (so a port can tell micro apart from HTTP/1 and from the
//! HTTP/2 preface `PRI * HTTP/2.0`), then frames. Each side's first frame is
//! SETTINGS. Many calls run at once on one connection, each on its own
//! stream id chosen by the client; a slow call never blocks a fast one.
//!
//! # Frame layout
//!
//! Every frame is a 10-byte header and a payload; integers are big-endian.
//!
//! ```text
//!  0               4       5       6               10
//! +---------------+-------+-------+---------------+------------------+
//! | length (u32)  | kind  | flags | stream (u32)  | payload (length) |
//! +---------------+-------+-------+---------------+------------------+
//! ```
//!
//! `length` counts the payload only and may not exceed the receiver's
//! MAX_FRAME_SIZE (default 4 MiB, `MICRO_TRANSPORT_MAX_FRAME`). A frame over
//! the limit (up to 4× it) is skipped and its call fails with 413 while the
//! connection lives on; a larger length, an unknown kind or a bad preface
//! closes the connection, with the reason logged.
//!
//! | kind | name | stream | payload | flags |
//! |---|---|---|---|---|
//! | 0 | SETTINGS | 0 | `(id u16, value u32)*`: 1 = MAX_FRAME_SIZE, 2 = INITIAL_WINDOW (bytes) | |
//! | 1 | REQUEST | call | request head, then (unary) the request message | END_STREAM (0x01), STREAMING (0x02) |
//! | 2 | MESSAGE | call | one encoded message | END_STREAM: last message from this side |
//! | 3 | END | call | empty, or error JSON with ERROR (0x04) | ERROR |
//! | 4 | RESET | call | empty or error JSON | NOT_PROCESSED (0x08): refused unprocessed, safe to retry |
//! | 5 | WINDOW | call | `credit u32`: bytes the peer may send more | |
//! | 6 | PING | 0 | 8 opaque bytes, echoed | ACK (0x10) on the answer |
//! | 7 | GOAWAY | 0 | `last stream u32`, reason (UTF-8) | |
//!
//! Request head (inside REQUEST): `service` and `endpoint` as `u16`
//! length + UTF-8, `content type u8` (1 protobuf, 2 JSON), `call kind u8`
//! (0 unary, 1 server, 2 client, 3 bidi streaming), `timeout u64` in
//! microseconds (0 = none; relative, so clocks need not agree),
//! `metadata count u16` then `u16`-length-prefixed key/value pairs.
//!
//! # Calls
//!
//! * Unary: REQUEST(END_STREAM) carrying the request; answered by
//!   MESSAGE(END_STREAM) with the response, or END(ERROR).
//! * Streaming: REQUEST(STREAMING) with the head only; each side then sends
//!   MESSAGEs and ends with END (or MESSAGE with END_STREAM); an END(ERROR)
//!   from the server fails the call.
//! * Flow control, per stream and direction, in bytes: a side may send
//!   messages worth INITIAL_WINDOW (default 256 KiB,
//!   `MICRO_TRANSPORT_STREAM_WINDOW`) on a stream, each costing its length
//!   plus 32 (at most the whole window, so any message fits), then waits
//!   for WINDOW credit, which the reader returns as the application
//!   consumes messages, half a window at a time: a slow reader stops the
//!   writer, memory stays bounded, and small messages stream thousands
//!   ahead. Sending past the credit is a protocol error.
//! * Cancellation: a caller that drops its call sends RESET; the server
//!   drops the handler's future.
//! * Keepalive: a side that hears nothing for the keepalive interval
//!   (10 s) sends PING; silence past the timeout (20 s) closes the
//!   connection and fails its calls (a dead or hung peer).
//! * Shutdown: the server sends GOAWAY, answers new REQUESTs with
//!   RESET(NOT_PROCESSED) (the client retries them elsewhere), lets calls in
//!   flight finish within the grace period, then closes.
//!
//! Writes are batched per connection: frames are appended to one buffer and
//! a writer task flushes it with one `write` per batch (it lets the tasks
//! ready to queue frames run before it drains the buffer).
//!
//! The server runs a unary handler once on the connection's reader: a
//! handler that answers without waiting costs no task; one that waits
//! continues in a task of its own, so a slow call never blocks the
//! connection. (A handler that computes for long without an `.await`
//! blocks its connection's reader meanwhile, as it would block a runtime
//! worker anyway: move such work to `spawn_blocking`.)

mod client;
mod frame;
mod head;
mod server;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use super::{Connection, Dispatcher, Listener, Transport};
use crate::{Result, config};

/// Settings of the TCP transport.
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Largest frame payload accepted (`MICRO_TRANSPORT_MAX_FRAME`, default 4 MiB).
    pub max_frame_size: u32,
    /// Bytes in flight per stream direction before the writer waits
    /// (`MICRO_TRANSPORT_STREAM_WINDOW`, default 256 KiB).
    pub stream_window: u32,
    /// Silence after which a PING is sent (`MICRO_TRANSPORT_KEEPALIVE`, 10 s).
    pub keepalive_interval: Duration,
    /// Silence after which the connection is closed (`MICRO_TRANSPORT_KEEPALIVE_TIMEOUT`, 20 s).
    pub keepalive_timeout: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            max_frame_size: 4 * 1024 * 1024,
            stream_window: super::DEFAULT_STREAM_WINDOW,
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

impl TcpOptions {
    /// Defaults overridden by the `MICRO_TRANSPORT_*` variables.
    ///
    /// # Errors
    ///
    /// 400 naming a variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(n) = config::number("MICRO_TRANSPORT_MAX_FRAME")? {
            options.max_frame_size = n.max(1024);
        }
        if let Some(n) = config::number("MICRO_TRANSPORT_STREAM_WINDOW")? {
            options.stream_window = n.max(1024);
        }
        if let Some(d) = config::duration("MICRO_TRANSPORT_KEEPALIVE")? {
            options.keepalive_interval = d;
            options.keepalive_timeout = d * 2;
        }
        if let Some(d) = config::duration("MICRO_TRANSPORT_KEEPALIVE_TIMEOUT")? {
            options.keepalive_timeout = d;
        }
        Ok(options)
    }
}

/// The native TCP transport.
#[derive(Clone, Debug, Default)]
pub struct TcpTransport {
    options: TcpOptions,
}

impl TcpTransport {
    /// A transport with these options.
    pub fn new(options: TcpOptions) -> Self {
        Self { options }
    }

    /// The options.
    pub fn options(&self) -> &TcpOptions {
        &self.options
    }
}

#[async_trait::async_trait]
impl Transport for TcpTransport {
    fn name(&self) -> &'static str {
        "tcp"
    }

    async fn dial(&self, address: &str) -> Result<Arc<dyn Connection>> {
        Ok(Arc::new(client::dial(address, self.options.clone()).await?))
    }

    async fn listen(
        &self,
        address: &str,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Box<dyn Listener>> {
        Ok(Box::new(
            server::listen(address, dispatcher, self.options.clone()).await?,
        ))
    }
}

/// Frame and head codecs, for the benchmarks.
#[doc(hidden)]
pub mod bench {
    use bytes::{Bytes, BytesMut};

    use super::frame::{FrameParser, Kind, Parsed, put_header};
    use crate::transport::RequestHead;

    /// Appends one MESSAGE frame.
    pub fn encode_message_frame(buf: &mut BytesMut, stream: u32, body: &[u8]) {
        put_header(buf, Kind::Message, 0, stream, body.len());
        buf.extend_from_slice(body);
    }

    /// Parses every complete frame in `buf`.
    pub fn parse_frames(buf: &mut BytesMut, max_frame: u32) -> usize {
        let mut parser = FrameParser::new(max_frame);
        let mut n = 0;
        while let Ok(Some(Parsed::Frame(_))) = parser.next(buf) {
            n += 1;
        }
        n
    }

    /// Encodes a request head.
    pub fn encode_head(head: &RequestHead, buf: &mut BytesMut) {
        super::head::encode(head, buf);
    }

    /// Decodes a request head.
    pub fn decode_head(payload: &mut Bytes) -> Option<RequestHead> {
        super::head::decode(payload).ok()
    }
}
