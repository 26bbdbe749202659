//! Trace context across calls in one process (feature `otel`): a client
//! calls service `a` (native protocol over TCP, then gRPC on the same
//! port), whose handler calls `b`; the spans, collected by an OpenTelemetry
//! exporter of the test's own, form one trace with the right parents.
#![cfg(feature = "otel")]

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use common::{EchoClient, Kind, Msg, World};
use micro_runtime::transport::grpc::{GrpcOptions, GrpcTransport};
use micro_runtime::{Client, trace};
use opentelemetry::trace::{SpanKind, TraceId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::layer::SubscriberExt;

/// Keeps every span exported.
#[derive(Clone, Debug, Default)]
struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collected {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// The process's subscriber: tracing-opentelemetry exporting to [`Collected`].
fn collected() -> &'static Collected {
    static SPANS: OnceLock<Collected> = OnceLock::new();
    SPANS.get_or_init(|| {
        let spans = Collected::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .unwrap();
        spans
    })
}

/// The spans of `trace` named `name` of `kind`.
fn spans(trace: TraceId, name: &str, kind: &SpanKind) -> Vec<SpanData> {
    collected()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.span_context.trace_id() == trace && s.name == name && s.span_kind == *kind)
        .cloned()
        .collect()
}

fn one(trace: TraceId, name: &str, kind: SpanKind) -> SpanData {
    let found = spans(trace, name, &kind);
    assert_eq!(found.len(), 1, "{name} {kind:?}: {found:#?}");
    found.into_iter().next().unwrap()
}

/// Relays through `a` to `b` with `client` inside a root span; checks the
/// chain client -> a server -> a client -> b server.
async fn relay_is_one_trace(client: Client) {
    let root = tracing::info_span!("test.root");
    let trace = {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        root.context().span().span_context().trace_id()
    };
    let reply =
        tracing::Instrument::instrument(EchoClient::new("a", client).relay(Msg::text("b")), root)
            .await
            .unwrap();
    assert_eq!(reply.text, "");
    let caller = one(trace, "a/Echo.Relay", SpanKind::Client);
    let a_served = one(trace, "a/Echo.Relay", SpanKind::Server);
    assert_eq!(a_served.parent_span_id, caller.span_context.span_id());
    let a_calls = one(trace, "b/Echo.Whoami", SpanKind::Client);
    assert_eq!(a_calls.parent_span_id, a_served.span_context.span_id());
    let b_served = one(trace, "b/Echo.Whoami", SpanKind::Server);
    assert_eq!(b_served.parent_span_id, a_calls.span_context.span_id());
    assert!(
        b_served
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "rpc.system" && kv.value.as_str() == "micro"),
        "{b_served:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_call_is_one_trace_over_the_native_protocol_and_grpc() {
    collected();
    let mut world = World::new(Kind::Tcp);
    world.echo("a").await;
    world.echo("b").await;

    let native = trace::instrument(
        Client::builder()
            .registry(world.registry.clone())
            .transport(world.transport.clone()),
    )
    .build()
    .unwrap();
    relay_is_one_trace(native).await;

    let grpc = trace::instrument(
        Client::builder()
            .registry(world.registry.clone())
            .transport(Arc::new(GrpcTransport::new(GrpcOptions::default()))),
    )
    .build()
    .unwrap();
    relay_is_one_trace(grpc).await;
    world.stop().await;
}
