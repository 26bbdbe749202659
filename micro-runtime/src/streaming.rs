//! Typed halves of streaming calls, used the same way by handlers and callers.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use bytes::BytesMut;

use crate::codec::{ContentType, MessageCodec};
use crate::transport::{RawReceiver, RawSender};
use crate::{Error, Result};

/// Sends the messages of a stream.
///
/// A caller's request half ends the stream when it is dropped or closed; a
/// handler's response half ends when the handler returns.
pub struct Sender<T> {
    raw: RawSender,
    codec: MessageCodec<T>,
    content_type: ContentType,
    end_on_drop: bool,
}

impl<T> Sender<T> {
    pub(crate) fn new(
        raw: RawSender,
        codec: MessageCodec<T>,
        content_type: ContentType,
        end_on_drop: bool,
    ) -> Self {
        Self {
            raw,
            codec,
            content_type,
            end_on_drop,
        }
    }

    /// Sends one message, waiting while the reader is behind (backpressure).
    ///
    /// # Errors
    ///
    /// 503 when the reader went away; 413 when the message exceeds the frame
    /// limit; 415/500 when it cannot be encoded.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes sends nothing.
    pub async fn send(&self, msg: T) -> Result<()> {
        if self.raw.is_remote()
            && let Some(direct) = self.codec.direct(self.content_type)
        {
            // Encoded straight into the connection's buffer: no body of
            // its own, no copy.
            let len = (direct.len)(&msg);
            let mut write = |buf: &mut BytesMut| (direct.write)(&msg, buf);
            if let Some(sent) = self.raw.try_send_with(len, &mut write) {
                return sent;
            }
            self.raw.reserve(len).await?;
            return self.raw.send_reserved(len, &mut write);
        }
        let body = self.codec.encode(self.content_type, &msg)?;
        self.raw.send(body).await
    }

    /// True when the reader has gone away: further sends fail.
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }

    /// Ends the stream normally (a caller's request half).
    pub fn close(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if self.end_on_drop {
            self.end_on_drop = false;
            self.raw.finish(Ok(()));
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.end();
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// Receives the messages of a stream. Also a [`futures_core::Stream`].
pub struct Receiver<T> {
    raw: RawReceiver,
    codec: MessageCodec<T>,
    content_type: ContentType,
}

impl<T> Receiver<T> {
    pub(crate) fn new(raw: RawReceiver, codec: MessageCodec<T>, content_type: ContentType) -> Self {
        Self {
            raw,
            codec,
            content_type,
        }
    }

    /// The next message, or `Ok(None)` once the sender ended the stream.
    ///
    /// # Errors
    ///
    /// The error the stream ended with (a handler's error reaches the caller
    /// here), 400 when a message does not decode, 503 when the stream broke.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no message is lost by dropping the future.
    pub async fn recv(&mut self) -> Result<Option<T>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Option<T>>> {
        let (codec, content_type) = (&self.codec, self.content_type);
        // Decoded where it lies: no body of its own per message.
        let decoded = ready!(self.raw.poll_recv_with(cx, |buf, len| codec.decode_front(
            content_type,
            buf,
            len
        )));
        Poll::Ready(match decoded {
            Ok(Some(msg)) => msg.map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(err),
        })
    }

    /// Reads every remaining message.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    pub async fn collect_all(mut self) -> Result<Vec<T>> {
        let mut all = Vec::new();
        while let Some(msg) = self.recv().await? {
            all.push(msg);
        }
        Ok(all)
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// A client-streaming call in progress: send requests, then
/// [`close_and_recv`](ClientStreaming::close_and_recv) for the response.
///
/// Dropping it before the response arrives cancels the call.
#[derive(Debug)]
pub struct ClientStreaming<Req, Rsp> {
    tx: Sender<Req>,
    rx: Receiver<Rsp>,
}

impl<Req, Rsp> ClientStreaming<Req, Rsp> {
    pub(crate) fn new(tx: Sender<Req>, rx: Receiver<Rsp>) -> Self {
        Self { tx, rx }
    }

    /// Sends one request message.
    ///
    /// # Errors
    ///
    /// As [`Sender::send`]; when the handler already failed, its error is
    /// returned by [`close_and_recv`](ClientStreaming::close_and_recv).
    pub async fn send(&self, msg: Req) -> Result<()> {
        self.tx.send(msg).await
    }

    /// Ends the requests and waits for the response.
    ///
    /// # Errors
    ///
    /// The handler's error, or 503 when the stream broke.
    pub async fn close_and_recv(self) -> Result<Rsp> {
        let Self { tx, mut rx } = self;
        tx.close();
        let rsp = rx
            .recv()
            .await?
            .ok_or_else(|| Error::internal("stream ended without a response"))?;
        // Wait for the end so a handler error after its message is not hidden.
        rx.recv().await?;
        Ok(rsp)
    }
}

/// A bidirectional call in progress.
///
/// Dropping the receiving half (or the whole) before the end cancels the call.
#[derive(Debug)]
pub struct BidiStream<Req, Rsp> {
    tx: Sender<Req>,
    rx: Receiver<Rsp>,
}

impl<Req, Rsp> BidiStream<Req, Rsp> {
    pub(crate) fn new(tx: Sender<Req>, rx: Receiver<Rsp>) -> Self {
        Self { tx, rx }
    }

    /// Sends one request message.
    ///
    /// # Errors
    ///
    /// As [`Sender::send`].
    pub async fn send(&self, msg: Req) -> Result<()> {
        self.tx.send(msg).await
    }

    /// The next response message, `Ok(None)` at the end.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    pub async fn recv(&mut self) -> Result<Option<Rsp>> {
        self.rx.recv().await
    }

    /// Splits into the two halves, to send and receive from different tasks.
    pub fn split(self) -> (Sender<Req>, Receiver<Rsp>) {
        (self.tx, self.rx)
    }

    /// Ends the requests; responses can still be received.
    pub fn close_send(self) -> Receiver<Rsp> {
        let (tx, rx) = self.split();
        tx.close();
        rx
    }
}
