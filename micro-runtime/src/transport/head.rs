use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::Metadata;
use crate::codec::ContentType;
use crate::endpoint::CallKind;

/// The head of a call: which endpoint of which service, how the body is
/// encoded, how long the caller waits and its metadata.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// Registered service name, e.g. `com.example.srv.greeter`.
    pub service: Arc<str>,
    /// Endpoint name, e.g. `Greeter.Hello`.
    pub endpoint: Cow<'static, str>,
    /// The proto package of the endpoint's service, e.g. `greeter.v1`, when
    /// the caller knows it (typed stubs do; empty otherwise): the gRPC
    /// transport calls `/<package>.<Service>/<Method>`.
    pub package: Cow<'static, str>,
    /// Codec of every message of the call (both directions).
    pub content_type: ContentType,
    /// Time the caller still waits, relative so that clocks need not agree.
    pub timeout: Option<Duration>,
    /// The caller's metadata.
    pub metadata: Metadata,
    /// The kind the caller believes the endpoint has.
    pub kind: CallKind,
}

impl RequestHead {
    /// A head with no timeout and no metadata.
    pub fn new(
        service: impl Into<Arc<str>>,
        endpoint: impl Into<Cow<'static, str>>,
        kind: CallKind,
    ) -> Self {
        Self {
            service: service.into(),
            endpoint: endpoint.into(),
            package: Cow::Borrowed(""),
            content_type: ContentType::Protobuf,
            timeout: None,
            metadata: Metadata::new(),
            kind,
        }
    }
}
