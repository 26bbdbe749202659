//! `GET|POST /api/{service}/{endpoint}` and the short go-micro forms
//! (`/api/greeter/hello`): see the resolution table in the crate docs.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use bytes::Bytes;
use micro_runtime::endpoint::CallKind;

use super::body_error;
use crate::failure::Failure;
use crate::gateway::Gateway;
use crate::{headers, request, resolve, stream};

/// Resolves the path, builds the request (query string for a GET with
/// one, else the JSON body) and calls. Streaming endpoints go to
/// [`stream::call`] (SSE, JSON lines, WebSocket).
pub(super) async fn call(
    State(gateway): State<Arc<Gateway>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let body = body.map_err(|rejection| body_error(&rejection))?;
    let wanted = resolve::wanted(&path)?;
    let target = gateway.target(&wanted).await?;
    if target.kind != CallKind::Unary {
        let incoming = stream::Incoming {
            method,
            uri,
            headers,
            body,
            upgrade,
        };
        return Ok(stream::call(&gateway, target, incoming).await?);
    }
    let options = headers::call_options(
        &headers,
        gateway.options.forward_credentials,
        gateway.options.timeout,
    )?;
    let request = match uri.query() {
        Some(query) if method == Method::GET && !query.is_empty() => {
            let schema = gateway.request_schema(&target).await;
            Bytes::from(request::from_query(query, schema.as_ref())?.to_string())
        }
        _ => request::from_body(body)?,
    };
    Ok(gateway.call(&target, request, &options).await?)
}
