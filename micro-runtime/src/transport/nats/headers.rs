//! The vocabulary on the wire: header names, frame kinds, the request head
//! as NATS headers and errors as replies.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, HeaderName};

use crate::codec::ContentType;
use crate::endpoint::CallKind;
use crate::error::Origin;
use crate::nats::{can_travel, from_headers_except};
use crate::transport::RequestHead;
use crate::{Error, Result};

/// Service of a request.
pub(super) const SERVICE: HeaderName = HeaderName::from_static("Micro-Rpc-Service");
/// Endpoint of a request.
pub(super) const ENDPOINT: HeaderName = HeaderName::from_static("Micro-Rpc-Endpoint");
/// Content type of every message of a call.
pub(super) const CONTENT_TYPE: HeaderName = HeaderName::from_static("Micro-Rpc-Content-Type");
/// Microseconds the caller still waits.
pub(super) const TIMEOUT: HeaderName = HeaderName::from_static("Micro-Rpc-Timeout");
/// Kind of the call (`unary`, `server`, `client`, `bidi`).
pub(super) const KIND: HeaderName = HeaderName::from_static("Micro-Rpc-Kind");
/// A control frame (see [`Frame`]); absent on requests and messages.
pub(super) const FRAME: HeaderName = HeaderName::from_static("Micro-Rpc-Frame");
/// Bytes of credit: the window a stream opens with, or credit returned.
pub(super) const WINDOW: HeaderName = HeaderName::from_static("Micro-Rpc-Window");
/// Code of an error frame (its body is the error's JSON).
pub(super) const CODE: HeaderName = HeaderName::from_static("Micro-Rpc-Code");
/// Where the caller sends a stream's messages (in `accept`), or the node
/// subject of the answering server (in `pong`).
pub(super) const SUBJECT: HeaderName = HeaderName::from_static("Micro-Rpc-Subject");
/// In `pong`: the node is shutting down.
pub(super) const DRAINING: HeaderName = HeaderName::from_static("Micro-Rpc-Draining");

/// Prefix of the headers of the transport (never metadata).
const RESERVED: &str = "micro-rpc-";

/// Control frames, named in the [`FRAME`] header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Frame {
    /// Is anyone there? (answered by `pong`).
    Ping,
    /// Here, with the node subject.
    Pong,
    /// A streaming call was accepted: where to send, and the window.
    Accept,
    /// The end of one side of a stream.
    End,
    /// The end with an error (unary or stream): the body is its JSON.
    Error,
    /// The call was refused unprocessed (the node is draining).
    Refused,
    /// Credit returned on a stream.
    Window,
    /// The caller abandons the call.
    Cancel,
}

impl Frame {
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Frame::Ping => "ping",
            Frame::Pong => "pong",
            Frame::Accept => "accept",
            Frame::End => "end",
            Frame::Error => "error",
            Frame::Refused => "refused",
            Frame::Window => "window",
            Frame::Cancel => "cancel",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ping" => Frame::Ping,
            "pong" => Frame::Pong,
            "accept" => Frame::Accept,
            "end" => Frame::End,
            "error" => Frame::Error,
            "refused" => Frame::Refused,
            "window" => Frame::Window,
            "cancel" => Frame::Cancel,
            _ => return None,
        })
    }
}

/// The frame a message carries: `Ok(None)` for a plain message (a request
/// or a stream message), an error for an unknown frame name.
pub(super) fn frame(headers: Option<&HeaderMap>) -> std::result::Result<Option<Frame>, String> {
    match header(headers, FRAME) {
        None => Ok(None),
        Some(name) => Frame::parse(name)
            .map(Some)
            .ok_or_else(|| format!("unknown frame {name:?}")),
    }
}

/// The last value of header `name`.
pub(super) fn header(headers: Option<&HeaderMap>, name: HeaderName) -> Option<&str> {
    headers?.get_last(name).map(|v| v.as_str())
}

/// Headers holding just `frame`.
pub(super) fn frame_headers(frame: Frame) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(FRAME, frame.as_str());
    headers
}

/// A [`Frame::Window`] granting `credit` bytes.
pub(super) fn window_headers(credit: u32) -> HeaderMap {
    let mut headers = frame_headers(Frame::Window);
    headers.insert(WINDOW, credit.to_string().as_str());
    headers
}

/// The credit in a message's [`WINDOW`] header.
pub(super) fn window(headers: Option<&HeaderMap>) -> Option<u32> {
    header(headers, WINDOW)?.trim().parse().ok()
}

/// An error end (or refusal) as headers and body.
pub(super) fn error_frame(frame: Frame, err: &Error) -> (HeaderMap, bytes::Bytes) {
    let mut headers = frame_headers(frame);
    headers.insert(CODE, err.code().to_string().as_str());
    (headers, bytes::Bytes::from(err.to_json()))
}

/// The error an error frame carries; `refused` is not sent (the caller may
/// try another node).
pub(super) fn error_of(frame: Frame, headers: Option<&HeaderMap>, body: &[u8]) -> Error {
    let err = if body.is_empty() {
        let code = header(headers, CODE)
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
        Error::new(code, "call failed")
    } else {
        Error::from_json(body)
    };
    if frame == Frame::Refused {
        err.with_origin(Origin::NotSent)
    } else {
        err
    }
}

/// The request head as headers (with a stream's opening window); 400 when
/// the service or endpoint cannot travel in a header. Metadata that cannot
/// travel, or that uses the transport's own `Micro-Rpc-` names, is left
/// out and logged.
pub(super) fn request_headers(head: &RequestHead, window: Option<u32>) -> Result<HeaderMap> {
    for (what, value) in [("service", &*head.service), ("endpoint", &*head.endpoint)] {
        if value.is_empty() || !can_travel("x", value) {
            return Err(Error::bad_request(format!(
                "{what} {value:?} cannot travel in a NATS header"
            ))
            .with_origin(Origin::NotSent));
        }
    }
    let mut headers = HeaderMap::new();
    headers.insert(SERVICE, &*head.service);
    headers.insert(ENDPOINT, &*head.endpoint);
    if head.content_type != ContentType::Protobuf {
        headers.insert(CONTENT_TYPE, head.content_type.as_str());
    }
    if head.kind != CallKind::Unary {
        headers.insert(KIND, head.kind.as_str());
    }
    if let Some(timeout) = head.timeout {
        let micros = u64::try_from(timeout.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        headers.insert(TIMEOUT, micros.to_string().as_str());
    }
    if let Some(window) = window {
        headers.insert(WINDOW, window.to_string().as_str());
    }
    for (key, value) in head.metadata.iter() {
        if is_reserved(key) {
            tracing::warn!(
                header = key,
                "metadata named like the NATS transport's headers; left out"
            );
            continue;
        }
        match key.parse::<async_nats::HeaderName>() {
            Ok(name) if can_travel(key, value) => headers.insert(name, value),
            _ => tracing::warn!(header = key, "metadata cannot travel over NATS; left out"),
        }
    }
    Ok(headers)
}

fn is_reserved(name: &str) -> bool {
    name.len() >= RESERVED.len() && name[..RESERVED.len()].eq_ignore_ascii_case(RESERVED)
}

/// The request head of a message's headers; 400 naming what is missing or
/// malformed, 415 for an unknown content type.
pub(super) fn request_head(headers: Option<&HeaderMap>) -> Result<RequestHead> {
    let required = |name: HeaderName| {
        let what = name.to_string();
        header(headers, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::bad_request(format!("request without a {what} header")))
    };
    let service = required(SERVICE)?;
    let endpoint = required(ENDPOINT)?;
    let content_type = match header(headers, CONTENT_TYPE) {
        None => ContentType::Protobuf,
        Some(value) => ContentType::parse(value)?,
    };
    let kind = match header(headers, KIND) {
        None => CallKind::Unary,
        Some(value) => CallKind::parse(value)
            .ok_or_else(|| Error::bad_request(format!("unknown call kind {value:?}")))?,
    };
    let timeout = match header(headers, TIMEOUT) {
        None => None,
        Some(value) => Some(Duration::from_micros(value.trim().parse().map_err(
            |_| {
                Error::bad_request(format!(
                    "{TIMEOUT} {value:?} is not a number of microseconds"
                ))
            },
        )?)),
    };
    Ok(RequestHead {
        service: Arc::from(service),
        endpoint: Cow::Owned(endpoint.to_owned()),
        package: Cow::Borrowed(""),
        content_type,
        timeout,
        metadata: from_headers_except(headers, is_reserved),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metadata;

    #[test]
    fn the_head_round_trips_and_reserved_names_stay_out_of_metadata() {
        let mut metadata = Metadata::new();
        metadata.insert("x-trace", "t-1");
        metadata.insert("Micro-Rpc-Service", "forged");
        let head = RequestHead {
            service: "com.example.srv.greeter".into(),
            endpoint: "Greeter.Chat".into(),
            package: "greeter.v1".into(),
            content_type: ContentType::Json,
            timeout: Some(Duration::from_millis(1500)),
            metadata,
            kind: CallKind::Bidi,
        };
        let headers = request_headers(&head, Some(1024)).unwrap();
        assert_eq!(window(Some(&headers)), Some(1024));
        let back = request_head(Some(&headers)).unwrap();
        assert_eq!(&*back.service, "com.example.srv.greeter");
        assert_eq!(back.endpoint, "Greeter.Chat");
        assert_eq!(back.content_type, ContentType::Json);
        assert_eq!(back.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(back.kind, CallKind::Bidi);
        assert_eq!(back.metadata.get("x-trace"), Some("t-1"));
        assert_eq!(back.metadata.len(), 1);
    }

    #[test]
    fn malformed_heads_are_400_and_errors_keep_code_and_detail() {
        assert_eq!(request_head(None).unwrap_err().code(), 400);
        let mut headers = HeaderMap::new();
        headers.insert(SERVICE, "s");
        headers.insert(ENDPOINT, "E.e");
        headers.insert(TIMEOUT, "soon");
        assert_eq!(request_head(Some(&headers)).unwrap_err().code(), 400);
        headers.insert(TIMEOUT, "5");
        headers.insert(CONTENT_TYPE, "text/x-nope");
        assert_eq!(request_head(Some(&headers)).unwrap_err().code(), 415);
        let head = RequestHead::new("s", "bad\r\nname", CallKind::Unary);
        assert_eq!(request_headers(&head, None).unwrap_err().code(), 400);

        let (headers, body) = error_frame(Frame::Error, &Error::conflict("taken"));
        let frame = frame(Some(&headers)).unwrap().unwrap();
        let err = error_of(frame, Some(&headers), &body);
        assert_eq!((err.code(), err.detail()), (409, "taken"));
        assert!(!err.is_not_sent());
        let (headers, body) = error_frame(Frame::Refused, &Error::unavailable("draining"));
        assert!(error_of(Frame::Refused, Some(&headers), &body).is_not_sent());
    }
}
