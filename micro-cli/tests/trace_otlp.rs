//! One trace across `micro gateway` and three services, exported over OTLP
//! (gRPC) to a receiver of the test's own: a request with a `traceparent`
//! enters the gateway, which calls `trace-demo front`, which calls
//! `greeter-server` and publishes an event `trace-demo audit` consumes. All
//! run as real processes in a private network namespace, discovering each
//! other over mDNS; the receiver (opentelemetry-proto's tonic
//! `TraceService`) is this test binary run again inside the namespace,
//! printing every span it receives as a JSON line.

mod support;

/// Set in the receiver process: [`otlp_receiver`] then serves.
const RECEIVER: &str = "MICRO_TEST_OTLP_RECEIVER";

/// The receiver: returns at once unless this binary was started as the
/// receiver process by the test below.
#[test]
fn otlp_receiver() {
    if std::env::var_os(RECEIVER).is_none() {
        return;
    }
    receiver::serve();
}

#[cfg(not(feature = "otel"))]
#[test]
fn one_trace_crosses_the_gateway_three_services_and_an_event() {
    println!("skipped: OTLP export needs the feature otel (cargo test --features otel)");
}

#[cfg(feature = "otel")]
#[test]
fn one_trace_crosses_the_gateway_three_services_and_an_event() {
    flow::run();
}

mod receiver {
    use std::io::Write;

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use opentelemetry_proto::tonic::common::v1::{AnyValue as Any, KeyValue};
    use serde_json::{Map, Value, json};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn value(value: Option<&Any>) -> Value {
        match value.and_then(|v| v.value.as_ref()) {
            Some(AnyValue::StringValue(s)) => s.clone().into(),
            Some(AnyValue::IntValue(i)) => (*i).into(),
            Some(AnyValue::BoolValue(b)) => (*b).into(),
            Some(AnyValue::DoubleValue(d)) => (*d).into(),
            other => format!("{other:?}").into(),
        }
    }

    fn attributes(list: &[KeyValue]) -> Map<String, Value> {
        list.iter()
            .map(|kv| (kv.key.clone(), value(kv.value.as_ref())))
            .collect()
    }

    /// Prints each span as `span {json}`.
    struct Printer;

    #[tonic::async_trait]
    impl TraceService for Printer {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut out = std::io::stdout().lock();
            for resource_spans in request.into_inner().resource_spans {
                let resource = resource_spans
                    .resource
                    .map(|r| attributes(&r.attributes))
                    .unwrap_or_default();
                let service = resource.get("service.name").cloned().unwrap_or_default();
                for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                    let line = json!({
                        "service": service,
                        "name": span.name,
                        "kind": span.kind,
                        "trace_id": hex(&span.trace_id),
                        "span_id": hex(&span.span_id),
                        "parent": hex(&span.parent_span_id),
                        "attributes": attributes(&span.attributes),
                    });
                    writeln!(out, "span {line}").unwrap();
                }
            }
            out.flush().unwrap();
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }

    pub(super) fn serve() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            // On a line of its own: libtest has printed `test otlp_receiver ... `.
            println!(
                "\notlp listening on http://{}",
                listener.local_addr().unwrap()
            );
            std::io::stdout().flush().unwrap();
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Printer))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
    }
}

#[cfg(feature = "otel")]
mod flow {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use super::RECEIVER;
    use super::support::gateway::{curl, gateway};
    use super::support::{LIMIT, Netns, Proc, greeter_server, trace_demo};

    /// The caller's trace and span, as its `traceparent` names them.
    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const CALLER: &str = "b7ad6b7169203331";
    /// A caller's trace it did not sample (flags 00): nothing of it is
    /// exported anywhere downstream.
    const UNSAMPLED: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    /// OTLP span kinds.
    const SERVER: i64 = 2;
    const CLIENT: i64 = 3;
    const PRODUCER: i64 = 4;
    const CONSUMER: i64 = 5;

    fn start(ns: &Netns, name: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = ns.command(program);
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let proc = Proc::spawn(name, cmd);
        proc.wait_line("listening on ", LIMIT);
        proc
    }

    /// The spans of the trace the receiver printed, once one of each
    /// `(service, name)` in `wanted` arrived, and the spans of the
    /// unsampled trace among all it printed (every process has flushed and
    /// exited: what is left arrives without waiting for more exports).
    fn spans_of_trace(receiver: &Proc, wanted: &[(&str, &str)]) -> (Vec<Value>, Vec<Value>) {
        let deadline = Instant::now() + LIMIT;
        let mut spans: Vec<Value> = Vec::new();
        let mut unsampled: Vec<Value> = Vec::new();
        let missing = |spans: &[Value]| {
            wanted
                .iter()
                .filter(|(service, name)| {
                    !spans
                        .iter()
                        .any(|s| s["service"] == *service && s["name"] == *name)
                })
                .count()
        };
        while missing(&spans) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(line) = receiver.next_line(left) else {
                panic!(
                    "{} spans missing of {wanted:?}: {spans:#?}",
                    missing(&spans)
                );
            };
            let Some(json) = line.strip_prefix("span ") else {
                continue;
            };
            let span: Value = serde_json::from_str(json).unwrap();
            if span["trace_id"] == TRACE {
                spans.push(span);
            } else if span["trace_id"] == UNSAMPLED {
                unsampled.push(span);
            }
        }
        while let Some(line) = receiver.next_line(Duration::from_secs(1)) {
            if let Some(json) = line.strip_prefix("span ") {
                let span: Value = serde_json::from_str(json).unwrap();
                if span["trace_id"] == UNSAMPLED {
                    unsampled.push(span);
                }
            }
        }
        (spans, unsampled)
    }

    /// The one span of `service` named `name`.
    fn find<'a>(spans: &'a [Value], service: &str, name: &str) -> &'a Value {
        let found: Vec<&Value> = spans
            .iter()
            .filter(|s| s["service"] == service && s["name"] == name)
            .collect();
        assert_eq!(found.len(), 1, "{service} {name} in {spans:#?}");
        found[0]
    }

    fn assert_child(child: &Value, parent: &Value, kind: i64) {
        assert_eq!(
            child["parent"], parent["span_id"],
            "{child:#} under {parent:#}"
        );
        assert_eq!(child["kind"], kind, "{child:#}");
    }

    pub(super) fn run() {
        let ns = Netns::new();
        let mut receiver = {
            let mut cmd = ns.command(std::env::current_exe().unwrap().to_str().unwrap());
            cmd.args([
                "--exact",
                "otlp_receiver",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(RECEIVER, "1")
            .stdin(Stdio::null());
            Proc::spawn("otlp receiver", cmd)
        };
        let endpoint = receiver
            .wait_line("otlp listening on ", LIMIT)
            .trim_start_matches("otlp listening on ")
            .to_owned();
        let otel = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ];
        let greeter = start(
            &ns,
            "greeter",
            greeter_server().to_str().unwrap(),
            &[],
            &otel,
        );
        let demo = trace_demo().to_str().unwrap();
        let audit = start(&ns, "audit", demo, &["audit"], &otel);
        let front_env = [
            otel.as_slice(),
            &[("MICRO_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
        ]
        .concat();
        let front = start(&ns, "front", demo, &["front"], &front_env);
        let gateway_env = [otel.as_slice(), &[("OTEL_SERVICE_NAME", "gateway")]].concat();
        let (gateway, base) = gateway(&ns, &["--address", "127.0.0.1:0"], &gateway_env);

        // First a request its caller did not sample: it crosses the same
        // services and the event, and none of them records it.
        let unsampled = format!("traceparent: 00-{UNSAMPLED}-{CALLER}-00");
        let reply = curl(
            &ns,
            "POST",
            &format!("{base}/api/com.example.srv.front/Front.Greet"),
            &[&unsampled],
            Some(r#"{"name":"Bea"}"#),
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        audit.wait_line("audited Hello Bea", LIMIT);

        let traceparent = format!("traceparent: 00-{TRACE}-{CALLER}-01");
        let reply = curl(
            &ns,
            "POST",
            &format!("{base}/api/com.example.srv.front/Front.Greet"),
            &[&traceparent],
            Some(r#"{"name":"Ada"}"#),
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["greeting"], "Hello Ada", "{reply:?}");
        audit.wait_line("audited Hello Ada", LIMIT);

        // Stopping flushes what each one buffered.
        let mut stopped = [gateway, front, greeter, audit];
        for proc in &stopped {
            proc.signal("TERM");
        }
        for proc in &mut stopped {
            let status = proc.wait_exit(LIMIT);
            assert!(
                status.success(),
                "{}: {status}\n{}",
                proc.name,
                proc.stderr()
            );
        }
        let [_, front, ..] = &stopped;

        let (front_name, greeter_name) = (
            "com.example.srv.front/Front.Greet",
            "com.example.srv.greeter/Greeter.Hello",
        );
        let entry_name = "POST /api/com.example.srv.front/Front.Greet";
        let (spans, unsampled) = spans_of_trace(
            &receiver,
            &[
                ("gateway", entry_name),
                ("gateway", front_name),
                ("com.example.srv.front", front_name),
                ("com.example.srv.front", greeter_name),
                ("com.example.srv.greeter", greeter_name),
                ("com.example.srv.front", "send greeted"),
                ("com.example.srv.audit", "process greeted"),
            ],
        );
        assert!(unsampled.is_empty(), "unsampled spans: {unsampled:#?}");
        let entry = find(&spans, "gateway", entry_name);
        assert_eq!(entry["parent"], CALLER, "the caller's span is the parent");
        assert_eq!(entry["kind"], SERVER);
        let gateway_call = find(&spans, "gateway", front_name);
        assert_child(gateway_call, entry, CLIENT);
        let front_served = find(&spans, "com.example.srv.front", front_name);
        assert_child(front_served, gateway_call, SERVER);
        assert_eq!(front_served["attributes"]["rpc.system"], "micro");
        assert_eq!(front_served["attributes"]["rpc.method"], "Front.Greet");
        assert_eq!(
            front_served["attributes"]["rpc.response.status_code"],
            "200"
        );
        let front_call = find(&spans, "com.example.srv.front", greeter_name);
        assert_child(front_call, front_served, CLIENT);
        let greeter_served = find(&spans, "com.example.srv.greeter", greeter_name);
        assert_child(greeter_served, front_call, SERVER);
        let published = find(&spans, "com.example.srv.front", "send greeted");
        assert_child(published, front_served, PRODUCER);
        assert_eq!(
            published["attributes"]["messaging.destination.name"],
            "greeted"
        );
        let consumed = find(&spans, "com.example.srv.audit", "process greeted");
        assert_child(consumed, published, CONSUMER);

        // The front's log line of the call is JSON and names the trace and
        // the server span it was written in.
        let logged: Vec<Value> = front
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|l: &Value| l["message"] == "greeting")
            .collect();
        assert_eq!(logged.len(), 2, "{}", front.stderr());
        // The unsampled call's line names its trace (from the request),
        // and no span: none was recorded.
        assert_eq!(logged[0]["name"], "Bea");
        assert_eq!(logged[0]["trace_id"], UNSAMPLED);
        assert!(logged[0].get("span_id").is_none(), "{}", logged[0]);
        let logged = &logged[1..];
        assert_eq!(logged[0]["name"], "Ada");
        assert_eq!(logged[0]["trace_id"], TRACE);
        assert_eq!(logged[0]["span_id"], front_served["span_id"]);
        assert_eq!(logged[0]["level"], "INFO");
        for line in front.stderr().lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "not a JSON line: {line}"
            );
        }
        receiver.signal("KILL");
        let _ = receiver.wait_exit(LIMIT);
    }
}
