//! Client and bidi streams over a WebSocket: each text frame from the
//! client is one JSON request, each response one text frame back.
//!
//! WebSocket has no half-close (after a close frame a side sends no more
//! data), so the client ends its requests with an **empty text frame**;
//! the gateway then sends the remaining responses and closes with 1000.
//! A close frame from the client means it is gone: the requests end and
//! the call is cancelled. The call ending with an error sends a last text
//! frame `{"error": {...}}` and closes with 1011 (the error's JSON, cut to
//! 123 bytes, as the reason); a frame that is not a JSON object fails the
//! call the same way with 1008.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use micro_runtime::Error;
use micro_runtime::transport::{RawReceiver, RawSender};

use super::{error_json, error_message, one_line};
use crate::limits::in_flight::Slot;
use crate::request;

/// How long the gateway waits for the client's answer to its close frame
/// before it drops the connection.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The longest close reason a close frame carries (125 bytes of payload
/// less the code).
const MAX_REASON: usize = 123;

/// Accepts the upgrade and bridges the socket to the call, holding
/// `slot` until the socket closes.
pub(super) fn answer(
    upgrade: WebSocketUpgrade,
    max_message: usize,
    (tx, rx): (RawSender, RawReceiver),
    slot: Slot,
) -> Response {
    upgrade
        .max_message_size(max_message)
        .on_upgrade(move |socket| async move {
            bridge(socket, tx, rx).await;
            drop(slot);
        })
}

/// How the client's side of the socket ended.
enum Requests {
    /// A close frame, an error or the connection closed: nobody listens.
    Gone,
    /// A frame that is not a request (the call is failed with it).
    Bad(Error),
    /// The service ended the call: it takes no more requests.
    Refused,
}

async fn bridge(socket: WebSocket, tx: RawSender, mut rx: RawReceiver) {
    let (mut sink, mut frames) = socket.split();
    let mut reading = Box::pin(read(&mut frames, &tx));
    let mut reading_done = false;
    loop {
        tokio::select! {
            requests = &mut reading, if !reading_done => {
                reading_done = true;
                match requests {
                    Requests::Refused => {}
                    // Dropping the receiver cancels the call.
                    Requests::Gone => return,
                    Requests::Bad(error) => {
                        drop(rx);
                        fail(&mut sink, error, close_code::POLICY).await;
                        break;
                    }
                }
            }
            response = rx.recv() => match response {
                Ok(Some(body)) => {
                    if sink.send(Message::Text(one_line(&body).into())).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame {
                        code: close_code::NORMAL,
                        reason: Utf8Bytes::from_static(""),
                    }))).await;
                    break;
                }
                Err(error) => {
                    fail(&mut sink, error, close_code::ERROR).await;
                    break;
                }
            },
        }
    }
    // Our close frame is out: wait (a while) for the client's, so that the
    // connection closes cleanly and the client reads all we sent.
    drop(reading);
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(frame)) = frames.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends the client's requests on `tx` as they come; after the empty
/// frame that ends them, watches for the client going away.
async fn read(frames: &mut SplitStream<WebSocket>, tx: &RawSender) -> Requests {
    let mut number = 0_u64;
    let mut ended = false;
    while let Some(frame) = frames.next().await {
        let body = match frame {
            Ok(Message::Text(text)) => Bytes::from(text),
            Ok(Message::Binary(bytes)) => bytes,
            // Answered by the WebSocket itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => break,
        };
        number += 1;
        if ended {
            return Requests::Bad(Error::bad_request(format!(
                "frame {number}: the requests were ended by an empty frame"
            )));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            tx.finish(Ok(()));
            ended = true;
            continue;
        }
        let request = match request::from_body(body) {
            Ok(request) => request,
            Err(error) => {
                let error = Error::bad_request(format!("frame {number}: {}", error.detail()));
                tx.finish(Err(error.clone()));
                return Requests::Bad(error);
            }
        };
        if tx.send(request).await.is_err() {
            // The service ended the call; its answer says why.
            return Requests::Refused;
        }
    }
    if !ended {
        tx.finish(Ok(()));
    }
    Requests::Gone
}

/// Sends `{"error": ...}` and closes with `code` and the error as reason.
async fn fail(sink: &mut SplitSink<WebSocket, Message>, error: Error, code: u16) {
    let reason = error_json(error.clone());
    if sink
        .send(Message::Text(error_message(error).into()))
        .await
        .is_ok()
    {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: truncate(&reason, MAX_REASON).into(),
            })))
            .await;
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_fit_a_close_frame() {
        assert_eq!(truncate("short", MAX_REASON), "short");
        let long = "é".repeat(100);
        let cut = truncate(&long, MAX_REASON);
        assert!(cut.len() <= MAX_REASON);
        assert_eq!(cut.len(), 122);
    }
}
