//! The web dashboard: the services, each one's nodes, endpoints and
//! schemas, a call form for every endpoint, and the events of a topic.
//!
//! Pages are rendered on the server (askama templates, compiled into the
//! binary) and brought to life by one small script; the stylesheet and
//! the script are embedded too, so the dashboard works without internet.
//! Calls go through the gateway's own routes (`/api/...`: JSON, Server-Sent
//! Events, WebSocket), so the browser gets exactly what curl gets. See
//! the crate docs' "The web dashboard" for the pages and how a browser
//! signs in.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::{get, post};

use crate::gateway::Gateway;

mod assets;
mod events;
mod health;
mod listing;
mod live;
mod login;
mod pages;
mod service;

/// What the dashboard's handlers share.
#[derive(Debug)]
pub(crate) struct Dashboard {
    gateway: Arc<Gateway>,
    health: Arc<health::HealthCache>,
}

/// The dashboard's pages, its API and its static files, over `gateway`.
pub(crate) fn routes(gateway: Arc<Gateway>) -> Router {
    let limit = gateway.options.max_body;
    let dashboard = Arc::new(Dashboard {
        gateway,
        health: health::HealthCache::new(),
    });
    Router::new()
        .route("/", get(pages::services))
        .route("/services/{name}", get(pages::service))
        .route("/events", get(pages::events))
        .route(login::PATH, get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route(&format!("{}{{file}}", assets::PREFIX), get(assets::get))
        .route("/dashboard/api/services", get(live::list))
        .route("/dashboard/api/services/live", get(live::events))
        .route("/dashboard/api/publish", post(events::publish))
        .route("/dashboard/api/subscribe", get(events::subscribe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(dashboard)
}

/// True for the dashboard's paths served without a token: the sign-in
/// page and the static files it uses.
pub(crate) fn is_open(path: &str) -> bool {
    path == login::PATH || path.starts_with(assets::PREFIX)
}

/// A page load without the token: to the sign-in page, back here after.
pub(crate) fn sign_in_redirect(uri: &Uri) -> Response {
    login::redirect_to_sign_in(uri)
}
