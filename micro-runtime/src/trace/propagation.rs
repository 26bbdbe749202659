//! W3C trace context (`traceparent`, `tracestate`) in a call's metadata.
//!
//! With the `otel` feature a span continues the trace its metadata names
//! and writes its own position into the metadata of what it sends on
//! (OpenTelemetry's `TraceContextPropagator` reads and writes the headers).
//! Without it nothing is rewritten: the headers a request arrived with stay
//! in its context and travel on unchanged with every call and event made
//! while handling it, as W3C asks of a system that does not take part.

use tracing::Span;

use super::traceparent::Traceparent;
use crate::Metadata;
use crate::metadata::Text;

/// The `traceparent` metadata key.
pub(crate) const TRACEPARENT: &str = "traceparent";

/// The `traceparent` in `metadata`, when it is well formed.
pub(crate) fn parse(metadata: &Metadata) -> Option<Traceparent> {
    Traceparent::parse(metadata.get(TRACEPARENT)?)
}

/// Whether `metadata` carries a `traceparent` whose flags say its trace is
/// not sampled (the ids are not checked).
pub(crate) fn says_unsampled(metadata: &Metadata) -> bool {
    metadata
        .get(TRACEPARENT)
        .is_some_and(Traceparent::says_unsampled)
}

/// The trace id (32 hex digits) of a well-formed `traceparent` in
/// `metadata`; what JSON log lines show without OpenTelemetry.
pub(crate) fn trace_id(metadata: &Metadata) -> Option<&str> {
    parse(metadata)?;
    metadata.get(TRACEPARENT)?.get(3..35)
}

/// The sampled flag and the low 64 bits of the trace id of a well-formed
/// `traceparent` in `metadata`: what a sampler asks of a remote parent.
#[cfg(test)]
fn remote_parent(metadata: &Metadata) -> Option<(bool, u64)> {
    parse(metadata).map(|p| (p.sampled(), p.low_bits()))
}

/// Marks what `metadata` sends on as not sampled: the `traceparent` it
/// carries (`parent`, as [`parse`] read it) with its sampled flag cleared,
/// else a new trace's, so the services called next do not record it
/// either. False when it already said so.
pub(crate) fn mark_unsampled(metadata: &mut Metadata, parent: Option<Traceparent>) -> bool {
    let unsampled = match parent {
        Some(p) if !p.sampled() => return false,
        Some(p) => Traceparent {
            flags: p.flags & !1,
            ..p
        },
        None => Traceparent::random(0),
    };
    metadata.insert_text(TRACEPARENT, Text::Owned(unsampled.header()));
    true
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

    pub(crate) fn current_parent() -> Option<(bool, u64)> {
        // Asked of the dispatcher first: a `Span` is built only when there
        // is a current span to ask about.
        if !tracing::dispatcher::get_default(|d| d.current_span().id().is_some()) {
            return None;
        }
        let cx = Span::current().context();
        let span = cx.span();
        let ids = span.span_context();
        let low = u64::from_be_bytes(ids.trace_id().to_bytes()[8..].try_into().ok()?);
        ids.is_valid().then_some((ids.is_sampled(), low))
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

/// The sampled flag and low trace id bits of the current span, when it
/// belongs to an OpenTelemetry trace: a span made now is its child.
/// Otherwise a new span continues from the context's metadata (work moved
/// onto another task, a client outside any handler).
pub(crate) fn current_parent() -> Option<(bool, u64)> {
    #[cfg(feature = "otel")]
    {
        otel::current_parent()
    }
    #[cfg(not(feature = "otel"))]
    {
        None
    }
}

/// A span that joins the trace: child of the current span when that one is
/// traced (`in_trace`), else of the `traceparent` in `metadata`; then
/// `metadata` names the new span, so the peer continues from it.
pub(crate) fn join(span: &Span, metadata: &mut Metadata, in_trace: bool) {
    if !in_trace {
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
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-é1",
        ] {
            assert_eq!(trace_id(&with(bad)), None, "{bad:?}");
        }
        // A later version may carry more fields.
        let later = with("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-é");
        assert_eq!(trace_id(&later), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_id(&Metadata::new()), None);
    }

    #[test]
    fn the_sampled_flag_and_low_bits_of_a_remote_parent() {
        let md = with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(remote_parent(&md), Some((true, 0xa3ce929d0e0e4736)));
        let md = with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02");
        assert_eq!(remote_parent(&md), Some((false, 0xa3ce929d0e0e4736)));
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(remote_parent(&with(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn marking_unsampled_clears_the_flag_or_starts_a_trace() {
        let mut md = with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
        let parent = parse(&md);
        assert!(mark_unsampled(&mut md, parent));
        assert_eq!(
            md.get(TRACEPARENT),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02")
        );
        let parent = parse(&md);
        assert!(!mark_unsampled(&mut md, parent), "already unsampled");
        let mut md = Metadata::new();
        let parent = parse(&md);
        assert!(mark_unsampled(&mut md, parent));
        let (sampled, _) = remote_parent(&md).expect("a new traceparent");
        assert!(!sampled);
        let mut md = with("garbage");
        let parent = parse(&md);
        assert!(mark_unsampled(&mut md, parent));
        assert!(remote_parent(&md).is_some(), "{:?}", md.get(TRACEPARENT));
    }
}
