//! The spans of calls and messages, named and attributed after
//! OpenTelemetry's RPC and messaging semantic conventions.
//!
//! Fields are only evaluated when a subscriber is interested in the span:
//! with nobody listening a span is `Span::none()` and costs a callsite check.

use tracing::Span;
use tracing::field::Empty;

use crate::Error;

/// Where the spans are reported from (`RUST_LOG=micro_runtime::trace=…`).
pub(crate) const TARGET: &str = "micro_runtime::trace";

/// The server side of a call to `method` (`Greeter.Hello`) of `service`.
pub(crate) fn server(service: &str, method: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "rpc.server",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        rpc.system = "micro",
        rpc.service = %service,
        rpc.method = %method,
        rpc.response.status_code = Empty,
        "error.type" = Empty,
    )
}

/// The client side of a call to `method` of `service`.
pub(crate) fn client(service: &str, method: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "rpc.client",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "client",
        otel.status_code = Empty,
        otel.status_description = Empty,
        rpc.system = "micro",
        rpc.service = %service,
        rpc.method = %method,
        rpc.response.status_code = Empty,
        "error.type" = Empty,
    )
}

/// Publishing to `topic` on the broker `system`.
pub(crate) fn publish(system: &str, topic: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "messaging.publish",
        otel.name = %format_args!("send {topic}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        otel.status_description = Empty,
        messaging.system = %system,
        "messaging.operation.type" = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %topic,
        "error.type" = Empty,
    )
}

/// A subscriber (`Notifier.OnSignup`) handling a message of `topic`.
pub(crate) fn deliver(topic: &str, subscriber: &str, redelivered: bool) -> Span {
    tracing::info_span!(
        target: TARGET,
        "messaging.process",
        otel.name = %format_args!("process {topic}"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        otel.status_description = Empty,
        messaging.system = "micro",
        "messaging.operation.type" = "process",
        messaging.destination.name = %topic,
        messaging.consumer.group.name = %subscriber,
        messaging.micro.redelivered = redelivered,
        "error.type" = Empty,
    )
}

/// Which side of an exchange a span stands for: a server answers for its
/// own failures only (5xx), a client for every failed call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    /// Serving or consuming.
    Server,
    /// Calling or publishing.
    Client,
}

/// Records how the exchange ended: the status code (200 for success) and,
/// for a failure, the error's code and detail.
pub(crate) fn finish<T>(span: &Span, side: Side, outcome: &Result<T, Error>) {
    if span.is_disabled() {
        return;
    }
    match outcome {
        Ok(_) => {
            span.record("rpc.response.status_code", 200u16);
        }
        Err(err) => {
            span.record("rpc.response.status_code", err.code());
            span.record("error.type", err.code());
            if side == Side::Client || err.code() >= 500 {
                span.record("otel.status_code", "error");
                span.record("otel.status_description", err.detail());
            }
        }
    }
}
