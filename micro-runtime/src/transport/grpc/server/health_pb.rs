//! The messages of `grpc.health.v1` (grpc/health/v1/health.proto), by hand:
//! two small messages do not warrant a generated crate.

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HealthCheckRequest {
    /// The service asked about; empty for the server as a whole.
    #[prost(string, tag = "1")]
    pub(crate) service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HealthCheckResponse {
    /// A [`ServingStatus`].
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub(crate) status: i32,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum ServingStatus {
    /// Not known.
    Unknown = 0,
    /// Serving.
    Serving = 1,
    /// Up but not serving (e.g. shutting down).
    NotServing = 2,
    /// Only in `Watch`: the service asked about is not served here.
    ServiceUnknown = 3,
}
