//! Prometheus series of a service, its client and its broker (feature
//! `metrics`): each listed series present after real calls, publishes,
//! retries and ejections, with error codes labelled right; and the
//! `/metrics` endpoint over HTTP.
#![cfg(feature = "metrics")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{EchoClient, Kind, Msg, World, within_10s};
use http_body_util::{BodyExt, Empty};
use micro_runtime::broker::{Broker, MemoryBroker, Subscriber};
use micro_runtime::metrics::{CONTENT_TYPE, Metrics, MetricsServer};
use micro_runtime::{ClientOptions, Context, Error};

/// The value of the sample `series` (name and labels, as printed), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

/// The value of `series`, failing with the whole text when it is missing.
fn value(metrics: &Metrics, series: &str) -> f64 {
    let text = metrics.encode();
    sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// Waits until `series` reaches `at_least` (subscribers settle after the
/// handler returns).
async fn reaches(metrics: &Metrics, series: &str, at_least: f64) {
    within_10s(series, async {
        while sample(&metrics.encode(), series).is_none_or(|v| v < at_least) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_calls_are_counted_by_endpoint_and_code() {
    let mut world = World::new(Kind::Tcp);
    let server_metrics = Metrics::new();
    let service = world
        .builder("echo")
        .metrics(server_metrics.clone())
        .build()
        .unwrap();
    world.add_echo(service).await;
    let client_metrics = Metrics::new();
    let client = client_metrics.instrument(&world.client());
    let echo = EchoClient::new("echo", client);

    for _ in 0..3 {
        echo.say(Msg::text("hi")).await.unwrap();
    }
    for (code, times) in [(404, 2), (409, 1)] {
        for _ in 0..times {
            let msg = Msg {
                text: "no".into(),
                n: code,
            };
            assert_eq!(echo.fail(msg).await.unwrap_err().code(), code as u16);
        }
    }
    assert_eq!(echo.explode(Msg::text("x")).await.unwrap_err().code(), 500);

    let s = &server_metrics;
    let ok = r#"{service="echo",endpoint="Echo.Say",code="200"}"#;
    assert_eq!(value(s, &format!("micro_server_requests_total{ok}")), 3.0);
    let not_found = r#"{service="echo",endpoint="Echo.Fail",code="404"}"#;
    assert_eq!(
        value(s, &format!("micro_server_requests_total{not_found}")),
        2.0
    );
    let conflict = r#"{service="echo",endpoint="Echo.Fail",code="409"}"#;
    assert_eq!(
        value(s, &format!("micro_server_requests_total{conflict}")),
        1.0
    );
    let panicked = r#"{service="echo",endpoint="Echo.Explode",code="500"}"#;
    assert_eq!(
        value(s, &format!("micro_server_requests_total{panicked}")),
        1.0
    );
    let say = r#"{service="echo",endpoint="Echo.Say"}"#;
    assert_eq!(
        value(
            s,
            &format!("micro_server_request_duration_seconds_count{say}")
        ),
        3.0
    );
    assert_eq!(
        value(s, &format!("micro_server_requests_in_flight{say}")),
        0.0
    );

    let c = &client_metrics;
    assert_eq!(value(c, &format!("micro_client_calls_total{ok}")), 3.0);
    assert_eq!(
        value(c, &format!("micro_client_calls_total{not_found}")),
        2.0
    );
    assert_eq!(
        value(c, &format!("micro_client_calls_total{conflict}")),
        1.0
    );
    assert_eq!(
        value(c, &format!("micro_client_calls_total{panicked}")),
        1.0
    );
    assert_eq!(
        value(c, &format!("micro_client_call_duration_seconds_count{say}")),
        3.0
    );
    assert_eq!(value(c, &format!("micro_client_calls_in_flight{say}")), 0.0);
    assert!(value(c, "micro_client_pool_connections") >= 1.0);
    // The server's own series are not the client's.
    assert!(sample(&c.encode(), &format!("micro_server_requests_total{ok}")).is_none());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_ejected_nodes_are_counted() {
    let mut world = World::new(Kind::Tcp);
    for label in ["a", "b"] {
        let service = world.builder("flaky").build().unwrap();
        world.add_node(service, label, true).await;
    }
    let metrics = Metrics::new();
    let options = ClientOptions {
        retries: 1,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
        ..ClientOptions::default()
    };
    let client = metrics.instrument(&world.client_with(options, None));
    let flaky = EchoClient::new("flaky", client);
    // Every node fails with 503: each call is retried once, and the node
    // failing 5 times in a row first is ejected (half of two may be).
    let calls = 20;
    for _ in 0..calls {
        assert_eq!(flaky.flaky(Msg::text("x")).await.unwrap_err().code(), 503);
    }
    let labels = r#"{service="flaky",endpoint="Echo.Flaky"}"#;
    let failed = r#"{service="flaky",endpoint="Echo.Flaky",code="503"}"#;
    assert_eq!(
        value(&metrics, &format!("micro_client_calls_total{failed}")),
        calls as f64
    );
    assert!(value(&metrics, &format!("micro_client_retries_total{labels}")) >= 1.0);
    assert!(value(&metrics, r#"micro_client_ejections_total{service="flaky"}"#) >= 1.0);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_delivered_and_dead_lettered_events_are_counted_by_topic() {
    let mut world = World::new(Kind::Memory);
    let broker = Arc::new(MemoryBroker::new());
    let shared: Arc<dyn Broker> = broker.clone();
    let metrics = Metrics::new();
    // Refuses negative numbers (4xx: moved aside), fails on zero (5xx).
    let subscriber = Subscriber::new("orders", |_ctx: Context, msg: Msg| async move {
        match msg.n {
            n if n < 0 => Err(Error::bad_request("negative")),
            0 => Err(Error::internal("zero")),
            _ => Ok(()),
        }
    });
    let service = world
        .builder("shop")
        .broker(shared)
        .metrics(metrics.clone())
        .build()
        .unwrap();
    service.subscribe(subscriber).unwrap();
    service.start().await.unwrap();
    world.services.push(service.clone());

    let client = service.client();
    for n in [1, 2, 3, -1, -2] {
        client
            .publish(
                "orders",
                &Msg {
                    text: "o".into(),
                    n,
                },
            )
            .await
            .unwrap();
    }
    let published = r#"micro_broker_published_total{topic="orders",code="200"}"#;
    assert_eq!(value(&metrics, published), 5.0);
    reaches(
        &metrics,
        r#"micro_broker_delivered_total{topic="orders",code="200"}"#,
        3.0,
    )
    .await;
    reaches(
        &metrics,
        r#"micro_broker_delivered_total{topic="orders",code="400"}"#,
        2.0,
    )
    .await;
    let dead = r#"micro_broker_dead_lettered_total{topic="orders"}"#;
    assert_eq!(value(&metrics, dead), 2.0);
    assert_eq!(
        broker.dead_letters().len(),
        2,
        "the broker moved as many aside"
    );
    world.stop().await;
}

/// GET (or another method) `path` on `address`: status, content type, body.
async fn http(method: &str, address: &str, path: &str) -> (u16, String, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"))
        .body(Empty::new())
        .unwrap();
    let rsp = client.request(req).await.unwrap();
    let status = rsp.status().as_u16();
    let content_type = rsp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = rsp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_over_http_and_bad_requests_get_errors() {
    let metrics = Metrics::new();
    let server = MetricsServer::bind(metrics.clone(), "127.0.0.1:0", false)
        .await
        .unwrap();
    let address = server.local_address().to_string();
    let (status, content_type, body) = http("GET", &address, "/metrics").await;
    assert_eq!((status, content_type.as_str()), (200, CONTENT_TYPE));
    assert!(
        body.contains("# TYPE micro_client_pool_connections gauge"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");

    let (status, _, body) = http("GET", &address, "/nope").await;
    assert_eq!(status, 404);
    assert_eq!(Error::from_json(body.as_bytes()).code(), 404);
    let (status, _, body) = http("POST", &address, "/metrics").await;
    assert_eq!(status, 405);
    assert_eq!(Error::from_json(body.as_bytes()).code(), 405);
    // Still serving after the bad requests.
    assert_eq!(http("GET", &address, "/metrics").await.0, 200);
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(&address).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_metrics_address_is_refused_without_insecure() {
    let err = MetricsServer::bind(Metrics::new(), "0.0.0.0:0", false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.detail().contains("MICRO_METRICS_INSECURE"), "{err}");

    let world = World::new(Kind::Memory);
    let service = world
        .builder("open")
        .metrics_address("0.0.0.0:0")
        .build()
        .unwrap();
    let err = service.start().await.unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(
        service.address().await.is_none(),
        "the service did not start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_serves_its_metrics_from_start_to_stop() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut world = World::new(Kind::Memory);
    let service = world
        .builder("served")
        .metrics_address(address.clone())
        .build()
        .unwrap();
    world.add_echo(service.clone()).await;
    EchoClient::new("served", service.client())
        .say(Msg::text("hi"))
        .await
        .unwrap();
    let (status, _, body) = http("GET", &address, "/metrics").await;
    assert_eq!(status, 200);
    let series = r#"micro_server_requests_total{service="served",endpoint="Echo.Say",code="200"}"#;
    assert_eq!(sample(&body, series), Some(1.0), "{body}");
    world.stop().await;
    assert!(tokio::net::TcpStream::connect(&address).await.is_err());
}
