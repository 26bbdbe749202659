//! Every error status the gateway answers, each with the runtime's
//! `{id, code, detail, status}` body.

mod common;

use common::{ECHO_SERVICE, SLOW_SERVICE, World};
use examples::{Greeter, SERVICE};
use micro_gateway::GatewayOptions;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_saying_where() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let answer = gateway.post("/api/greeter/hello", r#"{"name": }"#).await;
    let detail = answer.error(400, 400);
    assert!(detail.contains("not valid JSON"), "{detail}");
    assert!(detail.contains("line 1 column 10"), "{detail}");
    assert_eq!(answer.json()["id"], "micro.gateway");
    let detail = gateway
        .post("/api/greeter/hello", "[1]")
        .await
        .error(400, 400);
    assert!(detail.contains("JSON object"), "{detail}");
    let detail = gateway.post("/rpc", "{").await.error(400, 400);
    assert!(detail.contains("/rpc body"), "{detail}");
    // A field of the wrong type: the service says so.
    let answer = gateway.post("/api/greeter/hello", r#"{"name": 5}"#).await;
    let detail = answer.error(400, 400);
    assert_eq!(answer.json()["id"], SERVICE, "{detail}");
    let detail = gateway
        .send("POST", "/api/greeter/hello", &[("timeout", "soon")], "{}")
        .await
        .error(400, 400);
    assert!(detail.contains("timeout"), "{detail}");
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_names_are_404_naming_what_was_looked_for() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world
        .gateway(GatewayOptions::new().namespace("com.example.srv"))
        .await;
    let detail = gateway.post("/api/nope/hello", "{}").await.error(404, 404);
    assert!(detail.contains("\"com.example.srv.nope\""), "{detail}");
    let detail = gateway.post("/api/greeter/bye", "{}").await.error(404, 404);
    assert!(detail.contains("\"Greeter.Bye\""), "{detail}");
    assert!(detail.contains("\"Greeter.Hello\""), "{detail}");
    let detail = gateway.post("/api/greeter", "{}").await.error(404, 404);
    assert!(detail.contains("names no endpoint"), "{detail}");
    let detail = gateway.get("/nowhere").await.error(404, 404);
    assert!(detail.contains("/nowhere"), "{detail}");
    let body = json!({"service": "nope", "endpoint": "Greeter.Hello"}).to_string();
    gateway.post("/rpc", &body).await.error(404, 404);
    gateway.stop().await;
}

#[tokio::test]
async fn debug_endpoints_are_403_unless_allowed() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let detail = gateway
        .post("/api/greeter/Debug.Health", "{}")
        .await
        .error(403, 403);
    assert!(detail.contains("\"Debug.*\""), "{detail}");
    let body = json!({"service": SERVICE, "endpoint": "Debug.Describe"}).to_string();
    gateway.post("/rpc", &body).await.error(403, 403);
    let open = world
        .gateway(GatewayOptions::new().deny(["Greeter.*"]))
        .await;
    let answer = open.post("/api/greeter/Debug.Health", "{}").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.json()["status"], "ok");
    open.post("/api/greeter/hello", "{}").await.error(403, 403);
    let only = world
        .gateway(GatewayOptions::new().allow(["*.echo/*"]))
        .await;
    let detail = only.post("/api/greeter/hello", "{}").await.error(403, 403);
    assert!(detail.contains("no allowed pattern"), "{detail}");
    gateway.stop().await;
    open.stop().await;
    only.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new().max_body(1024)).await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(2048));
    let detail = gateway
        .post("/api/greeter/hello", &big)
        .await
        .error(413, 413);
    assert!(detail.contains("limit"), "{detail}");
    gateway.post("/rpc", &big).await.error(413, 413);
    let small = format!(r#"{{"name":"{}"}}"#, "x".repeat(512));
    assert_eq!(gateway.post("/api/greeter/hello", &small).await.status, 200);
    gateway.stop().await;
}

#[tokio::test]
async fn a_deadline_that_passes_is_504() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    for header in ["timeout", "x-micro-timeout"] {
        let answer = gateway
            .send("POST", "/api/slow/hello", &[(header, "50ms")], "{}")
            .await;
        answer.error(504, 408);
    }
    let answer = gateway
        .send("POST", "/api/slow/hello", &[("grpc-timeout", "50m")], "{}")
        .await;
    answer.error(504, 408);
    let short = world
        .gateway(GatewayOptions::new().timeout(std::time::Duration::from_millis(50)))
        .await;
    let path = format!("/api/{SLOW_SERVICE}/Greeter.Hello");
    short.post(&path, "{}").await.error(504, 408);
    gateway.stop().await;
    short.stop().await;
}

#[tokio::test]
async fn service_errors_keep_their_code_and_odd_codes_are_500() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let path = format!("/api/{ECHO_SERVICE}/Echo.Fail");
    for (code, status) in [
        (400, 400),
        (401, 401),
        (409, 409),
        (429, 429),
        (500, 500),
        (503, 503),
        (302, 500),
        (700, 500),
    ] {
        let answer = gateway
            .post(&path, &json!({"code": code}).to_string())
            .await;
        let detail = answer.error(status, code);
        assert_eq!(detail, "failing as asked");
        assert_eq!(answer.json()["id"], ECHO_SERVICE);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn streaming_endpoints_through_rpc_are_501() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let detail = gateway
        .post(
            "/rpc",
            r#"{"service":"greeter","endpoint":"Greeter.HelloStream","request":{}}"#,
        )
        .await
        .error(501, 501);
    assert!(
        detail.contains("/api/com.example.srv.greeter/Greeter.HelloStream"),
        "{detail}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_service_whose_nodes_left_is_503() {
    let world = World::new();
    let gone = world
        .service("com.example.srv.gone", |s| {
            s.handle(Greeter::default()).unwrap()
        })
        .await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    assert_eq!(gateway.post("/api/gone/hello", "{}").await.status, 200);
    gone.stop().await.unwrap();
    // The registry tells the gateway by its watch; the first answers may
    // still try the node. Bounded: 200 tries.
    let mut last = None;
    for _ in 0..200 {
        let answer = gateway.post("/api/gone/hello", "{}").await;
        let detail = answer.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if answer.status == 503 && detail.contains("no running nodes") {
            answer.error(503, 503);
            gateway.stop().await;
            return;
        }
        assert!(answer.status == 503 || answer.status == 200, "{answer:?}");
        last = Some(answer);
        tokio::task::yield_now().await;
    }
    panic!("still not 503 after the service left: {last:?}");
}
