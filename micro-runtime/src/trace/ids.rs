//! The trace and span ids a log line shows: those of the OpenTelemetry
//! span the event happened in, else the trace id of the `traceparent` the
//! current request arrived with.

use tracing::span::Id;

use super::propagation;
use crate::Context;

#[cfg(feature = "otel")]
static DISPATCH: std::sync::OnceLock<tracing::dispatcher::WeakDispatch> =
    std::sync::OnceLock::new();

/// Remembers the subscriber `init` installed: a formatter is called inside
/// it, where the current dispatcher is not available.
#[cfg(feature = "otel")]
pub(crate) fn remember(dispatch: &tracing::Dispatch) {
    let _ = DISPATCH.set(dispatch.downgrade());
}

/// The trace id and, when known, the span id for an event in `span`.
pub(crate) fn of(span: Option<Id>) -> Option<(String, Option<String>)> {
    #[cfg(feature = "otel")]
    if let Some(ids) = span.and_then(|span| exported(&span)) {
        return Some(ids);
    }
    #[cfg(not(feature = "otel"))]
    let _ = span;
    let ctx = Context::current();
    propagation::trace_id(ctx.metadata()).map(|id| (id.to_owned(), None))
}

#[cfg(feature = "otel")]
fn exported(span: &Id) -> Option<(String, Option<String>)> {
    use opentelemetry::trace::TraceContextExt;
    let dispatch = DISPATCH.get()?.upgrade()?;
    let cx = tracing_opentelemetry::get_otel_context(span, &dispatch)?;
    let span = cx.span();
    let ids = span.span_context();
    ids.is_valid()
        .then(|| (ids.trace_id().to_string(), Some(ids.span_id().to_string())))
}
