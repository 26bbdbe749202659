//! Errors as HTTP responses: the runtime's `{id, code, detail, status}` as
//! the JSON body, with the HTTP status of its code.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;

/// The id of errors the gateway raises itself.
pub(crate) const ID: &str = "micro.gateway";

/// An error answered as HTTP.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) Error);

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

/// The HTTP status an error code answers with: the code itself for 4xx
/// and 5xx, except 408 (a deadline that passed behind the gateway), which
/// is 504; anything else is 500.
pub(crate) fn http_status(code: u16) -> StatusCode {
    match code {
        408 => StatusCode::GATEWAY_TIMEOUT,
        400..=599 => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let error = if self.0.id().is_empty() {
            self.0.with_id(ID)
        } else {
            self.0
        };
        (
            http_status(error.code()),
            [(header::CONTENT_TYPE, "application/json")],
            error.to_json(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(http_status(404), StatusCode::NOT_FOUND);
        assert_eq!(http_status(503), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(http_status(429), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(http_status(408), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(http_status(0), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(http_status(200), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(http_status(302), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(http_status(600), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(http_status(1000), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(http_status(599).as_u16(), 599);
    }
}
