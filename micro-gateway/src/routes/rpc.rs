//! `POST /rpc` with `{"service", "endpoint", "request", "address"?}`.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use micro_runtime::Error;
use micro_runtime::endpoint::CallKind;
use serde::Deserialize;
use serde_json::Value;

use super::body_error;
use crate::failure::Failure;
use crate::gateway::{Gateway, Target};
use crate::resolve::Wanted;
use crate::{headers, request};

/// The body of `/rpc`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpcRequest {
    /// A service name, full or short.
    service: String,
    /// `Greeter.Hello` (`method` is accepted too, as go-micro did).
    #[serde(alias = "method")]
    endpoint: String,
    /// The request: a JSON object, or JSON text of one.
    #[serde(default)]
    request: Option<Value>,
    /// Calls the node at this address directly, without discovery.
    #[serde(default)]
    address: Option<String>,
}

/// Calls the endpoint the body names with its `request`.
pub(super) async fn call(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let body = body.map_err(|rejection| body_error(&rejection))?;
    let rpc: RpcRequest = serde_json::from_slice(&body).map_err(|e| {
        Error::bad_request(format!(
            "the /rpc body must be {{\"service\", \"endpoint\", \"request\", \"address\"?}}: {e}"
        ))
    })?;
    let request = match rpc.request {
        None | Some(Value::Null) => Bytes::from_static(b"{}"),
        Some(Value::String(text)) => request::from_body(Bytes::from(text))?,
        Some(object @ Value::Object(_)) => Bytes::from(object.to_string()),
        Some(_) => {
            return Err(Error::bad_request("\"request\" must be a JSON object").into());
        }
    };
    let mut options = headers::call_options(
        &headers,
        gateway.options.forward_credentials,
        gateway.options.timeout,
    )?;
    let target = match rpc.address {
        Some(address) => {
            // No discovery: the names are taken as given.
            gateway.options.access.check(&rpc.service, &rpc.endpoint)?;
            options = options.address(address);
            Target {
                service: rpc.service,
                endpoint: rpc.endpoint,
                kind: CallKind::Unary,
                version: None,
            }
        }
        None => {
            let wanted = Wanted {
                service: rpc.service,
                exact: true,
                endpoint: rpc.endpoint,
            };
            gateway.target(&wanted).await?
        }
    };
    Ok(gateway.call(&target, request, &options).await?)
}
