//! What the transport reads of the node's own `Debug.*` answers. The
//! `debug` module owns those messages and sits above the transport, so the
//! fields used here are declared again with their numbers (the gRPC tests
//! fail if they drift: health and reflection would answer nothing).

/// The endpoint whose answer is the node's health.
pub(crate) const HEALTH: &str = "Debug.Health";
/// The endpoint whose answer holds the node's descriptor sets.
pub(crate) const DESCRIBE: &str = "Debug.Describe";

/// `micro.debug.HealthResponse`: `ok` while the service serves.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HealthResponse {
    #[prost(string, tag = "1")]
    pub(crate) status: String,
}

/// `micro.debug.ServiceDescription`, its descriptor sets only.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ServiceDescription {
    #[prost(message, repeated, tag = "5")]
    pub(crate) descriptor_sets: Vec<DescriptorSet>,
}

/// `micro.debug.DescriptorSet`: one package's encoded `FileDescriptorSet`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DescriptorSet {
    #[prost(string, tag = "1")]
    pub(crate) package: String,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) file_descriptor_set: Vec<u8>,
}
