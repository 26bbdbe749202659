//! The HTTP routes, one file each, and the router that holds them.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::routing::{any, get, post};
use micro_runtime::Error;

use crate::failure::Failure;
use crate::gateway::Gateway;

mod api;
mod health;
mod openapi;
mod rpc;
mod web;

/// Every route, sharing `gateway`.
pub(crate) fn router(gateway: Arc<Gateway>) -> Router {
    let limit = gateway.options.max_body;
    calls()
        .route("/rpc", post(rpc::call))
        .route("/openapi.json", get(openapi::get))
        .route("/web", get(web::list))
        .route("/web/", get(web::list))
        .route("/web/{*path}", any(web::proxy))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(gateway)
}

/// Only what the dashboard calls services through (`/api/...`) and
/// `/health`: the routes of `micro web`.
pub(crate) fn calls_only(gateway: Arc<Gateway>) -> Router {
    let limit = gateway.options.max_body;
    calls()
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(gateway)
}

fn calls() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/api/{*path}", get(api::call).post(api::call))
        .route("/health", get(health::get))
}

async fn not_found(uri: axum::http::Uri) -> Failure {
    Failure(Error::not_found(format!(
        "no route for {}; the gateway serves /api/{{service}}/{{endpoint}}, /rpc, \
         /health, /openapi.json and web apps at /web/{{service}}/",
        uri.path()
    )))
}

/// A body that could not be read (413 over the limit) as an error.
fn body_error(rejection: &BytesRejection) -> Failure {
    let status = rejection.status().as_u16();
    let detail = if status == 413 {
        "the request body is larger than the gateway's limit".to_owned()
    } else {
        rejection.body_text()
    };
    Failure(Error::new(status, detail))
}
