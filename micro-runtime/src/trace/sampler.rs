//! Head sampling: whether a call's span is recorded, decided before the
//! span is made, so that an unsampled call never reaches the
//! OpenTelemetry layer (its span, if any, is a plain `tracing` span for
//! the log lines).
//!
//! The rule is OpenTelemetry's `OTEL_TRACES_SAMPLER` (and
//! `OTEL_TRACES_SAMPLER_ARG` for the ratio): `always_on`, `always_off`,
//! `traceidratio`, and their `parentbased_` forms (the default is
//! `parentbased_always_on`). A parent is the caller's `traceparent` (its
//! sampled flag) or the traced span the call is made in.

use std::sync::OnceLock;

use crate::{Error, Result, env_vars};

/// The rule installed by [`install`]; none while spans are not exported
/// (then every span is made, and none is recorded by OpenTelemetry).
static INSTALLED: OnceLock<Sampler> = OnceLock::new();

/// Which traces are recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sampler {
    /// What a trace's first span decides.
    root: Root,
    /// Whether a span follows its parent's decision (else it decides as a
    /// root does).
    parent_based: bool,
}

/// A root span's decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Root {
    /// Every trace.
    Always,
    /// No trace.
    Never,
    /// This fraction of traces (by trace id where one is known).
    Ratio(f64),
}

impl Default for Sampler {
    fn default() -> Self {
        Self {
            root: Root::Always,
            parent_based: true,
        }
    }
}

impl Sampler {
    /// The rule `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    ///
    /// # Errors
    ///
    /// 400 for an unknown sampler or a ratio outside 0..=1.
    pub(crate) fn from_env() -> Result<Self> {
        Self::parse(
            env_vars::string("OTEL_TRACES_SAMPLER").as_deref(),
            env_vars::string("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )
    }

    fn parse(name: Option<&str>, arg: Option<&str>) -> Result<Self> {
        let name = name.map_or("parentbased_always_on", str::trim);
        let (parent_based, root) = match name.strip_prefix("parentbased_") {
            Some(root) => (true, root),
            None => (false, name),
        };
        let root = match root {
            "always_on" => Root::Always,
            "always_off" => Root::Never,
            "traceidratio" => Root::Ratio(ratio(arg)?),
            _ => {
                return Err(Error::bad_request(format!(
                    "OTEL_TRACES_SAMPLER={name:?} is not supported (always_on, always_off, \
                     traceidratio, or one of them after parentbased_)"
                )));
            }
        };
        Ok(Self { root, parent_based })
    }

    /// Whether a span is recorded: `parent` is its parent's decision and
    /// the low 64 bits of its trace id, when it has one.
    pub(crate) fn decide(&self, parent: Option<(bool, u64)>) -> bool {
        match parent {
            Some((sampled, _)) if self.parent_based => sampled,
            Some((_, low)) => self.root.decide(Some(low)),
            None => self.root.decide(None),
        }
    }
}

impl Root {
    /// The decision for a trace whose id ends in `low`, or a new trace.
    fn decide(self, low: Option<u64>) -> bool {
        match self {
            Root::Always => true,
            Root::Never => false,
            Root::Ratio(ratio) => {
                // As OpenTelemetry's TraceIdRatioBased: the low 63 bits of
                // the id against the ratio, so every service agrees.
                let draw = low.unwrap_or_else(|| fastrand::u64(..));
                (draw >> 1) < (ratio * (1u64 << 63) as f64) as u64
            }
        }
    }

    /// The SDK's sampler for the same rule (for spans other than micro's).
    #[cfg(feature = "otel")]
    fn sdk(self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler as Sdk;
        match self {
            Root::Always => Sdk::AlwaysOn,
            Root::Never => Sdk::AlwaysOff,
            Root::Ratio(ratio) => Sdk::TraceIdRatioBased(ratio),
        }
    }
}

fn ratio(arg: Option<&str>) -> Result<f64> {
    let Some(arg) = arg else {
        return Ok(1.0);
    };
    match arg.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(Error::bad_request(format!(
            "OTEL_TRACES_SAMPLER_ARG={arg:?} is not a ratio between 0 and 1"
        ))),
    }
}

/// Makes `sampler` the rule of this process's spans (once, when the
/// OpenTelemetry layer is installed).
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn install(sampler: Sampler) {
    let _ = INSTALLED.set(sampler);
}

/// Whether a span with `parent` is recorded: always while no rule is
/// installed.
pub(crate) fn decide(parent: Option<(bool, u64)>) -> bool {
    INSTALLED.get().is_none_or(|s| s.decide(parent))
}

/// Whether an unsampled parent decides alone (the rule follows parents),
/// so its ids need not be read.
pub(crate) fn follows_parents() -> bool {
    INSTALLED.get().is_some_and(|s| s.parent_based)
}

/// Whether spans are recorded by OpenTelemetry in this process at all.
pub(crate) fn installed() -> bool {
    INSTALLED.get().is_some()
}

/// The SDK's sampler: micro's own spans were decided before they were
/// made (they are recorded); any other span follows `sampler`.
#[cfg(feature = "otel")]
pub(crate) fn sdk(sampler: Sampler) -> impl opentelemetry_sdk::trace::ShouldSample {
    use opentelemetry_sdk::trace::Sampler as Sdk;
    let others = match sampler.parent_based {
        true => Sdk::ParentBased(Box::new(sampler.root.sdk())),
        false => sampler.root.sdk(),
    };
    Decided(Box::new(others))
}

/// Records micro's spans (sampled before they were made); leaves out any
/// other span without a parent made while handling a request the sampler
/// left out (its context's `traceparent` says so); asks `0` about the rest.
#[cfg(feature = "otel")]
#[derive(Clone, Debug)]
struct Decided(Box<opentelemetry_sdk::trace::Sampler>);

#[cfg(feature = "otel")]
impl opentelemetry_sdk::trace::ShouldSample for Decided {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        span_kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        use opentelemetry::trace::TraceContextExt;
        use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult};
        if super::span::NAMES.contains(&name) {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: parent_context
                    .map(|cx| cx.span().span_context().trace_state().clone())
                    .unwrap_or_default(),
            };
        }
        let orphan = parent_context.is_none_or(|cx| !cx.span().span_context().is_valid());
        if orphan && handling_unsampled() {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// Whether the request being handled on this task was left out by the
/// sampler (its context's `traceparent` is not sampled).
#[cfg(feature = "otel")]
fn handling_unsampled() -> bool {
    let ctx = crate::Context::current();
    ctx.metadata()
        .get("traceparent")
        .and_then(super::traceparent::Traceparent::parse)
        .is_some_and(|p| !p.sampled())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The low half of trace id 4bf92f3577b34da6a3ce929d0e0e4736.
    const ID: u64 = 0xa3ce929d0e0e4736;

    #[test]
    fn the_default_follows_the_parent_and_records_roots() {
        let s = Sampler::parse(None, None).unwrap();
        assert_eq!(s, Sampler::default());
        assert!(s.decide(None));
        assert!(s.decide(Some((true, ID))));
        assert!(!s.decide(Some((false, ID))));
    }

    #[test]
    fn a_plain_sampler_ignores_the_parent() {
        let on = Sampler::parse(Some("always_on"), None).unwrap();
        assert!(on.decide(Some((false, ID))));
        let off = Sampler::parse(Some("always_off"), None).unwrap();
        assert!(!off.decide(Some((true, ID))));
        assert!(!off.decide(None));
    }

    #[test]
    fn a_ratio_decides_by_trace_id_and_draws_for_new_traces() {
        let none = Sampler::parse(Some("traceidratio"), Some("0")).unwrap();
        let all = Sampler::parse(Some("traceidratio"), Some("1")).unwrap();
        let half = Sampler::parse(Some("traceidratio"), Some("0.5")).unwrap();
        assert!(!none.decide(Some((true, ID))));
        assert!(all.decide(Some((false, ID))));
        // Low half 0xa3ce…: bit 63 set, so above a half.
        assert!(!half.decide(Some((true, ID))));
        assert!(half.decide(Some((true, 1))));
        let drawn = (0..4000).filter(|_| half.decide(None)).count();
        assert!((1600..2400).contains(&drawn), "{drawn} of 4000");
        let parent_based = Sampler::parse(Some("parentbased_traceidratio"), Some("0")).unwrap();
        assert!(parent_based.decide(Some((true, ID))));
        assert!(!parent_based.decide(None));
    }

    #[test]
    fn unknown_samplers_and_bad_ratios_are_400() {
        for (name, arg) in [
            ("jaeger_remote", None),
            ("traceidratio", Some("1.5")),
            ("traceidratio", Some("half")),
            ("parentbased_sometimes", None),
        ] {
            let err = Sampler::parse(Some(name), arg).unwrap_err();
            assert_eq!(err.code(), 400, "{name} {arg:?}");
            assert!(err.detail().contains("OTEL_TRACES_SAMPLER"), "{err}");
        }
    }
}
