//! `GET|POST /api/{service}/{endpoint}` and the short go-micro forms
//! (`/api/greeter/hello`): see the resolution table in the crate docs.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use bytes::Bytes;

use super::body_error;
use crate::failure::Failure;
use crate::gateway::Gateway;
use crate::{headers, request, resolve};

/// Resolves the path, builds the request (query string for a GET with
/// one, else the JSON body) and calls.
pub(super) async fn call(
    State(gateway): State<Arc<Gateway>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let body = body.map_err(|rejection| body_error(&rejection))?;
    let wanted = resolve::wanted(&path)?;
    let target = gateway.target(&wanted).await?;
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
