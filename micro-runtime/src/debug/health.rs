//! `Debug.Health` -> `{"status":"ok"}`: the service is up and serving.

use std::time::Duration;

use crate::codec::MessageCodec;
use crate::endpoint::{CallKind, EndpointDescriptor, TypedEndpoint};

/// Request of `Debug.Health` (empty).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct HealthRequest {}

/// Response of `Debug.Health`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct HealthResponse {
    /// `ok` while the service serves.
    #[prost(string, tag = "1")]
    pub status: String,
}

/// The typed `Debug.Health` endpoint, to call it from a client.
pub const HEALTH: TypedEndpoint<HealthRequest, HealthResponse> = TypedEndpoint {
    descriptor: EndpointDescriptor {
        name: "Debug.Health",
        package: "micro.debug",
        method: "health",
        request_type: "micro.debug.HealthRequest",
        response_type: "micro.debug.HealthResponse",
        kind: CallKind::Unary,
        docs: "Reports that the service is up and serving.",
        idempotent: true,
        timeout: Some(Duration::from_secs(5)),
    },
    request: MessageCodec::prost_serde(),
    response: MessageCodec::prost_serde(),
};
