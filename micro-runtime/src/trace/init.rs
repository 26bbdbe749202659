//! The process's tracing subscriber: log lines (text or JSON) filtered by
//! `RUST_LOG`, and (feature `otel`) the OpenTelemetry layer that gives
//! spans their ids and exports them over OTLP when configured.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::json::JsonLines;
use crate::{Error, Result, env_vars};

/// A layer of the subscriber `init` builds.
type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// How log lines are written (`MICRO_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

fn format_from_env() -> Result<Format> {
    match env_vars::string("MICRO_LOG_FORMAT")
        .as_deref()
        .map(str::trim)
    {
        None | Some("text") => Ok(Format::Text),
        Some("json") => Ok(Format::Json),
        Some(other) => Err(Error::bad_request(format!(
            "MICRO_LOG_FORMAT={other:?} is not a log format (text or json)"
        ))),
    }
}

/// Installs the process's subscriber: log lines on stderr filtered by
/// `RUST_LOG` (default `warn`), as text or, with `MICRO_LOG_FORMAT=json`,
/// one JSON object per line carrying `trace_id` and `span_id`; with the
/// `otel` feature, the OpenTelemetry layer (spans exported over OTLP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set). Call it once, early in `main`,
/// inside the Tokio runtime.
///
/// # Errors
///
/// 400 for a variable that does not parse; 409 when a subscriber is
/// already installed.
pub fn init() -> Result<()> {
    init_with("warn")
}

/// [`init`] with `default_filter` when `RUST_LOG` is unset (e.g. `off` for
/// a command whose output must stay clean unless asked).
///
/// # Errors
///
/// As [`init`].
pub fn init_with(default_filter: &str) -> Result<()> {
    let format = format_from_env()?;
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| Error::bad_request(format!("RUST_LOG={directives:?}: {e}")))?,
        _ => EnvFilter::try_new(default_filter)
            .map_err(|e| Error::bad_request(format!("the log filter {default_filter:?}: {e}")))?,
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines: Boxed = match format {
        Format::Text => lines.with_filter(filter).boxed(),
        Format::Json => lines.event_format(JsonLines).with_filter(filter).boxed(),
    };
    #[allow(unused_mut)]
    let mut layers = vec![lines];
    #[cfg(feature = "otel")]
    let sampler = match otel_layer()? {
        Some((layer, sampler)) => {
            layers.push(layer);
            Some(sampler)
        }
        None => None,
    };
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layers));
    #[cfg(feature = "otel")]
    super::ids::remember(&dispatch);
    tracing::dispatcher::set_global_default(dispatch)
        .map_err(|_| Error::conflict("a tracing subscriber is already installed"))?;
    #[cfg(feature = "otel")]
    if let Some(sampler) = sampler {
        super::sampler::install(sampler);
    }
    Ok(())
}

/// The OpenTelemetry layer: every span at `info` and above (the log filter
/// does not apply), but none of the exporter's own crates nor the calls the
/// sampler left out; with it, the sampler of `OTEL_TRACES_SAMPLER`. None
/// when nothing is exported ([`super::otlp::configured`]): spans stay plain
/// `tracing` spans and the trace context passes through unchanged.
///
/// The layer records what the span's fields say and nothing per poll: no
/// source location, thread or busy/idle timings, and no OpenTelemetry
/// context made current on every enter (the span's own context is still
/// what [`super::propagation`] and the log lines read).
#[cfg(feature = "otel")]
fn otel_layer() -> Result<Option<(Boxed, super::sampler::Sampler)>> {
    use super::otlp::Export;
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::filter::Targets;
    let protocol = match super::otlp::configured()? {
        Export::Off => return Ok(None),
        Export::Local => None,
        Export::Otlp(protocol) => Some(protocol),
    };
    let sampler = super::sampler::Sampler::from_env()?;
    let tracer = super::otlp::tracer(protocol, sampler)?;
    let quiet = [
        "h2",
        "hyper",
        "hyper_util",
        "tonic",
        "tower",
        "reqwest",
        "opentelemetry",
    ];
    let filter = quiet.into_iter().chain([super::span::UNSAMPLED]).fold(
        Targets::new().with_default(LevelFilter::INFO),
        |targets, target| targets.with_target(target, LevelFilter::OFF),
    );
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(filter)
        .boxed();
    Ok(Some((layer, sampler)))
}
