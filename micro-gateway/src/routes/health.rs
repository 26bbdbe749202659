//! `GET /health`: the gateway itself is up.

use axum::http::header;
use axum::response::IntoResponse;

/// `{"status":"ok"}`.
pub(super) async fn get() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}
