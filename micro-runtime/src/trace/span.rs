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

/// Where the spans of unsampled calls are reported from: plain `tracing`
/// spans for the log lines, never seen by the OpenTelemetry layer.
pub(crate) const UNSAMPLED: &str = "micro_runtime::trace::unsampled";

/// The names of micro's spans (the SDK's sampler records them as decided).
#[cfg(feature = "otel")]
pub(crate) const NAMES: [&str; 4] = [
    "rpc.server",
    "rpc.client",
    "messaging.publish",
    "messaging.process",
];

/// A span at `info` with `target` when sampled, else [`UNSAMPLED`].
macro_rules! span_at {
    ($sampled:expr, $($rest:tt)*) => {
        if $sampled {
            tracing::info_span!(target: TARGET, $($rest)*)
        } else {
            tracing::info_span!(target: UNSAMPLED, $($rest)*)
        }
    };
}

/// The span of a call of `kind` (`server` or `client`) to `method`
/// (`Greeter.Hello`) of `service`.
macro_rules! rpc_span {
    ($sampled:expr, $name:literal, $kind:literal, $service:expr, $method:expr) => {
        span_at!(
            $sampled,
            $name,
            otel.name = %format_args!("{}/{}", $service, $method),
            otel.kind = $kind,
            otel.status_code = Empty,
            otel.status_description = Empty,
            rpc.system = "micro",
            rpc.service = %$service,
            rpc.method = %$method,
            rpc.response.status_code = Empty,
            "error.type" = Empty,
        )
    };
}

/// The server side of a call to `method` (`Greeter.Hello`) of `service`.
pub(crate) fn server(service: &str, method: &str, sampled: bool) -> Span {
    rpc_span!(sampled, "rpc.server", "server", service, method)
}

/// The client side of a call to `method` of `service`.
pub(crate) fn client(service: &str, method: &str, sampled: bool) -> Span {
    rpc_span!(sampled, "rpc.client", "client", service, method)
}

/// Publishing to `topic` on the broker `system`.
pub(crate) fn publish(system: &str, topic: &str, sampled: bool) -> Span {
    span_at!(
        sampled,
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
pub(crate) fn deliver(topic: &str, subscriber: &str, redelivered: bool, sampled: bool) -> Span {
    span_at!(
        sampled,
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
