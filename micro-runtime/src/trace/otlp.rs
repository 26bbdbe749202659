//! OTLP export (feature `otel`): an OpenTelemetry tracer provider with a
//! batch exporter configured by the standard variables, and its flush.
//!
//! Export is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set; `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (or `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`) picks `grpc` or
//! `http/protobuf` (the default). Without an endpoint nothing is recorded
//! (spans stay plain `tracing` spans, for the log lines); with
//! `OTEL_TRACES_EXPORTER=none` spans get their OpenTelemetry ids
//! (propagation, log lines) and nothing is exported.
//! The resource's `service.name` is `OTEL_SERVICE_NAME`, else the name of
//! the first micro service built in the process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData};

use super::sampler::Sampler;
use crate::{Error, Result, env_vars};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
static SERVICE_NAME: OnceLock<String> = OnceLock::new();

/// How spans travel to the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// Where recorded spans go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Export {
    /// Nowhere, and nothing is recorded: no endpoint is configured, or
    /// `OTEL_SDK_DISABLED=true`.
    Off,
    /// Recorded with OpenTelemetry ids, kept local:
    /// `OTEL_TRACES_EXPORTER=none`.
    Local,
    /// To the OTLP endpoint with this protocol.
    Otlp(Protocol),
}

/// What the standard variables configure.
///
/// # Errors
///
/// 400 for a protocol other than `grpc` and `http/protobuf`, an exporter
/// other than `otlp` and `none`, or a switch that does not parse.
pub(crate) fn configured() -> Result<Export> {
    if env_vars::flag("OTEL_SDK_DISABLED")?.unwrap_or(false) {
        return Ok(Export::Off);
    }
    match env_vars::string("OTEL_TRACES_EXPORTER")
        .as_deref()
        .map(str::trim)
    {
        None | Some("otlp") => {}
        Some("none") => return Ok(Export::Local),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "OTEL_TRACES_EXPORTER={other:?} is not supported (otlp or none)"
            )));
        }
    }
    let endpoint = env_vars::string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env_vars::string("OTEL_EXPORTER_OTLP_ENDPOINT"));
    if endpoint.is_none() {
        return Ok(Export::Off);
    }
    let (name, protocol) = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .into_iter()
    .find_map(|name| env_vars::string(name).map(|v| (name, v)))
    .unwrap_or(("", "http/protobuf".to_owned()));
    match protocol.trim() {
        "grpc" => Ok(Export::Otlp(Protocol::Grpc)),
        "http/protobuf" => Ok(Export::Otlp(Protocol::HttpProtobuf)),
        other => Err(Error::bad_request(format!(
            "{name}={other:?} is not supported (grpc or http/protobuf)"
        ))),
    }
}

/// The tracer spans are recorded with: exported over OTLP with `protocol`,
/// or kept local (ids only) without one; `sampler` decides for spans other
/// than micro's own (those were decided before they were made). The provider is kept for [`flush`].
///
/// # Errors
///
/// 400 when the exporter cannot be built from the variables; 500 for gRPC
/// outside a Tokio runtime.
pub(crate) fn tracer(protocol: Option<Protocol>, sampler: Sampler) -> Result<SdkTracer> {
    let mut provider = SdkTracerProvider::builder().with_sampler(super::sampler::sdk(sampler));
    if let Some(protocol) = protocol {
        let exporter = match protocol {
            Protocol::Grpc => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(Error::internal(
                        "OTLP over gRPC needs a Tokio runtime: call trace::init inside one",
                    ));
                }
                SpanExporter::builder().with_tonic().build()
            }
            Protocol::HttpProtobuf => SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build(),
        }
        .map_err(|e| Error::bad_request(format!("the OTLP exporter: {e}")))?;
        provider = provider.with_batch_exporter(Named::new(exporter));
    }
    let provider = provider.build();
    let tracer = provider.tracer("micro");
    let _ = PROVIDER.set(provider);
    Ok(tracer)
}

/// Names the exported resource after `service` unless `OTEL_SERVICE_NAME`
/// (or an earlier service) did.
pub(crate) fn name_service(service: &str) {
    let _ = SERVICE_NAME.set(service.to_owned());
}

/// Exports the spans that ended and are still buffered; waits at most as
/// long as the exporter's timeout.
pub(crate) async fn flush() {
    let Some(provider) = PROVIDER.get().cloned() else {
        return;
    };
    match tokio::task::spawn_blocking(move || provider.force_flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "flushing spans to the OTLP collector failed"),
        Err(err) => tracing::warn!(error = %err, "flushing spans to the OTLP collector failed"),
    }
}

/// An exporter that gives the resource the service's name once it is known
/// (the subscriber is installed before the service is built).
#[derive(Debug)]
struct Named<E> {
    inner: tokio::sync::Mutex<E>,
    resource: Option<Resource>,
    named: AtomicBool,
}

impl<E> Named<E> {
    fn new(inner: E) -> Self {
        Self {
            inner: tokio::sync::Mutex::new(inner),
            resource: None,
            named: AtomicBool::new(false),
        }
    }

    /// The resource with `service.name` set to the service's, when the
    /// resource has no name of its own and a service was built since.
    fn renamed(&self) -> Option<Resource> {
        if self.named.load(Ordering::Relaxed) {
            return None;
        }
        let service = SERVICE_NAME.get()?;
        self.named.store(true, Ordering::Relaxed);
        let resource = self.resource.as_ref()?;
        let key = opentelemetry::Key::from_static_str("service.name");
        let unnamed = resource
            .get(&key)
            .is_none_or(|v| v.as_str().starts_with("unknown_service"));
        unnamed.then(|| {
            Resource::builder_empty()
                .with_attributes(
                    resource
                        .iter()
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
                )
                .with_service_name(service.clone())
                .build()
        })
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Named<E>
{
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut inner = self.inner.lock().await;
        if let Some(resource) = self.renamed() {
            inner.set_resource(&resource);
        }
        inner.export(batch).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self.inner.try_lock() {
            Ok(inner) => inner.shutdown_with_timeout(timeout),
            Err(_) => Ok(()),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self.inner.try_lock() {
            Ok(inner) => inner.force_flush(),
            Err(_) => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Some(resource.clone());
        self.named.store(false, Ordering::Relaxed);
        self.inner.get_mut().set_resource(resource);
    }
}
