//! A span per request (`http.server`, OpenTelemetry's HTTP conventions),
//! continuing the trace of the request's W3C `traceparent` header: the
//! calls the request makes are its children, so the gateway's span is the
//! root of what happens inside, under the caller's trace id.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use micro_runtime::Metadata;
use tracing::Instrument;
use tracing::field::Empty;

/// The W3C trace context headers.
const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Runs the request in its span.
pub(crate) async fn span_per_request(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        target: "micro_gateway::trace",
        "http.server",
        otel.name = %format_args!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        http.response.status_code = Empty,
    );
    if span.is_disabled() {
        return next.run(request).await;
    }
    let mut caller = Metadata::new();
    for name in TRACE_HEADERS {
        if let Some(value) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
            caller.insert(name, value);
        }
    }
    micro_runtime::trace::continue_trace(&span, &caller);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "error");
    }
    response
}
