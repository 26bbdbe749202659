//! The response of a gRPC call: its head checked (HTTP status,
//! trailers-only errors, content type), then messages until the trailers
//! say how the call ended.

use std::error::Error as StdError;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap};
use hyper::{Response, StatusCode};

use super::{ERROR_HEADER, MessageDecoder, code_from_grpc, error_from_status};
use crate::error::Origin;
use crate::{Error, Result};

/// Reads the messages of one response.
pub(super) struct ResponseReader {
    body: Incoming,
    decoder: MessageDecoder,
    done: bool,
}

impl ResponseReader {
    /// Checks the response head.
    ///
    /// # Errors
    ///
    /// The call's error when the head already ends it (trailers-only), the
    /// HTTP status mapped as gRPC says for another status than 200, 500 for
    /// a body that is not gRPC.
    pub(super) fn open(response: Response<Incoming>, max_message: usize) -> Result<Self> {
        let (parts, body) = response.into_parts();
        if let Some(status) = status_of(&parts.headers) {
            // Trailers-only: the call ended before any message.
            status?;
            return Ok(Self {
                body,
                decoder: MessageDecoder::new(max_message, None),
                done: true,
            });
        }
        if parts.status != StatusCode::OK {
            return Err(from_http_status(parts.status));
        }
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/grpc") {
            return Err(Error::internal(format!(
                "the server answered {content_type:?}, not gRPC"
            )));
        }
        let encoding = parts
            .headers
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok());
        Ok(Self {
            decoder: MessageDecoder::new(max_message, encoding),
            body,
            done: false,
        })
    }

    /// The next message; `Ok(None)` once the trailers say OK.
    ///
    /// # Errors
    ///
    /// The status the server ended with; 503 when the stream broke; 413 or
    /// 400 for a message over the limit or malformed.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(message) = self.decoder.next_message()? {
                return Ok(Some(message));
            }
            if self.done {
                return Ok(None);
            }
            let frame = match self.body.frame().await {
                Some(frame) => frame.map_err(from_hyper)?,
                None => {
                    return Err(Error::internal("gRPC response ended without grpc-status"));
                }
            };
            let frame = match frame.into_data() {
                Ok(data) => {
                    self.decoder.push(&data);
                    continue;
                }
                Err(frame) => frame,
            };
            if let Ok(trailers) = frame.into_trailers() {
                self.done = true;
                if self.decoder.has_partial() {
                    return Err(Error::internal("gRPC response ended inside a message"));
                }
                status_of(&trailers)
                    .unwrap_or_else(|| Err(Error::internal("gRPC trailers without grpc-status")))?;
            }
        }
    }
}

/// The call's end as `headers` state it, if they carry `grpc-status`.
fn status_of(headers: &HeaderMap) -> Option<Result<()>> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let status = text("grpc-status")?;
    Some(match status.trim().parse::<u32>() {
        Ok(0) => Ok(()),
        Ok(status) => Err(error_from_status(
            status,
            text("grpc-message"),
            text(ERROR_HEADER),
        )),
        Err(_) => Err(Error::internal(format!("malformed grpc-status {status:?}"))),
    })
}

/// An HTTP status other than 200 without `grpc-status`, as the gRPC spec
/// maps it (a proxy or a server that does not speak gRPC answered).
fn from_http_status(status: StatusCode) -> Error {
    let grpc = match status.as_u16() {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    };
    Error::new(
        code_from_grpc(grpc),
        format!("the gRPC server answered HTTP {status}"),
    )
}

/// A hyper error as the call's error: the request body's own error as it
/// was; "not sent" (503, safe to send elsewhere) when the request never
/// left or the server refused the stream unprocessed (REFUSED_STREAM, or a
/// graceful GOAWAY before it); else 503 after sending.
pub(super) fn from_hyper(err: hyper::Error) -> Error {
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(error) = cause.downcast_ref::<Error>() {
            return error.clone();
        }
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            let refused = h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR));
            if refused {
                return Error::unavailable(format!("gRPC server refused the call: {h2}"))
                    .with_origin(Origin::NotSent);
            }
            if h2.reason() == Some(h2::Reason::CANCEL) && h2.is_remote() {
                return Error::new(499, "the gRPC server cancelled the call")
                    .with_origin(Origin::Transport);
            }
            if h2.is_go_away() && h2.is_remote() {
                // The server's reason is in the debug data h2 prints (a TLS
                // port tells a plaintext caller so).
                return Error::unavailable(format!("gRPC server closed the connection: {h2}"))
                    .with_origin(Origin::Transport);
            }
        }
        source = cause.source();
    }
    if err.is_canceled() {
        return Error::unavailable(format!("gRPC call not sent: {err}"))
            .with_origin(Origin::NotSent);
    }
    Error::unavailable(format!("gRPC call failed: {err}")).with_origin(Origin::Transport)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn http_statuses_map_as_grpc_says() {
        assert_eq!(
            from_http_status(StatusCode::SERVICE_UNAVAILABLE).code(),
            503
        );
        assert_eq!(from_http_status(StatusCode::NOT_FOUND).code(), 404);
        assert_eq!(from_http_status(StatusCode::UNAUTHORIZED).code(), 401);
        assert_eq!(from_http_status(StatusCode::BAD_REQUEST).code(), 500);
        assert_eq!(from_http_status(StatusCode::IM_A_TEAPOT).code(), 500);
    }

    #[test]
    fn status_headers_end_the_call() {
        let mut headers = HeaderMap::new();
        assert!(status_of(&headers).is_none());
        headers.insert("grpc-status", HeaderValue::from_static("0"));
        assert!(status_of(&headers).unwrap().is_ok());
        headers.insert("grpc-status", HeaderValue::from_static("5"));
        headers.insert("grpc-message", HeaderValue::from_static("no%20such"));
        let err = status_of(&headers).unwrap().unwrap_err();
        assert_eq!((err.code(), err.detail()), (404, "no such"));
        headers.insert("grpc-status", HeaderValue::from_static("five"));
        assert_eq!(status_of(&headers).unwrap().unwrap_err().code(), 500);
    }
}
