//! A real Python app (the standard library's `http.server`,
//! `tests/app/greeter_app.py`) behind an in-process sidecar, with Rust
//! services, clients and subscribers on one memory registry, transport and
//! broker: calls both ways, errors, deadlines, events both ways, bad input
//! on the HTTP side, and the app's death and return in the registry.

#[path = "../../examples/tests/common/processes.rs"]
mod processes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use examples::{Greeter, SERVICE, World};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use micro_runtime::broker::{Broker, MemoryBroker};
use micro_runtime::codec::{ContentType, MessageCodec};
use micro_runtime::debug::Describer;
use micro_runtime::{CallOptions, Client, Error, Service, Subscriber};
use micro_sidecar::{Sidecar, SidecarOptions, Subscription};
use processes::Proc;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const NAME: &str = "py.greeter";
const LIMIT: Duration = Duration::from_secs(30);
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/app/greeter_app.py");

/// The app on `port` (0: any); returns it and its port.
fn start_app(port: u16) -> (Proc, u16) {
    let python = std::env::var("MICRO_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let mut cmd = std::process::Command::new(python);
    cmd.arg(APP).arg(port.to_string());
    let app = Proc::spawn("greeter_app.py", cmd);
    let line = app.wait_line("listening on ", LIMIT);
    let port = line
        .trim_start_matches("listening on ")
        .trim()
        .parse()
        .unwrap();
    (app, port)
}

/// The JSON of `answer`, and the error of a failed call.
fn json_of(answer: Result<Bytes, Error>) -> Result<Value, Error> {
    answer.map(|b| serde_json::from_slice(&b).unwrap())
}

async fn call(
    client: &Client,
    endpoint: &str,
    body: Value,
    options: &CallOptions,
) -> Result<Value, Error> {
    let body = Bytes::from(body.to_string());
    json_of(
        client
            .call_raw(NAME, endpoint, ContentType::Json, body, options)
            .await,
    )
}

/// `(status, JSON body)` of an HTTP request to the sidecar's HTTP side.
async fn http(base: &str, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let exchange = async {
        let response = http.request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body:?}"));
        (status, value)
    };
    tokio::time::timeout(LIMIT, exchange)
        .await
        .expect("the sidecar answers")
}

/// Waits until the registry shows `nodes` nodes of the app's service.
async fn wait_nodes(client: &Client, nodes: usize) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let services = client.services().await.unwrap();
        let known: usize = services
            .iter()
            .filter(|s| s.name == NAME)
            .map(|s| s.nodes.len())
            .sum();
        if known == nodes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{known} nodes of {NAME}, not {nodes}, after {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_app_is_a_service_behind_the_sidecar() {
    let (mut app, port) = start_app(0);
    let world = World::new();
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let _greeter = world
        .service(SERVICE, |s| s.handle(Greeter::default()).unwrap())
        .await;

    // A Rust subscriber of what the app publishes.
    let (seen, mut from_app) = mpsc::unbounded_channel::<Value>();
    let rust = Service::builder()
        .name("rust.listener")
        .registry(world.registry.clone())
        .transport(world.transport.clone())
        .broker(broker.clone())
        .build()
        .unwrap();
    let codec: MessageCodec<Value> = MessageCodec::serde();
    rust.subscribe(Subscriber::with_codec(
        "py.out",
        codec,
        move |_ctx, event: Value| {
            let _ = seen.send(event);
            async { Ok(()) }
        },
    ))
    .unwrap();
    rust.start().await.unwrap();

    let endpoints = micro_sidecar::endpoints::from_openapi_url(&format!(
        "http://127.0.0.1:{port}/openapi.json"
    ))
    .await
    .unwrap();
    let mut options = SidecarOptions::new(format!("http://127.0.0.1:{port}"), endpoints);
    options.health = Some("/health".into());
    options.health_interval = Duration::from_millis(200);
    options.max_body = 64 * 1024;
    options.subscriptions = vec!["py.in=/events".parse::<Subscription>().unwrap()];
    let builder = Service::builder()
        .name(NAME)
        .registry(world.registry.clone())
        .transport(world.transport.clone())
        .broker(broker.clone());
    let sidecar = Arc::new(Sidecar::new(builder, options.clone()).unwrap());
    let listener = micro_sidecar::listen("127.0.0.1:0", &options)
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let sidecar = sidecar.clone();
        async move {
            sidecar
                .run(listener, async {
                    let _ = stopped.await;
                })
                .await
        }
    });

    let client = Client::builder()
        .registry(world.registry.clone())
        .transport(world.transport.clone())
        .broker(broker.clone())
        .build()
        .unwrap();
    wait_nodes(&client, 1).await;

    // Rust -> Python: JSON in and out, metadata as headers, the deadline told.
    let options = CallOptions::new()
        .metadata("tenant", "acme")
        .timeout(Duration::from_secs(20));
    let hello = call(&client, "Greeter.Hello", json!({"name": "Rust"}), &options)
        .await
        .unwrap();
    assert_eq!(hello["greeting"], "Hello Rust from Python", "{hello}");
    assert_eq!(hello["tenant"], "acme", "{hello}");
    assert!(
        hello["timeout"].as_str().unwrap().ends_with("ms"),
        "{hello}"
    );

    // Described with the schemas of the app's OpenAPI document.
    let described = Describer::new(client.clone()).describe(NAME).await.unwrap();
    let endpoint = described[0]
        .endpoints
        .iter()
        .find(|e| e.name == "Greeter.Hello")
        .unwrap();
    assert_eq!(endpoint.docs, "Says hello from Python.");
    let schema: Value = serde_json::from_str(&endpoint.request_schema).unwrap();
    assert_eq!(schema["properties"]["name"]["type"], "string", "{schema}");

    // The app's errors, its slowness, and a content type it cannot take.
    let none = CallOptions::new();
    let err = call(&client, "Greeter.Fail", json!({}), &none)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.detail(), err.id()),
        (409, "name taken", "py.greeter")
    );
    let err = call(&client, "Greeter.Teapot", json!({}), &none)
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.detail()), (418, "short and stout"));
    let short = CallOptions::new().timeout(Duration::from_millis(500));
    let err = call(&client, "Greeter.Slow", json!({}), &short)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    let err = client
        .call_raw(
            NAME,
            "Greeter.Hello",
            ContentType::Protobuf,
            Bytes::new(),
            &none,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 415, "{err}");
    assert!(err.detail().contains("JSON only"), "{err}");

    // Python -> Rust through the sidecar's /rpc, and an unknown service.
    let relayed = call(
        &client,
        "Greeter.Relay",
        json!({"name": "Py", "via": base}),
        &none,
    )
    .await
    .unwrap();
    assert_eq!(relayed["relayed"], json!({"greeting": "Hello Py"}));
    let err = call(
        &client,
        "Greeter.Relay",
        json!({"name": "Py", "via": base, "service": "no.such"}),
        &none,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), 404, "{err}");

    // Events: Rust -> Python, and Python -> Rust through /broker/{topic}.
    client
        .publish_json("py.in", &json!({"n": 1}))
        .await
        .unwrap();
    let line = app.wait_line("event ", LIMIT);
    assert_eq!(line, r#"event py.in {"n": 1}"#);
    let published = call(
        &client,
        "Greeter.Publish",
        json!({"topic": "py.out", "event": {"from": "python"}, "via": base}),
        &none,
    )
    .await
    .unwrap();
    assert_eq!(published, json!({"topic": "py.out", "published": true}));
    let event = tokio::time::timeout(LIMIT, from_app.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event, json!({"from": "python"}));

    // The HTTP side: bad input is a clear error, and it keeps serving.
    let (status, body) = http(&base, "POST", "/rpc", b"{not json").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(400)), "{body}");
    let (status, body) = http(&base, "POST", "/no.such/Greeter.Hello", b"{}").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(
        &base,
        "POST",
        &format!("/{SERVICE}/Greeter.Hello"),
        br#"{"name":"Direct"}"#,
    )
    .await;
    assert_eq!((status, body), (200, json!({"greeting": "Hello Direct"})));
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(100 * 1024));
    let (status, body) = http(
        &base,
        "POST",
        &format!("/{SERVICE}/Greeter.Hello"),
        big.as_bytes(),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (413, Some(413)), "{body}");
    let (status, body) = http(&base, "POST", "/broker/py.out", big.as_bytes()).await;
    assert_eq!((status, body["code"].as_u64()), (413, Some(413)), "{body}");
    let (status, body) = http(&base, "POST", "/broker/py.out", b"nope").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(400)), "{body}");
    let (status, body) = http(&base, "GET", "/registry/no.such", b"").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(&base, "GET", &format!("/registry/{NAME}"), b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["nodes"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = http(&base, "GET", "/registry", b"").await;
    assert!(
        status == 200
            && body
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == SERVICE),
        "{body}"
    );
    let (_, health) = http(&base, "GET", "/health", b"").await;
    assert_eq!(health, json!({"app": "up", "registered": true}));

    // The app dies: the node leaves the registry; calls find no node.
    app.signal("KILL");
    app.wait_exit(LIMIT);
    wait_nodes(&client, 0).await;
    let (_, health) = http(&base, "GET", "/health", b"").await;
    assert_eq!(health, json!({"app": "down", "registered": false}));
    let err = call(&client, "Greeter.Hello", json!({"name": "x"}), &none)
        .await
        .unwrap_err();
    assert!(err.code() == 404 || err.code() == 503, "{err}");

    // It comes back on its port: registered again, and called.
    let (_app, _) = start_app(port);
    wait_nodes(&client, 1).await;
    let hello = call(&client, "Greeter.Hello", json!({"name": "Again"}), &none)
        .await
        .unwrap();
    assert_eq!(hello["greeting"], "Hello Again from Python");

    let _ = stop.send(());
    tokio::time::timeout(LIMIT, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    wait_nodes(&client, 0).await;
}

#[tokio::test]
async fn an_unreachable_app_is_503_and_its_health_says_down() {
    // A port nothing listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let world = World::new();
    let endpoints = vec![micro_runtime::endpoint::DynamicEndpoint::new(
        "Greeter.Hello",
    )];
    let options = SidecarOptions::new(format!("http://{closed}"), endpoints);
    let builder = Service::builder()
        .name("py.gone")
        .registry(world.registry.clone())
        .transport(world.transport.clone())
        .broker(Arc::new(MemoryBroker::new()));
    let sidecar = Sidecar::new(builder, options).unwrap();
    // Registered by hand: the health check would not register it.
    sidecar.service().start().await.unwrap();
    let err = world
        .client()
        .call_raw(
            "py.gone",
            "Greeter.Hello",
            ContentType::Json,
            Bytes::from_static(b"{}"),
            &CallOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(err.detail().contains("unreachable"), "{err}");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watching = sidecar.watch_health(stopped);
    let stopping = async {
        let _ = stop.send(true);
    };
    tokio::join!(watching, stopping);
    assert!(!sidecar.app_up() && !sidecar.registered());
    let _ = sidecar.service().stop().await;
}
