//! The sidecar's HTTP side, for the application: its own routes, and the
//! gateway's for calls (`/rpc`, `/{service}/{endpoint}` as the gateway's
//! `/api/{service}/{endpoint}`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use micro_gateway::GatewayOptions;
use micro_runtime::{Client, Error};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::failure::Failure;
use crate::sidecar::State as Health;

#[derive(Clone)]
struct Shared {
    client: Client,
    health: Arc<Health>,
    gateway: Router,
}

/// Every route.
pub(crate) fn router(
    client: Client,
    health: Arc<Health>,
    options: GatewayOptions,
    limit: usize,
) -> Router {
    let gateway = micro_gateway::router(client.clone(), options);
    let shared = Shared {
        client,
        health,
        gateway: gateway.clone(),
    };
    Router::new()
        .route("/health", get(health_get))
        .route("/registry", get(registry))
        .route("/registry/{service}", get(registry_service))
        .route("/broker/{topic}", post(publish))
        .route("/{service}/{endpoint}", post(call))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
        .fallback_service(gateway)
}

/// `{"app": "up"|"down", "registered": bool}`.
async fn health_get(State(shared): State<Shared>) -> Response {
    let up = shared.health.app_up.load(Ordering::SeqCst);
    let registered = shared.health.registered.load(Ordering::SeqCst);
    axum::Json(json!({ "app": if up { "up" } else { "down" }, "registered": registered }))
        .into_response()
}

/// Every registered service (each version with its nodes and endpoints).
async fn registry(State(shared): State<Shared>) -> Result<Response, Failure> {
    let services = shared.client.services().await?;
    Ok(axum::Json(services).into_response())
}

/// The versions of one service; 404 when none is registered.
async fn registry_service(
    State(shared): State<Shared>,
    Path(service): Path<String>,
) -> Result<Response, Failure> {
    let versions: Vec<_> = shared
        .client
        .services()
        .await?
        .into_iter()
        .filter(|s| s.name == service)
        .collect();
    if versions.is_empty() {
        return Err(Error::not_found(format!("service {service} is not registered")).into());
    }
    Ok(axum::Json(versions).into_response())
}

/// Publishes the JSON body to `topic`.
async fn publish(
    State(shared): State<Shared>,
    Path(topic): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let body = body.map_err(|rejection| body_error(&rejection))?;
    let event: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("the event to publish must be JSON: {e}")))?;
    shared.client.publish_json(&topic, &event).await?;
    Ok(axum::Json(json!({ "topic": topic, "published": true })).into_response())
}

/// `POST /{service}/{Endpoint.Method}`: the gateway's
/// `/api/{service}/{Endpoint.Method}`.
async fn call(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = match parts.uri.query() {
        Some(query) => format!("/api{}?{query}", parts.uri.path()),
        None => format!("/api{}", parts.uri.path()),
    };
    let uri = match path.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => return Failure(Error::bad_request(format!("{path}: {e}"))).into_response(),
    };
    // A fresh request: this route's path parameters (an extension) must
    // not reach the gateway's routes; the peer's address may.
    let mut forwarded = Request::new(body);
    *forwarded.method_mut() = parts.method;
    *forwarded.uri_mut() = uri;
    *forwarded.version_mut() = parts.version;
    *forwarded.headers_mut() = parts.headers;
    if let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        forwarded.extensions_mut().insert(*peer);
    }
    match shared.gateway.oneshot(forwarded).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A body that could not be read (413 over the limit) as an error.
fn body_error(rejection: &BytesRejection) -> Failure {
    let status = rejection.status();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is larger than the sidecar's limit".to_owned()
    } else {
        rejection.body_text()
    };
    Failure(Error::new(status.as_u16(), detail))
}

/// JSON content type for error bodies.
pub(crate) const JSON: [(header::HeaderName, &str); 1] =
    [(header::CONTENT_TYPE, "application/json")];
