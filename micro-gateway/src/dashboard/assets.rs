//! The stylesheet and the script, compiled into the binary: the dashboard
//! loads nothing from elsewhere.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;

use crate::failure::Failure;

/// Where the files are served; open without a token (they hold nothing
/// secret, and the login page needs them).
pub(crate) const PREFIX: &str = "/dashboard/static/";

/// `(name, content type, content)` of every file.
const FILES: &[(&str, &str, &str)] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/dashboard.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/dashboard.js"),
    ),
];

/// One embedded file; 404 naming the known ones otherwise.
pub(super) async fn get(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, content)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // Revalidated on every load: a new binary brings new files.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *content,
        )
            .into_response(),
        None => Failure(Error::not_found(format!(
            "no dashboard file {file:?} (there are: {})",
            FILES
                .iter()
                .map(|(name, _, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .into_response(),
    }
}
