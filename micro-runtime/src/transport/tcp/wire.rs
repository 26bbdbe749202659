//! What both ends of a connection share: the batched write queue, the peer's
//! settings, liveness, and helpers that write each kind of frame.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::TcpOptions;
use super::frame::{self, FrameParser, Kind, Parsed, ProtocolError, flags, settings};
use super::pending::PendingShare;
use crate::error::Origin;
use crate::{Error, Result};

/// Capacity kept by an idle write buffer; larger ones are released after a
/// burst so memory returns to its baseline.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Buffered bytes above which stream senders wait for the socket to drain.
const HIGH_WATER: usize = 4 * 1024 * 1024;

/// Buffered bytes above which a server stops reading from its peer: what
/// it queues without waiting (answers to requests and pings) has piled up
/// because the peer sends without reading. Above [`HIGH_WATER`], so
/// streams that wait at that mark never pause a healthy peer.
const READ_PAUSE: usize = 2 * HIGH_WATER;

/// The state of one connection shared by its reader, writer and users.
pub(crate) struct Wire {
    queue: Mutex<Queue>,
    /// Mirrors the queue's length, for [`Wire::writable`] without the lock.
    queued: AtomicUsize,
    /// Wakes the writer; notified only when it waits ([`Queue::writer_idle`]),
    /// not once per frame.
    wake: Notify,
    drained: Notify,
    closed: AtomicBool,
    closed_notify: Notify,
    peer_max_frame: AtomicU32,
    peer_window: AtomicU32,
    last_recv_ms: AtomicU64,
    epoch: Instant,
    pub(crate) options: TcpOptions,
    pub(crate) peer: String,
}

struct Queue {
    buf: BytesMut,
    /// The writer found the buffer empty and waits for [`Wire::wake`].
    writer_idle: bool,
}

impl Queue {
    /// Notes a frame queued; true when the writer waits and must be woken.
    fn queued(&mut self, mirror: &AtomicUsize) -> bool {
        mirror.store(self.buf.len(), Ordering::Relaxed);
        std::mem::take(&mut self.writer_idle)
    }
}

impl Wire {
    pub(crate) fn new(options: TcpOptions, peer: String) -> Arc<Self> {
        Arc::new(Self {
            queue: Mutex::new(Queue {
                // Allocated by the first frame queued.
                buf: BytesMut::new(),
                writer_idle: false,
            }),
            queued: AtomicUsize::new(0),
            wake: Notify::new(),
            drained: Notify::new(),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            peer_max_frame: AtomicU32::new(options.max_frame_size),
            peer_window: AtomicU32::new(options.stream_window),
            last_recv_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            options,
            peer,
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the connection: the writer flushes what is queued and shuts the
    /// socket down; the reader stops.
    pub(crate) fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
            self.closed_notify.notify_waiters();
            self.drained.notify_waiters();
        }
    }

    /// Resolves once [`Wire::close`] was called.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn peer_max_frame(&self) -> usize {
        self.peer_max_frame.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn peer_window(&self) -> u32 {
        self.peer_window.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_recv_ms.store(ms, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_recv_ms.load(Ordering::Relaxed)))
    }

    /// Queues one frame made of `parts`.
    pub(crate) fn push(&self, kind: Kind, flags: u8, stream: u32, parts: &[&[u8]]) -> Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let wake = {
            let mut queue = self.queue.lock().unwrap();
            if self.is_closed() {
                return Err(connection_closed(&self.peer));
            }
            frame::put_header(&mut queue.buf, kind, flags, stream, len);
            for part in parts {
                queue.buf.put_slice(part);
            }
            queue.queued(&self.queued)
        };
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Queues a frame whose payload is written by `fill` (exactly `len` bytes).
    pub(crate) fn push_with(
        &self,
        kind: Kind,
        flags: u8,
        stream: u32,
        len: usize,
        fill: impl FnOnce(&mut BytesMut),
    ) -> Result<()> {
        self.push_below(usize::MAX, kind, flags, stream, len, fill)
            .unwrap_or(Ok(()))
    }

    /// [`Wire::push_with`] when less than `limit` bytes are queued; `None`
    /// (nothing queued, `fill` not called) otherwise.
    fn push_below(
        &self,
        limit: usize,
        kind: Kind,
        flags: u8,
        stream: u32,
        len: usize,
        fill: impl FnOnce(&mut BytesMut),
    ) -> Option<Result<()>> {
        let wake = {
            let mut queue = self.queue.lock().unwrap();
            if self.is_closed() {
                return Some(Err(connection_closed(&self.peer)));
            }
            if queue.buf.len() >= limit {
                return None;
            }
            frame::put_header(&mut queue.buf, kind, flags, stream, len);
            let before = queue.buf.len();
            fill(&mut queue.buf);
            debug_assert_eq!(queue.buf.len() - before, len);
            queue.queued(&self.queued)
        };
        if wake {
            self.wake.notify_one();
        }
        Some(Ok(()))
    }

    /// Waits while more than the high-water mark is queued; `None` when
    /// there is room now (no allocation on the common path).
    pub(crate) fn writable(&self) -> Option<futures_util::future::BoxFuture<'_, ()>> {
        if self.queued.load(Ordering::Relaxed) < HIGH_WATER {
            return None;
        }
        Some(Box::pin(self.wait_writable()))
    }

    async fn wait_writable(&self) {
        loop {
            let drained = self.drained.notified();
            if self.is_closed() || self.queue.lock().unwrap().buf.len() < HIGH_WATER {
                return;
            }
            drained.await;
        }
    }

    /// Waits until less than [`READ_PAUSE`] is queued or the wire closes;
    /// false when the peer read nothing for the keepalive timeout. Each
    /// write that completes meanwhile counts as a sign of life, since the
    /// peer's own frames go unread.
    async fn wait_backlog_drained(&self) -> bool {
        loop {
            let drained = self.drained.notified();
            if self.is_closed() || self.queue.lock().unwrap().buf.len() < READ_PAUSE {
                return true;
            }
            if tokio::time::timeout(self.options.keepalive_timeout, drained)
                .await
                .is_err()
            {
                return false;
            }
            self.touch();
        }
    }

    /// Refuses a message larger than the peer accepts (the call fails with
    /// 413, the connection is untouched).
    pub(crate) fn check_size(&self, len: usize, what: &str) -> Result<()> {
        let max = self.peer_max_frame();
        if len > max {
            return Err(Error::payload_too_large(format!(
                "{what} of {len} bytes exceeds the {max} byte frame limit"
            ))
            .with_origin(Origin::NotSent));
        }
        Ok(())
    }

    pub(crate) fn send_settings(&self) -> Result<()> {
        let payload =
            frame::encode_settings(self.options.max_frame_size, self.options.stream_window);
        self.push(Kind::Settings, 0, 0, &[&payload])
    }

    pub(crate) fn apply_settings(&self, payload: Bytes) -> std::result::Result<(), ProtocolError> {
        for (id, value) in frame::decode_settings(payload)? {
            match id {
                settings::MAX_FRAME_SIZE => self.peer_max_frame.store(value, Ordering::Relaxed),
                settings::INITIAL_WINDOW => self.peer_window.store(value.max(1), Ordering::Relaxed),
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn send_message(&self, stream: u32, body: &[u8], end: bool) -> Result<()> {
        self.check_size(body.len(), "message")?;
        let flags = if end { flags::END_STREAM } else { 0 };
        self.push(Kind::Message, flags, stream, &[body])
    }

    /// Queues a MESSAGE whose body `write` puts in place (exactly `len` bytes).
    pub(crate) fn send_message_with(
        &self,
        stream: u32,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Result<()> {
        self.check_size(len, "message")?;
        self.push_with(Kind::Message, 0, stream, len, write)
    }

    /// [`Wire::send_message_with`] when the buffer is below its high-water
    /// mark; `None` (nothing queued) when it is not.
    pub(crate) fn try_send_message_with(
        &self,
        stream: u32,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Option<Result<()>> {
        if let Err(err) = self.check_size(len, "message") {
            return Some(Err(err));
        }
        self.push_below(HIGH_WATER, Kind::Message, 0, stream, len, write)
    }

    pub(crate) fn send_end(&self, stream: u32, result: &Result<()>) {
        let _ = match result {
            Ok(()) => self.push(Kind::End, 0, stream, &[]),
            Err(err) => self.push(Kind::End, flags::ERROR, stream, &[&err.to_json()]),
        };
    }

    pub(crate) fn send_error(&self, stream: u32, err: &Error) {
        self.send_end(stream, &Err(err.clone()));
    }

    pub(crate) fn send_reset(&self, stream: u32, flags: u8) {
        let _ = self.push(Kind::Reset, flags, stream, &[]);
    }

    /// Refuses a call unprocessed (the client may send it elsewhere),
    /// saying why.
    pub(crate) fn send_reset_error(&self, stream: u32, err: &Error) {
        let _ = self.push(Kind::Reset, flags::NOT_PROCESSED, stream, &[&err.to_json()]);
    }

    pub(crate) fn send_window(&self, stream: u32, credit: u32) {
        let _ = self.push(Kind::Window, 0, stream, &[&credit.to_be_bytes()]);
    }

    pub(crate) fn send_go_away(&self, last_stream: u32, reason: &str) {
        let _ = self.push(
            Kind::GoAway,
            0,
            0,
            &[&last_stream.to_be_bytes(), reason.as_bytes()],
        );
    }

    /// Answers a PING (handled here for both ends).
    pub(crate) fn on_ping(&self, flags: u8, payload: &[u8]) {
        if flags & frame::flags::ACK == 0 {
            let _ = self.push(Kind::Ping, frame::flags::ACK, 0, &[payload]);
        }
    }
}

pub(crate) fn connection_closed(peer: &str) -> Error {
    Error::unavailable(format!("connection to {peer} is closed")).with_origin(Origin::NotSent)
}

/// Writes queued frames in batches until the wire closes or the socket fails.
pub(crate) async fn write_loop(wire: Arc<Wire>, mut socket: impl AsyncWrite + Unpin) {
    let mut spare = BytesMut::new();
    loop {
        let idle = {
            let mut queue = wire.queue.lock().unwrap();
            if queue.buf.is_empty() {
                // Producers wake us from here on (see `Queue::queued`).
                queue.writer_idle = true;
                true
            } else {
                std::mem::swap(&mut queue.buf, &mut spare);
                wire.queued.store(0, Ordering::Relaxed);
                false
            }
        };
        if idle {
            if wire.is_closed() {
                break;
            }
            wire.wake.notified().await;
            gather(&wire).await;
            continue;
        }
        if let Err(err) = socket.write_all(&spare).await {
            tracing::debug!(peer = %wire.peer, error = %err, "write failed; closing connection");
            wire.close();
            return;
        }
        spare.clear();
        if spare.capacity() > KEEP_CAPACITY {
            spare = BytesMut::new();
        }
        wire.drained.notify_waiters();
    }
    let _ = socket.shutdown().await;
}

/// Lets the tasks that are queueing frames (handlers answering, callers
/// sending, a stream's writer) run before the writer drains the buffer, so
/// one write carries many frames instead of one syscall per frame: yields
/// while the buffer keeps growing between yields, up to [`GATHER_BYTES`]
/// or [`GATHER_YIELDS`]. A lone frame costs one yield.
async fn gather(wire: &Wire) {
    let mut seen = wire.queued.load(Ordering::Relaxed);
    for _ in 0..GATHER_YIELDS {
        tokio::task::yield_now().await;
        let len = wire.queued.load(Ordering::Relaxed);
        if len == seen || len >= GATHER_BYTES {
            return;
        }
        seen = len;
    }
}

/// The most a connection's reader asks the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// What a new connection's reader asks for: reads that fill it double it
/// (up to [`READ_CHUNK`]), small ones halve it, so an idle or quiet
/// connection holds a few KiB and a busy one reads in large chunks.
const FIRST_READ: usize = 4 * 1024;

/// The most a writer waits to gather before writing, in bytes and yields.
const GATHER_BYTES: usize = 64 * 1024;
const GATHER_YIELDS: usize = 16;

/// What a reader does while its own side's answers pile up unsent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backlog {
    /// Keep reading (a client: what it reads are the answers it waits for).
    KeepReading,
    /// Stop reading above [`READ_PAUSE`] until the peer reads: a peer that
    /// sends without reading is held to the kernel's socket buffers, and
    /// closed once it reads nothing for the keepalive timeout.
    Pause,
}

/// Reads frames and hands each to `on_frame` until the peer closes, the wire
/// is closed, or the peer breaks the protocol (logged with the reason).
/// With a `pending` share, the buffer of a partly received frame is taken
/// from it before each read; the connection closes when it cannot be.
pub(crate) async fn read_loop(
    wire: &Wire,
    mut socket: impl AsyncRead + Unpin,
    mut initial: BytesMut,
    backlog: Backlog,
    mut pending: Option<PendingShare>,
    mut on_frame: impl FnMut(Parsed) -> std::result::Result<(), ProtocolError>,
) {
    let mut parser = FrameParser::new(wire.options.max_frame_size);
    let mut buf = std::mem::take(&mut initial);
    let mut chunk = FIRST_READ;
    wire.touch();
    loop {
        loop {
            match parser.next(&mut buf) {
                Ok(Some(parsed)) => {
                    if let Err(err) = on_frame(parsed) {
                        tracing::warn!(peer = %wire.peer, reason = %err.0, "closing connection: protocol error");
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(peer = %wire.peer, reason = %err.0, "closing connection: protocol error");
                    return;
                }
            }
        }
        if backlog == Backlog::Pause && !wire.wait_backlog_drained().await {
            tracing::warn!(peer = %wire.peer, "closing connection: peer does not read its answers");
            return;
        }
        if buf.is_empty() && buf.capacity() > 2 * chunk {
            // Give a burst's buffer back.
            buf = BytesMut::new();
        }
        // Room for a whole chunk. Frames split off the front keep sharing
        // the buffer, so without this its spare room shrinks to nothing and
        // `read_buf` falls back to 64-byte reads: a syscall per few frames.
        if buf.capacity() - buf.len() < chunk / 4 {
            buf.reserve(chunk);
        }
        if let Some(share) = &mut pending {
            let partial = if buf.is_empty() { 0 } else { buf.capacity() };
            if !share.hold(partial, &wire.peer) {
                return;
            }
        }
        let room = buf.capacity() - buf.len();
        let read = tokio::select! {
            read = socket.read_buf(&mut buf) => read,
            () = wire.closed() => return,
        };
        if let Ok(n) = read {
            if n >= room {
                chunk = (chunk * 2).min(READ_CHUNK);
            } else if n < chunk / 8 {
                chunk = (chunk / 2).max(FIRST_READ);
            }
        }
        match read {
            Ok(0) => {
                if !buf.is_empty() {
                    tracing::warn!(peer = %wire.peer, pending = buf.len(),
                        "closing connection: peer closed in the middle of a frame");
                }
                return;
            }
            Ok(_) => wire.touch(),
            Err(err) => {
                tracing::debug!(peer = %wire.peer, error = %err, "read failed; closing connection");
                return;
            }
        }
    }
}

/// Pings a quiet peer and closes the connection when it stays silent past
/// the keepalive timeout (a dead or hung process).
pub(crate) async fn keepalive(wire: Arc<Wire>) {
    let interval = wire.options.keepalive_interval;
    let timeout = wire.options.keepalive_timeout;
    let mut tick = tokio::time::interval(interval.min(timeout / 2).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wire.closed() => return,
        }
        let silent = wire.silent_for();
        if silent >= timeout {
            tracing::warn!(peer = %wire.peer, silent_ms = silent.as_millis() as u64,
                "closing connection: peer did not answer keepalive pings");
            wire.close();
            return;
        }
        if silent >= interval {
            let _ = wire.push(Kind::Ping, 0, 0, &[&[0u8; 8]]);
        }
    }
}

/// Decodes an END/RESET error payload.
pub(crate) fn error_payload(payload: &[u8], fallback: &str) -> Error {
    if payload.is_empty() {
        Error::unavailable(fallback.to_owned()).with_origin(Origin::Transport)
    } else {
        Error::from_json(payload)
    }
}
