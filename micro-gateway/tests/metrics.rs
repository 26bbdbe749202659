//! `/metrics` of a real gateway on 127.0.0.1 (feature `metrics`): its
//! HTTP series by route and status, its client's calls by endpoint and
//! code, behind the token like every route but `/health`.
#![cfg(feature = "metrics")]

mod common;

use common::World;
use micro_gateway::GatewayOptions;
use micro_runtime::metrics::{CONTENT_TYPE, Metrics};

/// The value of the sample `series` (name and labels, as printed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn the_gateway_counts_http_requests_and_its_calls() {
    let world = World::new();
    let _services = world.services().await;
    let metrics = Metrics::new();
    let gateway = world.gateway(GatewayOptions::new().metrics(metrics)).await;
    for _ in 0..2 {
        let answer = gateway.post("/api/greeter/hello", r#"{"name":"A"}"#).await;
        assert_eq!(answer.status, 200);
    }
    gateway
        .post("/api/nobody/Nobody.Call", "{}")
        .await
        .error(404, 404);
    gateway.get("/no/such/route").await.error(404, 404);

    let answer = gateway.get("/metrics").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, CONTENT_TYPE);
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    let http = |labels: &str| sample(&text, &format!("micro_gateway_http_requests_total{labels}"));
    assert_eq!(
        http(r#"{method="POST",route="/api/{*path}",code="200"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        http(r#"{method="POST",route="/api/{*path}",code="404"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        http(r#"{method="GET",route="unmatched",code="404"}"#),
        Some(1.0),
        "{text}"
    );
    let latency =
        r#"micro_gateway_http_request_duration_seconds_count{method="POST",route="/api/{*path}"}"#;
    assert_eq!(sample(&text, latency), Some(3.0), "{text}");
    let calls = r#"micro_client_calls_total{service="com.example.srv.greeter",endpoint="Greeter.Hello",code="200"}"#;
    assert_eq!(sample(&text, calls), Some(2.0), "{text}");
    assert!(
        sample(&text, "micro_client_pool_connections").is_some(),
        "{text}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn metrics_need_the_token_when_there_is_one() {
    let world = World::new();
    let _services = world.services().await;
    let token = "s3cret-token-for-metrics-0123456789";
    let options = GatewayOptions::new()
        .auth_token(token)
        .metrics(Metrics::new());
    let gateway = world.gateway(options).await;
    gateway.get("/metrics").await.error(401, 401);
    let bearer = format!("Bearer {token}");
    let caller = gateway.caller();
    let answer = caller
        .send("GET", "/metrics", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(answer.status, 200);
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    let refused = r#"micro_gateway_http_requests_total{method="GET",route="/metrics",code="401"}"#;
    assert_eq!(sample(&text, refused), Some(1.0), "{text}");
    gateway.stop().await;
}
