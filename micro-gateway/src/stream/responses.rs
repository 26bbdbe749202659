//! A stream of responses as an HTTP body: Server-Sent Events or JSON
//! lines. The status is sent with the first response: a call that fails
//! before it (a request the service cannot decode, say) answers with the
//! error's HTTP status, as a unary call does (grpc-gateway does the same).
//! Each later one is pulled from the call only when hyper asks for the next
//! chunk, so a slow HTTP client slows the service (back-pressure), and
//! dropping the body (the client went away) drops the receiver, which
//! cancels the call on the service.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt as _};
use micro_runtime::Error;
use micro_runtime::transport::RawReceiver;

use super::{error_json, error_message, one_line};

/// What the next poll of a response stream yields: a message, or the
/// error the call ended with (then nothing more).
enum Next {
    Message(Bytes),
    Failed(Error),
}

/// The messages of `rx` and its error, if it ends with one; ends when
/// the call does. Waits for the first message (or the end).
///
/// # Errors
///
/// The call's error when it comes before the first message.
async fn messages(mut rx: RawReceiver) -> Result<impl Stream<Item = Next> + Send + 'static, Error> {
    let first = rx.recv().await?;
    let rest = first.is_some().then_some(rx);
    let rest = stream::unfold(rest, |state| async move {
        let mut rx = state?;
        match rx.recv().await {
            Ok(Some(body)) => Some((Next::Message(body), Some(rx))),
            Ok(None) => None,
            Err(error) => Some((Next::Failed(error), None)),
        }
    });
    Ok(stream::iter(first.map(Next::Message)).chain(rest))
}

/// `text/event-stream`: each response an `event: message` whose data is
/// its JSON; an error ends the stream with an `event: error` whose data
/// is the error's JSON.
///
/// # Errors
///
/// The call's error when it comes before the first response.
pub(super) async fn events(rx: RawReceiver) -> Result<Response, Error> {
    let events =
        futures_util::StreamExt::map(futures_util::StreamExt::fuse(messages(rx).await?), |next| {
            Ok::<_, Infallible>(match next {
                Next::Message(body) => Event::default().event("message").data(one_line(&body)),
                Next::Failed(error) => Event::default().event("error").data(error_json(error)),
            })
        });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `application/x-ndjson`: each response's JSON on a line of its own; an
/// error ends the stream with a last line `{"error": {...}}`.
///
/// # Errors
///
/// The call's error when it comes before the first response.
pub(super) async fn json_lines(rx: RawReceiver) -> Result<Response, Error> {
    let messages = futures_util::StreamExt::fuse(messages(rx).await?);
    let lines = futures_util::StreamExt::map(messages, |next| {
        let mut line = match next {
            Next::Message(body) => one_line(&body),
            Next::Failed(error) => error_message(error),
        };
        line.push('\n');
        Ok::<_, Infallible>(Bytes::from(line))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}
