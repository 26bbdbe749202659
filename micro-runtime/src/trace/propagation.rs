//! W3C trace context (`traceparent`, `tracestate`) in a call's metadata.
//!
//! With the `otel` feature a span continues the trace its metadata names
//! and writes its own position into the metadata of what it sends on
//! (OpenTelemetry's `TraceContextPropagator` reads and writes the headers).
//! Without it nothing is rewritten: the headers a request arrived with stay
//! in its context and travel on unchanged with every call and event made
//! while handling it, as W3C asks of a system that does not take part.

use tracing::Span;

use crate::Metadata;

/// The `traceparent` metadata key.
pub(crate) const TRACEPARENT: &str = "traceparent";

/// The trace id (32 hex digits) of a well-formed `traceparent` in
/// `metadata`; what JSON log lines show without OpenTelemetry.
pub(crate) fn trace_id(metadata: &Metadata) -> Option<&str> {
    let header = metadata.get(TRACEPARENT)?;
    let mut parts = header.split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    let valid = trace_id.len() == 32
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && trace_id.bytes().any(|b| b != b'0');
    valid.then_some(trace_id)
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::TRACEPARENT;
    use crate::Metadata;

    /// The `tracestate` metadata key.
    const TRACESTATE: &str = "tracestate";

    struct Reader<'a>(&'a Metadata);

    impl Extractor for Reader<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key)
        }

        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| k).collect()
        }
    }

    struct Writer<'a>(&'a mut Metadata);

    impl Injector for Writer<'_> {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key, value);
        }
    }

    pub(crate) fn continue_from(span: &Span, metadata: &Metadata) -> bool {
        if metadata.get(TRACEPARENT).is_none() {
            return false;
        }
        let parent = TraceContextPropagator::new().extract(&Reader(metadata));
        if !parent.span().span_context().is_valid() {
            return false;
        }
        span.set_parent(parent).is_ok()
    }

    pub(crate) fn inject(span: &Span, metadata: &mut Metadata) {
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return;
        }
        TraceContextPropagator::new().inject_context(&cx, &mut Writer(metadata));
        if metadata.get(TRACESTATE).is_some_and(str::is_empty) {
            metadata.remove(TRACESTATE);
        }
    }

    pub(crate) fn in_trace() -> bool {
        Span::current().context().span().span_context().is_valid()
    }
}

/// Makes `span` a child of the remote span `metadata`'s `traceparent`
/// names (before the span is entered). False when there is none, it does
/// not parse, or spans are not exported.
pub(crate) fn continue_from(span: &Span, metadata: &Metadata) -> bool {
    #[cfg(feature = "otel")]
    {
        otel::continue_from(span, metadata)
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = (span, metadata);
        false
    }
}

/// Writes `span`'s position in its trace into `metadata` (replacing the
/// parent's), when it has one.
pub(crate) fn inject(span: &Span, metadata: &mut Metadata) {
    #[cfg(feature = "otel")]
    otel::inject(span, metadata);
    #[cfg(not(feature = "otel"))]
    let _ = (span, metadata);
}

/// True when the current span belongs to an exported trace: a span made
/// now is its child. Otherwise a new span continues from the context's
/// metadata (work moved onto another task, a client outside any handler).
pub(crate) fn in_trace() -> bool {
    #[cfg(feature = "otel")]
    {
        otel::in_trace()
    }
    #[cfg(not(feature = "otel"))]
    {
        false
    }
}

/// A span that joins the trace: child of the current span when that one is
/// traced, else of the `traceparent` in `metadata`; then `metadata` names
/// the new span, so the peer continues from it.
pub(crate) fn join(span: &Span, metadata: &mut Metadata) {
    if !in_trace() {
        continue_from(span, metadata);
    }
    inject(span, metadata);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(traceparent: &str) -> Metadata {
        let mut metadata = Metadata::new();
        metadata.insert(TRACEPARENT, traceparent);
        metadata
    }

    #[test]
    fn the_trace_id_of_a_well_formed_traceparent() {
        let md = with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(trace_id(&md), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn no_trace_id_from_a_malformed_or_zero_traceparent() {
        for bad in [
            "",
            "00",
            "00-4bf92f35-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(&with(bad)), None, "{bad:?}");
        }
        assert_eq!(trace_id(&Metadata::new()), None);
    }
}
