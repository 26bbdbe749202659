//! The one error model used on every wire: `{id, code, detail, status}`.
//!
//! `code` follows HTTP status codes, so an error maps onto the API gateway's
//! response and onto gRPC status codes without a lookup table per backend.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A `Result` whose error is the toolkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where an error arose, as far as the client's retry logic is concerned.
///
/// Not part of the wire format: a remote error is always [`Origin::Remote`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Origin {
    /// Returned by the remote handler or its server.
    #[default]
    Remote,
    /// Raised locally before any byte of the request left this process
    /// (connection refused, pool closed, refused by a draining server): the
    /// request was certainly not processed and may go to another node.
    NotSent,
    /// The connection broke after the request was sent: the request may or
    /// may not have been processed.
    Transport,
}

/// An error from a call, a handler or the runtime itself.
///
/// Every error carries the HTTP-style `code`, the `id` of the service that
/// raised it, a human `detail` and the `status` text of the code. It is
/// serialized as JSON on every wire (`{"id":…,"code":…,"detail":…,"status":…}`).
///
/// # Examples
///
/// ```
/// use micro_runtime::Error;
///
/// let err = Error::not_found("no user 42").with_id("com.example.srv.users");
/// assert!(err.is_not_found());
/// assert_eq!(err.code(), 404);
/// assert_eq!(err.status(), "Not Found");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Inner {
    #[serde(default)]
    id: String,
    code: u16,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    status: String,
    #[serde(skip)]
    origin: Origin,
}

macro_rules! constructors {
    ($( $(#[$doc:meta])* $ctor:ident, $pred:ident, $code:literal; )*) => {
        impl Error {
            $(
                $(#[$doc])*
                pub fn $ctor(detail: impl Into<String>) -> Self {
                    Self::new($code, detail)
                }
            )*
            $(
                #[doc = concat!("True when the code is ", stringify!($code), ".")]
                pub fn $pred(&self) -> bool {
                    self.inner.code == $code
                }
            )*
        }
    };
}

constructors! {
    /// 400: the request is malformed or does not decode.
    bad_request, is_bad_request, 400;
    /// 401: the caller is not authenticated.
    unauthorized, is_unauthorized, 401;
    /// 403: the caller may not do this.
    forbidden, is_forbidden, 403;
    /// 404: the service, endpoint or resource does not exist.
    not_found, is_not_found, 404;
    /// 408: the deadline passed before the call completed.
    timeout, is_timeout, 408;
    /// 409: the request conflicts with the current state.
    conflict, is_conflict, 409;
    /// 413: a message is larger than the allowed frame size.
    payload_too_large, is_payload_too_large, 413;
    /// 415: the content type has no codec here.
    unsupported_media_type, is_unsupported_media_type, 415;
    /// 429: too many requests (rate limit or retry budget).
    too_many_requests, is_too_many_requests, 429;
    /// 431: a request's head (its metadata) is over the server's limits.
    headers_too_large, is_headers_too_large, 431;
    /// 500: the handler failed (or panicked).
    internal, is_internal, 500;
    /// 503: no node is available, or the node is shutting down.
    unavailable, is_unavailable, 503;
}

impl Error {
    /// An error with any code; `status` is derived from the code.
    pub fn new(code: u16, detail: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                id: String::new(),
                code,
                detail: detail.into(),
                status: status_text(code).to_owned(),
                origin: Origin::Remote,
            }),
        }
    }

    /// Sets the id: by convention the name of the service that raised it.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.inner.id = id.into();
        self
    }

    /// Sets the id only when none is set yet.
    pub(crate) fn or_id(mut self, id: &str) -> Self {
        if self.inner.id.is_empty() {
            self.inner.id = id.to_owned();
        }
        self
    }

    /// The id: the service (or runtime part, e.g. `micro.client`) that raised it.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The HTTP-style status code.
    pub fn code(&self) -> u16 {
        self.inner.code
    }

    /// What went wrong, for humans.
    pub fn detail(&self) -> &str {
        &self.inner.detail
    }

    /// The status text of the code, e.g. `Not Found`.
    pub fn status(&self) -> &str {
        &self.inner.status
    }

    /// True for 5xx codes.
    pub fn is_server_error(&self) -> bool {
        (500..600).contains(&self.inner.code)
    }

    /// Serializes to the wire JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings and an integer cannot fail.
        serde_json::to_vec(&*self.inner).unwrap_or_default()
    }

    /// Parses the wire JSON form. Input that is not an error object becomes
    /// an internal error whose detail is the input text, so nothing is lost.
    pub fn from_json(bytes: &[u8]) -> Self {
        match serde_json::from_slice::<Inner>(bytes) {
            Ok(mut inner) if inner.code != 0 => {
                if inner.status.is_empty() {
                    inner.status = status_text(inner.code).to_owned();
                }
                Self {
                    inner: Box::new(inner),
                }
            }
            _ => Self::internal(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    pub(crate) fn origin(&self) -> Origin {
        self.inner.origin
    }

    pub(crate) fn with_origin(mut self, origin: Origin) -> Self {
        self.inner.origin = origin;
        self
    }

    /// True when the request certainly never reached a handler, so sending it
    /// to another node cannot run it twice.
    pub fn is_not_sent(&self) -> bool {
        self.inner.origin == Origin::NotSent
    }
}

/// The reason phrase of an HTTP-style code.
pub(crate) fn status_text(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("id", &self.inner.id)
            .field("code", &self.inner.code)
            .field("detail", &self.inner.detail)
            .field("status", &self.inner.status)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.inner.code, self.inner.status)?;
        if !self.inner.id.is_empty() {
            write!(f, " from {}", self.inner.id)?;
        }
        if !self.inner.detail.is_empty() {
            write!(f, ": {}", self.inner.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.inner.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Error {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Inner::deserialize(d).map(|inner| Self {
            inner: Box::new(inner),
        })
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::internal(err.to_string())
    }
}

/// The message a panic was raised with, for the error that reports it.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_every_field() {
        let err = Error::conflict("version 3 exists").with_id("svc");
        let back = Error::from_json(&err.to_json());
        assert_eq!(back, err);
        assert_eq!(back.status(), "Conflict");
    }

    #[test]
    fn non_json_becomes_internal_with_text() {
        let err = Error::from_json(b"boom");
        assert!(err.is_internal());
        assert_eq!(err.detail(), "boom");
    }

    #[test]
    fn predicates_match_codes() {
        assert!(Error::bad_request("x").is_bad_request());
        assert!(Error::unauthorized("x").is_unauthorized());
        assert!(Error::forbidden("x").is_forbidden());
        assert!(Error::timeout("x").is_timeout());
        assert!(Error::unavailable("x").is_unavailable());
        assert!(Error::unavailable("x").is_server_error());
        assert!(!Error::not_found("x").is_server_error());
    }

    #[test]
    fn display_names_code_id_and_detail() {
        let err = Error::not_found("endpoint Greeter.Nope").with_id("greeter");
        assert_eq!(
            err.to_string(),
            "404 Not Found from greeter: endpoint Greeter.Nope"
        );
    }
}
