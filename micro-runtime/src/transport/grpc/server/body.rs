//! Message bodies both ways: the request's HTTP/2 DATA cut into messages,
//! the response's messages and trailers as HTTP/2 frames.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::HeaderValue;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::transport::grpc::{ERROR_HEADER, ErrorTrailers, MessageDecoder, encode_message};
use crate::transport::{InFlightGuard, StreamItem};
use crate::{Error, Result};

/// The trailers (or trailers-only headers) ending a call with `result`.
pub(crate) fn trailers(result: &Result<()>) -> HeaderMap {
    let mut map = HeaderMap::new();
    match result {
        Ok(()) => {
            map.insert("grpc-status", HeaderValue::from_static("0"));
        }
        Err(error) => {
            let t = ErrorTrailers::new(error);
            map.insert("grpc-status", HeaderValue::from(t.status));
            if let Ok(message) = HeaderValue::from_str(&t.message) {
                map.insert("grpc-message", message);
            }
            if let Ok(error) = HeaderValue::from_str(&t.error) {
                map.insert(ERROR_HEADER, error);
            }
        }
    }
    map
}

/// A response body: one message, or a stream of them fed by the call's
/// tasks, then the trailers. Dropping it (the client reset the stream or
/// went away) aborts those tasks, which drops the handler's future. The
/// call counts as in flight until its trailers are out (so a graceful
/// shutdown does not close the connection under them).
pub(crate) enum ResponseBody {
    /// Trailers-only responses carry everything in their headers.
    Empty,
    /// A unary answer: its message, then trailers.
    Once {
        message: Option<Bytes>,
        trailers: Option<HeaderMap>,
        guard: Option<InFlightGuard>,
    },
    /// A streaming answer.
    Stream {
        rx: mpsc::Receiver<StreamItem>,
        tasks: Vec<AbortHandle>,
        guard: Option<InFlightGuard>,
    },
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let ResponseBody::Stream { tasks, .. } = self {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ResponseBody::Empty => Poll::Ready(None),
            ResponseBody::Once {
                message,
                trailers,
                guard,
            } => Poll::Ready(
                match message.take() {
                    Some(message) => Some(Frame::data(encode_message(&message))),
                    None => {
                        *guard = None;
                        trailers.take().map(Frame::trailers)
                    }
                }
                .map(Ok),
            ),
            ResponseBody::Stream { rx, guard, .. } => {
                if guard.is_none() {
                    return Poll::Ready(None);
                }
                let frame = match std::task::ready!(rx.poll_recv(cx)) {
                    Some(StreamItem::Message(body)) => Frame::data(encode_message(&body)),
                    Some(StreamItem::End(result)) => {
                        *guard = None;
                        Frame::trailers(trailers(&result))
                    }
                    None => {
                        *guard = None;
                        Frame::trailers(trailers(&Err(Error::internal(
                            "the call ended without a status",
                        ))))
                    }
                };
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Empty => true,
            ResponseBody::Once {
                message, trailers, ..
            } => message.is_none() && trailers.is_none(),
            ResponseBody::Stream { guard, .. } => guard.is_none(),
        }
    }
}

/// Reads the one message of a unary (or server-streaming) request.
///
/// # Errors
///
/// 400 for no message, more than one or a broken body; the decoder's
/// errors (413, 400).
pub(crate) async fn read_one(mut body: Incoming, mut decoder: MessageDecoder) -> Result<Bytes> {
    let mut message = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::bad_request(format!("request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        decoder.push(&data);
        while let Some(next) = decoder.next_message()? {
            if message.replace(next).is_some() {
                return Err(Error::bad_request(
                    "more than one request message on a method that takes one",
                ));
            }
        }
    }
    if decoder.has_partial() {
        return Err(Error::bad_request("the request ended inside a message"));
    }
    message.ok_or_else(|| Error::bad_request("the request carried no message"))
}

/// Feeds the messages of a streaming request to the handler's receiver,
/// waiting while it is full (HTTP/2 flow control then holds the client),
/// and ends it as the request ends.
pub(crate) async fn pump(
    mut body: Incoming,
    mut decoder: MessageDecoder,
    tx: mpsc::Sender<StreamItem>,
) {
    let end = loop {
        let Some(frame) = body.frame().await else {
            break if decoder.has_partial() {
                Err(Error::bad_request("the request ended inside a message"))
            } else {
                Ok(())
            };
        };
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => break Err(Error::bad_request(format!("request body: {e}"))),
        };
        decoder.push(&data);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    if tx.send(StreamItem::Message(message)).await.is_err() {
                        // The handler stopped reading.
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(StreamItem::End(Err(e))).await;
                    return;
                }
            }
        }
    };
    let _ = tx.send(StreamItem::End(end)).await;
}
