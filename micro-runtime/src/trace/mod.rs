#![doc = include_str!("../../../docs/tracing.md")]

mod ids;
mod init;
mod json;
#[cfg(feature = "otel")]
mod otlp;
mod propagation;
mod sampler;
mod span;
mod traceparent;
mod wrappers;

use std::sync::Arc;

pub use init::{init, init_with};
pub use wrappers::{TraceClient, TraceHandler, TraceSubscriber};

use crate::client::ClientBuilder;
use crate::{Metadata, Result, env_vars};

/// Whether services and clients built from the environment trace their
/// calls: `MICRO_TRACE=on|off` (default on).
///
/// # Errors
///
/// 400 when the value is not a switch.
pub fn enabled_from_env() -> Result<bool> {
    Ok(env_vars::flag("MICRO_TRACE")?.unwrap_or(true))
}

/// `builder` with a span around every call (and propagation of the trace
/// in its metadata) and around every publish.
pub fn instrument(builder: ClientBuilder) -> ClientBuilder {
    builder
        .wrap(TraceClient)
        .publish_hook(Arc::new(wrappers::TracePublish))
}

/// Makes `span` (not yet entered) a child of the remote span the
/// `traceparent` in `metadata` names, e.g. an HTTP request's headers copied
/// into a call's metadata. False when there is none, it does not parse, or
/// spans have no OpenTelemetry ids (feature `otel` off or no subscriber).
pub fn continue_trace(span: &tracing::Span, metadata: &Metadata) -> bool {
    propagation::continue_from(span, metadata)
}

/// Exports the spans still buffered (feature `otel` with an OTLP endpoint;
/// otherwise returns at once). [`Service::stop`](crate::Service::stop) calls
/// it after draining.
pub async fn flush() {
    #[cfg(feature = "otel")]
    otlp::flush().await;
}

/// Names the exported resource after the first service built in the
/// process, unless `OTEL_SERVICE_NAME` names it.
pub(crate) fn name_service(service: &str) {
    #[cfg(feature = "otel")]
    otlp::name_service(service);
    #[cfg(not(feature = "otel"))]
    let _ = service;
}
