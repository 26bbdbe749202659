//! gRPC status codes and micro's HTTP-style error codes, both ways.
//!
//! A gRPC status alone loses micro's `{id, code, detail}`, so a micro server
//! also sends the whole error as JSON in the [`ERROR_HEADER`] trailer; a
//! micro client prefers it and falls back on `grpc-status`/`grpc-message`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use crate::Error;

/// The trailer carrying micro's error as JSON (`{id, code, detail, status}`),
/// base64 like every gRPC `-bin` header.
pub const ERROR_HEADER: &str = "micro-error-bin";

/// The gRPC status for a micro error code (see `docs/grpc.md`).
pub fn grpc_from_code(code: u16) -> u32 {
    match code {
        200..=299 => 0,       // OK
        499 => 1,             // CANCELLED
        400 => 3,             // INVALID_ARGUMENT
        408 | 504 => 4,       // DEADLINE_EXCEEDED
        404 => 5,             // NOT_FOUND
        403 => 7,             // PERMISSION_DENIED
        413 | 429 | 431 => 8, // RESOURCE_EXHAUSTED (413: a message over the limit, as gRPC says)
        412 => 9,             // FAILED_PRECONDITION
        409 => 10,            // ABORTED
        415 | 501 => 12,      // UNIMPLEMENTED
        500 => 13,            // INTERNAL
        502 | 503 => 14,      // UNAVAILABLE
        401 => 16,            // UNAUTHENTICATED
        _ => 2,               // UNKNOWN
    }
}

/// The micro error code for a gRPC status (see `docs/grpc.md`).
pub fn code_from_grpc(status: u32) -> u16 {
    match status {
        0 => 200,
        1 => 499,
        3 | 11 => 400,
        4 => 408,
        5 | 12 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        9 => 412,
        14 => 503,
        16 => 401,
        _ => 500, // UNKNOWN, INTERNAL, DATA_LOSS and codes gRPC may add
    }
}

/// An error as the trailers of a gRPC response.
pub(crate) struct ErrorTrailers {
    /// `grpc-status`.
    pub(crate) status: u32,
    /// `grpc-message`, percent-encoded as the gRPC spec asks.
    pub(crate) message: String,
    /// [`ERROR_HEADER`]'s value: the error's JSON, base64.
    pub(crate) error: String,
}

impl ErrorTrailers {
    pub(crate) fn new(error: &Error) -> Self {
        Self {
            status: grpc_from_code(error.code()),
            message: percent_encode(error.detail()),
            error: STANDARD_NO_PAD.encode(error.to_json()),
        }
    }
}

/// The error a gRPC response's trailers describe: micro's own when
/// [`ERROR_HEADER`] is there and decodes, else one built from the status and
/// the (percent-encoded) message.
pub(crate) fn error_from_status(status: u32, message: Option<&str>, error: Option<&str>) -> Error {
    if let Some(error) = error.and_then(decode_bin) {
        let error = Error::from_json(&error);
        if error.code() != 0 {
            return error;
        }
    }
    let detail = message.map(percent_decode).unwrap_or_default();
    Error::new(code_from_grpc(status), detail)
}

/// Decodes a `-bin` value, padded or not.
fn decode_bin(value: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(value.trim_end_matches('=')).ok()
}

/// gRPC's percent-encoding of `grpc-message`: bytes outside 0x20..=0x7E and
/// `%` itself as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inverse of [`percent_encode`]; a malformed escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_table_maps_both_ways() {
        for (code, status) in [
            (400, 3),
            (401, 16),
            (403, 7),
            (404, 5),
            (408, 4),
            (409, 10),
            (429, 8),
            (503, 14),
            (500, 13),
        ] {
            assert_eq!(grpc_from_code(code), status, "code {code}");
            assert_eq!(code_from_grpc(status), code, "status {status}");
        }
        assert_eq!(code_from_grpc(6), 409, "ALREADY_EXISTS");
        assert_eq!(code_from_grpc(12), 404, "UNIMPLEMENTED");
        assert_eq!(grpc_from_code(418), 2, "unmapped -> UNKNOWN");
        assert_eq!(code_from_grpc(2), 500);
        assert_eq!(code_from_grpc(99), 500);
    }

    #[test]
    fn the_whole_error_survives_the_trailers() {
        let error = Error::conflict("name taken: ünï%").with_id("com.example.users");
        let trailers = ErrorTrailers::new(&error);
        assert_eq!(trailers.status, 10);
        assert_eq!(trailers.message, "name taken: %C3%BCn%C3%AF%25");
        let back = error_from_status(
            trailers.status,
            Some(&trailers.message),
            Some(&trailers.error),
        );
        assert_eq!(back, error);
    }

    #[test]
    fn without_micro_error_the_status_and_message_make_one() {
        let error = error_from_status(5, Some("no user %E2%9C%93 %zz"), None);
        assert_eq!(error.code(), 404);
        assert_eq!(error.detail(), "no user ✓ %zz");
        let garbage = error_from_status(14, None, Some("!!not base64!!"));
        assert_eq!(garbage.code(), 503);
        assert_eq!(garbage.detail(), "");
    }
}
