//! The untyped halves of a streaming call, shared by every transport.
//!
//! A slow reader stops the writer instead of letting memory grow. On the
//! in-memory transport a bounded channel applies the pressure (in
//! messages); on TCP the window counts **bytes**: each message costs its
//! length plus [`MESSAGE_OVERHEAD`], the writer waits for credit, and the
//! reader returns credit (`WINDOW` frames) as the application consumes
//! messages, half a window at a time. So small messages stream thousands
//! ahead while a stream of large ones still holds at most a window.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context as TaskContext, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::credits::Credits;
use super::inbound::{Inbound, InboundReceiver, Received, inbound};
use super::run::MessageRun;
use crate::error::Origin;
use crate::{Error, Result};

/// Bytes a stream may have in flight towards a reader before the writer
/// waits (the TCP flow-control window; see [`MESSAGE_OVERHEAD`]).
pub const DEFAULT_STREAM_WINDOW: u32 = 256 * 1024;

/// What a message costs against the window beyond its length (its frame
/// header and queue entry), so that even empty messages are bounded.
pub const MESSAGE_OVERHEAD: u32 = 32;

/// Messages queued between the two tasks of an in-process stream.
pub(crate) const LOCAL_STREAM_WINDOW: u32 = 64;

/// What a message of `len` bytes costs against `window`: its length plus
/// the overhead, at most the whole window (so any message fits).
pub(crate) fn message_cost(len: usize, window: u32) -> u32 {
    u32::try_from(len)
        .unwrap_or(u32::MAX)
        .saturating_add(MESSAGE_OVERHEAD)
        .min(window.max(1))
}

/// One item of a stream as seen by its reader.
#[derive(Debug)]
pub(crate) enum StreamItem {
    /// A message body.
    Message(Bytes),
    /// The writer finished: normally, or with an error.
    End(Result<()>),
}

/// The operations a connection offers to the halves of its streams.
pub(crate) trait FrameSink: Send + Sync + 'static {
    /// Queues a message of stream `id`.
    fn send_message(&self, id: u32, body: Bytes) -> Result<()>;
    /// Queues a message of stream `id` that `write` puts straight into the
    /// connection's buffer (exactly `len` bytes): no body of its own.
    fn send_message_with(
        &self,
        id: u32,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Result<()> {
        let mut body = BytesMut::with_capacity(len);
        write(&mut body);
        self.send_message(id, body.freeze())
    }
    /// Queues a message like [`FrameSink::send_message_with`] when the
    /// connection's buffer is below its high-water mark; `None` (nothing
    /// queued, `write` not called) when it is not.
    fn try_send_message_with(
        &self,
        id: u32,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Option<Result<()>> {
        if self.writable().is_some() {
            return None;
        }
        Some(self.send_message_with(id, len, write))
    }
    /// Queues the end of this side of stream `id`.
    fn send_end(&self, id: u32, result: Result<()>);
    /// Grants the peer `credit` more messages on stream `id`.
    fn send_window(&self, id: u32, credit: u32);
    /// Abandons stream `id` (the caller went away).
    fn cancel(&self, id: u32);
    /// Resolves once the connection's write buffer is below its high-water
    /// mark (a writer of many large messages waits here).
    fn writable(&self) -> Option<futures_util::future::BoxFuture<'_, ()>> {
        None
    }
}

/// Cancels a call when the caller drops it before it completed.
pub(crate) enum Canceller {
    /// Abort the task running the call in this process.
    Abort(AbortHandle),
    /// Tell the peer to abandon the stream.
    Remote(Arc<dyn FrameSink>, u32),
}

impl Canceller {
    pub(crate) fn cancel(self) {
        match self {
            Canceller::Abort(handle) => handle.abort(),
            Canceller::Remote(sink, id) => sink.cancel(id),
        }
    }
}

/// A bounded channel for one direction of a stream: the reader's end and the
/// in-process writer's end.
pub(crate) fn channel(window: u32) -> (mpsc::Sender<StreamItem>, mpsc::Receiver<StreamItem>) {
    // One extra slot so the end of the stream always fits.
    mpsc::channel(window as usize + 1)
}

/// The writing half of a stream, untyped.
#[derive(Clone)]
pub struct RawSender {
    inner: SenderInner,
}

#[derive(Clone)]
enum SenderInner {
    Local(mpsc::Sender<StreamItem>),
    Remote {
        sink: Arc<dyn FrameSink>,
        id: u32,
        /// Bytes the reader granted and we have not used.
        credits: Arc<Credits>,
        /// The reader's window, in bytes.
        window: u32,
    },
}

impl RawSender {
    pub(crate) fn local(tx: mpsc::Sender<StreamItem>) -> Self {
        Self {
            inner: SenderInner::Local(tx),
        }
    }

    pub(crate) fn remote(
        sink: Arc<dyn FrameSink>,
        id: u32,
        credits: Arc<Credits>,
        window: u32,
    ) -> Self {
        Self {
            inner: SenderInner::Remote {
                sink,
                id,
                credits,
                window,
            },
        }
    }

    /// Sends one message, waiting while the reader's window is full.
    ///
    /// # Errors
    ///
    /// 503 when the reader went away or the connection closed; 413 when the
    /// message is larger than the connection's frame limit.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes sends nothing.
    pub async fn send(&self, body: Bytes) -> Result<()> {
        match &self.inner {
            SenderInner::Local(tx) => tx
                .send(StreamItem::Message(body))
                .await
                .map_err(|_| closed_by_peer()),
            SenderInner::Remote { sink, id, .. } => {
                self.reserve(body.len()).await?;
                sink.send_message(*id, body)
            }
        }
    }

    /// True when messages go to a connection (see [`RawSender::reserve`]).
    pub(crate) fn is_remote(&self) -> bool {
        matches!(self.inner, SenderInner::Remote { .. })
    }

    /// Sends a message `write` puts straight into the connection's buffer
    /// (exactly `len` bytes) when that needs no waiting: the reader's
    /// credit is there and the buffer has room (the common case: one call,
    /// no future). `None` (nothing taken or sent, `write` not called)
    /// otherwise: then [`RawSender::reserve`] and
    /// [`RawSender::send_reserved`].
    pub(crate) fn try_send_with(
        &self,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Option<Result<()>> {
        let SenderInner::Remote {
            sink,
            id,
            credits,
            window,
        } = &self.inner
        else {
            return None;
        };
        let cost = message_cost(len, *window);
        if !credits.try_take(cost) {
            return None;
        }
        let sent = sink.try_send_message_with(*id, len, write);
        if sent.is_none() {
            // The buffer is full: the credit goes back for the slow path.
            credits.add_permits(cost as usize);
        }
        sent
    }

    /// Waits for the reader's credit for a message of `len` bytes, and for
    /// room in the connection's buffer; [`RawSender::send_reserved`] must
    /// follow without an `.await` between. Nothing to wait for locally.
    pub(crate) async fn reserve(&self, len: usize) -> Result<()> {
        if let SenderInner::Remote {
            sink,
            credits,
            window,
            ..
        } = &self.inner
        {
            let cost = message_cost(len, *window);
            if !credits.try_take(cost) {
                credits.take(cost).await.map_err(|_| closed_by_peer())?;
            }
            if let Some(writable) = sink.writable() {
                writable.await;
            }
        }
        Ok(())
    }

    /// Queues a message `write` puts straight into the connection's buffer
    /// (exactly `len` bytes), after [`RawSender::reserve`]. A local stream
    /// takes it as a body of its own, if its queue has room.
    pub(crate) fn send_reserved(
        &self,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Result<()> {
        match &self.inner {
            SenderInner::Remote { sink, id, .. } => sink.send_message_with(*id, len, write),
            SenderInner::Local(tx) => {
                let mut body = BytesMut::with_capacity(len);
                write(&mut body);
                tx.try_send(StreamItem::Message(body.freeze()))
                    .map_err(|_| closed_by_peer())
            }
        }
    }

    /// Ends this side of the stream: normally, or with an error the reader
    /// will receive. Never waits.
    pub fn finish(&self, result: Result<()>) {
        match &self.inner {
            SenderInner::Local(tx) => {
                if let Err(mpsc::error::TrySendError::Full(item)) =
                    tx.try_send(StreamItem::End(result))
                {
                    // The reserved slot was taken by a racing message: hand the
                    // end to a task so it is delivered after them.
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(item).await;
                    });
                }
            }
            SenderInner::Remote { sink, id, .. } => sink.send_end(*id, result),
        }
    }

    /// True when the reader has gone away.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            SenderInner::Local(tx) => tx.is_closed(),
            SenderInner::Remote { credits, .. } => credits.is_closed(),
        }
    }
}

fn closed_by_peer() -> Error {
    Error::unavailable("stream closed by the peer").with_origin(Origin::Transport)
}

/// Bytes a remote writer may still send on a stream: what the connection's
/// reader checks each arriving message against (a peer that sends past its
/// credit breaks the protocol).
pub(crate) struct InboundBudget {
    left: AtomicI64,
    window: u32,
}

impl InboundBudget {
    /// Charges an arriving message; false when it overran the window.
    #[cfg(feature = "nats")]
    pub(crate) fn take(&self, len: usize) -> bool {
        let cost = i64::from(message_cost(len, self.window));
        self.left.fetch_sub(cost, Ordering::AcqRel) >= cost
    }

    /// Charges a run of arriving messages at once, each its length plus
    /// [`MESSAGE_OVERHEAD`] (at most the window); false when they overran
    /// the window.
    pub(crate) fn take_run(&self, run: &MessageRun) -> bool {
        let cost = run.cost(MESSAGE_OVERHEAD, self.window);
        match i64::try_from(cost) {
            Ok(cost) if cost <= i64::from(self.window) => {
                self.left.fetch_sub(cost, Ordering::AcqRel) >= cost
            }
            // More than the whole window: an overrun whatever is left.
            _ => false,
        }
    }

    fn give(&self, credit: u32) {
        self.left.fetch_add(i64::from(credit), Ordering::AcqRel);
    }
}

/// Returns flow-control credit to a remote writer as messages are consumed.
pub(crate) struct CreditReturn {
    sink: Arc<dyn FrameSink>,
    id: u32,
    consumed: u32,
    batch: u32,
    budget: Arc<InboundBudget>,
}

impl CreditReturn {
    /// Credit for a stream whose reader grants `window` bytes.
    pub(crate) fn new(sink: Arc<dyn FrameSink>, id: u32, window: u32) -> Self {
        Self {
            sink,
            id,
            consumed: 0,
            batch: (window / 2).max(1),
            budget: Arc::new(InboundBudget {
                left: AtomicI64::new(i64::from(window)),
                window,
            }),
        }
    }

    /// The budget the connection's reader charges arriving messages to.
    pub(crate) fn budget(&self) -> Arc<InboundBudget> {
        self.budget.clone()
    }

    fn consumed(&mut self, len: usize) {
        self.consumed += message_cost(len, self.budget.window);
        if self.consumed >= self.batch {
            // The budget first: the writer may use the credit at once.
            self.budget.give(self.consumed);
            self.sink.send_window(self.id, self.consumed);
            self.consumed = 0;
        }
    }
}

/// A stream over a connection: its two halves for the application, and
/// what the connection's reader keeps to feed and police it.
pub(crate) struct RemoteStream {
    /// Where the connection's reader pushes the peer's messages.
    pub(crate) inbound: Inbound,
    /// Credit the peer granted us, in bytes (closed when the call ends).
    pub(crate) credits: Arc<Credits>,
    /// What the peer may still send us.
    pub(crate) budget: Arc<InboundBudget>,
    /// Our writing half.
    pub(crate) sender: RawSender,
    /// Our reading half.
    pub(crate) receiver: RawReceiver,
}

impl RemoteStream {
    /// Stream `id` on `sink`: we grant `window` bytes, the peer granted
    /// `peer_window`; `cancel` runs when the reader is dropped early.
    pub(crate) fn new(
        sink: Arc<dyn FrameSink>,
        id: u32,
        window: u32,
        peer_window: u32,
        cancel: Option<Canceller>,
    ) -> Self {
        let (inbound, rx) = inbound();
        let credits = Arc::new(Credits::new(peer_window as usize));
        let credit_return = CreditReturn::new(sink.clone(), id, window);
        Self {
            inbound,
            budget: credit_return.budget(),
            sender: RawSender::remote(sink, id, credits.clone(), peer_window),
            credits,
            receiver: RawReceiver::with(Rx::Remote(rx), Some(credit_return), cancel),
        }
    }
}

/// The reading half of a stream, untyped.
pub struct RawReceiver {
    rx: Rx,
    credit: Option<CreditReturn>,
    cancel: Option<Canceller>,
    done: bool,
}

/// Where a reading half's items come from.
enum Rx {
    /// A task of this process (or a gRPC body task).
    Local(mpsc::Receiver<StreamItem>),
    /// A connection's reader.
    Remote(InboundReceiver),
}

impl RawReceiver {
    pub(crate) fn new(
        rx: mpsc::Receiver<StreamItem>,
        credit: Option<CreditReturn>,
        cancel: Option<Canceller>,
    ) -> Self {
        Self::with(Rx::Local(rx), credit, cancel)
    }

    fn with(rx: Rx, credit: Option<CreditReturn>, cancel: Option<Canceller>) -> Self {
        Self {
            rx,
            credit,
            cancel,
            done: false,
        }
    }

    /// The next message; `Ok(None)` once the writer ended normally.
    ///
    /// # Errors
    ///
    /// The error the writer ended with, or 503 when the stream broke.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is never lost by dropping the future.
    pub async fn recv(&mut self) -> Result<Option<Bytes>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message (see [`RawReceiver::recv`]).
    pub fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Option<Bytes>>> {
        self.poll_recv_with(cx, |buf, len| buf.split_to(len))
    }

    /// Polls for the next message and hands it to `read` in place: a
    /// buffer with the message's `len` bytes at its front, which `read`
    /// moves past (a message that arrived in a run with others shares
    /// their buffer, and is read without a reference count of its own).
    pub(crate) fn poll_recv_with<R>(
        &mut self,
        cx: &mut TaskContext<'_>,
        mut read: impl FnMut(&mut Bytes, usize) -> R,
    ) -> Poll<Result<Option<R>>> {
        if self.done {
            return Poll::Ready(Ok(None));
        }
        let item = ready!(match &mut self.rx {
            Rx::Local(rx) => rx.poll_recv(cx).map(|item| item.map(Received::Item)),
            Rx::Remote(rx) => rx.poll_recv_with(cx, &mut read),
        });
        Poll::Ready(match item {
            Some(Received::Read(len, made)) => {
                self.consumed(len);
                Ok(Some(made))
            }
            Some(Received::Item(StreamItem::Message(mut body))) => {
                let len = body.len();
                self.consumed(len);
                Ok(Some(read(&mut body, len)))
            }
            Some(Received::Item(StreamItem::End(result))) => {
                self.done = true;
                self.cancel = None;
                result.map(|()| None)
            }
            None => {
                self.done = true;
                self.cancel = None;
                Err(Error::unavailable("stream broke before its end")
                    .with_origin(Origin::Transport))
            }
        })
    }

    fn consumed(&mut self, len: usize) {
        if let Some(credit) = &mut self.credit {
            credit.consumed(len);
        }
    }
}

impl Drop for RawReceiver {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel.cancel();
        }
    }
}

impl futures_core::Stream for RawReceiver {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_costs_its_bytes_and_always_fits_the_window() {
        assert_eq!(message_cost(0, 1024), MESSAGE_OVERHEAD);
        assert_eq!(message_cost(100, 1024), 100 + MESSAGE_OVERHEAD);
        assert_eq!(message_cost(10_000, 1024), 1024);
    }

    #[test]
    fn a_run_is_charged_like_its_messages_one_by_one() {
        struct Nowhere;
        impl FrameSink for Nowhere {
            fn send_message(&self, _: u32, _: Bytes) -> Result<()> {
                Ok(())
            }
            fn send_end(&self, _: u32, _: Result<()>) {}
            fn send_window(&self, _: u32, _: u32) {}
            fn cancel(&self, _: u32) {}
        }
        let run = |lens: &[usize]| {
            let mut buf = BytesMut::new();
            for len in lens {
                buf.extend_from_slice(&(*len as u32).to_be_bytes());
                buf.extend_from_slice(&vec![0; *len]);
            }
            let bytes = lens.iter().sum::<usize>() as u64;
            let largest = lens.iter().copied().max().unwrap_or(0) as u32;
            MessageRun::new(buf.freeze(), 4, lens.len() as u32, bytes, largest)
        };
        let credit = CreditReturn::new(Arc::new(Nowhere), 1, 200);
        let budget = credit.budget();
        // 2 * 32 + 10 + 20 = 94 of 200.
        assert!(budget.take_run(&run(&[10, 20])));
        // 32 + 70 = 102 more: 196.
        assert!(budget.take_run(&run(&[70])));
        assert!(!budget.take_run(&run(&[0])), "32 more overruns the window");
        // One message larger than the whole window costs the window.
        let fresh = CreditReturn::new(Arc::new(Nowhere), 1, 200).budget();
        assert!(fresh.take_run(&run(&[1000])));
        assert!(!fresh.take_run(&run(&[0])), "nothing is left");
    }

    #[tokio::test]
    async fn messages_then_normal_end() {
        let (tx, rx) = channel(4);
        let sender = RawSender::local(tx);
        let mut receiver = RawReceiver::new(rx, None, None);
        sender.send(Bytes::from_static(b"a")).await.unwrap();
        sender.finish(Ok(()));
        assert_eq!(receiver.recv().await.unwrap().as_deref(), Some(&b"a"[..]));
        assert_eq!(receiver.recv().await.unwrap(), None);
        assert_eq!(receiver.recv().await.unwrap(), None);
    }

    #[tokio::test]
    async fn error_end_reaches_reader() {
        let (tx, rx) = channel(4);
        RawSender::local(tx).finish(Err(Error::conflict("x")));
        let mut receiver = RawReceiver::new(rx, None, None);
        assert!(receiver.recv().await.unwrap_err().is_conflict());
    }

    #[tokio::test]
    async fn writer_gone_without_end_is_an_error() {
        let (tx, rx) = channel(4);
        drop(tx);
        let mut receiver = RawReceiver::new(rx, None, None);
        assert!(receiver.recv().await.unwrap_err().is_unavailable());
    }

    #[tokio::test]
    async fn full_window_blocks_the_writer() {
        let (tx, rx) = channel(2);
        let sender = RawSender::local(tx);
        for _ in 0..3 {
            sender.send(Bytes::new()).await.unwrap();
        }
        use futures_util::FutureExt;
        let fourth = sender.send(Bytes::new()).now_or_never();
        assert!(
            fourth.is_none(),
            "the fourth message must wait for the reader"
        );
        drop(rx);
        assert!(sender.send(Bytes::new()).await.is_err());
    }
}
