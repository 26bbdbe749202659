//! The sidecar's own errors as HTTP: the runtime's `{id, code, detail,
//! status}` with the HTTP status of its code, as the gateway answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;

use crate::routes::JSON;

/// The id of errors the sidecar raises itself.
pub(crate) const ID: &str = "micro.sidecar";

/// An error answered as HTTP.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) Error);

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let error = if self.0.id().is_empty() {
            self.0.with_id(ID)
        } else {
            self.0
        };
        // As the gateway: 408 (a deadline passed behind it) is 504.
        let status = match error.code() {
            408 => StatusCode::GATEWAY_TIMEOUT,
            code @ 400..=599 => {
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, JSON, error.to_json()).into_response()
    }
}
