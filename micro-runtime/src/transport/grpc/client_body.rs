//! The body of a gRPC request: one message, or the messages a
//! [`RawSender`](crate::transport::RawSender) writes, each length-prefixed.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::client_conn::too_large;
use super::encode_message;
use crate::Error;
use crate::transport::StreamItem;

/// A request body hyper sends as DATA frames.
pub(crate) enum RequestBody {
    /// A unary request, already framed; `None` once sent.
    Full(Option<Bytes>),
    /// The messages of a streaming call as the caller writes them; ends
    /// when the caller finishes (an error there resets the stream).
    Stream {
        rx: mpsc::Receiver<StreamItem>,
        max_message: usize,
        done: bool,
    },
}

impl RequestBody {
    pub(super) fn full(framed: Bytes) -> Self {
        RequestBody::Full(Some(framed))
    }

    pub(super) fn stream(rx: mpsc::Receiver<StreamItem>, max_message: usize) -> Self {
        RequestBody::Stream {
            rx,
            max_message,
            done: false,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.get_mut() {
            RequestBody::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            RequestBody::Stream {
                rx,
                max_message,
                done,
            } => {
                if *done {
                    return Poll::Ready(None);
                }
                let item = std::task::ready!(rx.poll_recv(cx));
                Poll::Ready(match item {
                    Some(StreamItem::Message(body)) if body.len() > *max_message => {
                        *done = true;
                        Some(Err(too_large(body.len(), *max_message)))
                    }
                    Some(StreamItem::Message(body)) => Some(Ok(Frame::data(encode_message(&body)))),
                    Some(StreamItem::End(Err(err))) => {
                        *done = true;
                        Some(Err(err))
                    }
                    // Finished, or the sender dropped without finishing.
                    Some(StreamItem::End(Ok(()))) | None => {
                        *done = true;
                        None
                    }
                })
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Full(body) => body.is_none(),
            RequestBody::Stream { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Full(Some(body)) => SizeHint::with_exact(body.len() as u64),
            RequestBody::Full(None) => SizeHint::with_exact(0),
            RequestBody::Stream { .. } => SizeHint::default(),
        }
    }
}
