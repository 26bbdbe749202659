//! Every route form through a real gateway on 127.0.0.1 to real services
//! (in-process, memory registry and transport).

mod common;

use common::{ECHO_SERVICE, World};
use examples::{Greeter, SERVICE};
use micro_gateway::GatewayOptions;
use serde_json::{Value, json};

#[tokio::test]
async fn exact_and_short_paths_reach_the_greeter() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let hello = json!({"greeting": "Hello John"});
    for path in [
        "/api/com.example.srv.greeter/Greeter.Hello",
        "/api/greeter/Greeter.Hello",
        "/api/greeter/hello",
        "/api/greeter/greeter/hello",
        "/api/v1/greeter/hello",
        "/api/com/example/srv/greeter/greeter/hello",
    ] {
        let answer = gateway.post(path, r#"{"name":"John"}"#).await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
        assert_eq!(answer.content_type, "application/json", "{path}");
        assert_eq!(answer.json(), hello, "{path}");
    }
    // An empty body is the empty request.
    let answer = gateway.post("/api/greeter/hello", "").await;
    assert_eq!(answer.json(), json!({"greeting": "Hello "}));
    gateway.stop().await;
}

#[tokio::test]
async fn a_namespace_picks_among_services_with_the_same_short_name() {
    let world = World::new();
    let _services = world.services().await;
    let _other = world
        .service("org.other.greeter", |s| {
            s.handle(Greeter::default()).unwrap()
        })
        .await;
    let plain = world.gateway(GatewayOptions::new()).await;
    let detail = plain.post("/api/greeter/hello", "{}").await.error(404, 404);
    assert!(detail.contains("ambiguous"), "{detail}");
    assert!(detail.contains("org.other.greeter"), "{detail}");
    let gateway = world
        .gateway(GatewayOptions::new().namespace("com.example.srv"))
        .await;
    let answer = gateway.post("/api/greeter/hello", r#"{"name":"A"}"#).await;
    assert_eq!(answer.json(), json!({"greeting": "Hello A"}));
    plain.stop().await;
    gateway.stop().await;
}

#[tokio::test]
async fn rpc_takes_service_endpoint_request_and_address() {
    let world = World::new();
    let services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let hello = json!({"greeting": "Hello Rpc"});
    for body in [
        json!({"service": SERVICE, "endpoint": "Greeter.Hello", "request": {"name": "Rpc"}}),
        json!({"service": "greeter", "method": "Greeter.Hello", "request": "{\"name\":\"Rpc\"}"}),
    ] {
        let answer = gateway.post("/rpc", &body.to_string()).await;
        assert_eq!(answer.status, 200, "{body}: {:?}", answer.body);
        assert_eq!(answer.json(), hello, "{body}");
    }
    let nodes = world.client().nodes(SERVICE).await.unwrap();
    let address = nodes[0].address.to_string();
    let body = json!({
        "service": SERVICE, "endpoint": "Greeter.Hello",
        "request": {"name": "Rpc"}, "address": address,
    });
    let answer = gateway.post("/rpc", &body.to_string()).await;
    assert_eq!(answer.json(), hello, "{address}");

    let detail = gateway
        .post("/rpc", r#"{"endpoint": "Greeter.Hello"}"#)
        .await
        .error(400, 400);
    assert!(detail.contains("missing field `service`"), "{detail}");
    drop(services);
    gateway.stop().await;
}

#[tokio::test]
async fn get_builds_the_request_from_the_query() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let answer = gateway.get("/api/greeter/hello?name=John").await;
    assert_eq!(answer.json(), json!({"greeting": "Hello John"}));
    // Nested and typed from the schema: the Mirror echoes what it got.
    let answer = gateway
        .get("/api/greeter/mirror/echo?displayName=n&small=3&count=7&done=true&main.id=c&tags=a&tags=b&ratio=0.5")
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let thing = answer.json();
    assert_eq!(thing["displayName"], "n", "{thing}");
    assert_eq!(thing["small"], 3, "{thing}");
    assert_eq!(thing["count"], "7", "{thing}");
    assert_eq!(thing["done"], true, "{thing}");
    assert_eq!(thing["ratio"], 0.5, "{thing}");
    assert_eq!(thing["main"]["id"], "c", "{thing}");
    assert_eq!(thing["tags"], json!(["a", "b"]), "{thing}");
    // Without a query, a GET's body is the request.
    let answer = gateway
        .send("GET", "/api/greeter/hello", &[], r#"{"name":"Body"}"#)
        .await;
    assert_eq!(answer.json(), json!({"greeting": "Hello Body"}));
    gateway.stop().await;
}

#[tokio::test]
async fn headers_become_metadata_and_set_the_deadline() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let path = format!("/api/{ECHO_SERVICE}/Echo.Seen");
    let answer = gateway
        .send(
            "POST",
            &path,
            &[
                ("x-request-id", "42"),
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                // A bearer token is the services' and passes; other
                // credentials are the gateway origin's.
                ("authorization", "Basic dTpw"),
                ("cookie", "session=1"),
                ("connection", "x-hop"),
                ("x-hop", "1"),
                ("timeout", "3s"),
            ],
            "{}",
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = answer.json();
    let metadata = &seen["metadata"];
    assert_eq!(metadata["x-request-id"], "42", "{seen}");
    assert!(metadata["traceparent"].is_string(), "{seen}");
    for dropped in [
        "authorization",
        "cookie",
        "x-hop",
        "connection",
        "timeout",
        "host",
    ] {
        assert!(metadata.get(dropped).is_none(), "{dropped}: {seen}");
    }
    let left = seen["deadline_ms"].as_u64().expect("a deadline");
    assert!(left <= 3000, "{seen}");

    // Credentials pass when configured; the default deadline applies.
    let trusting = world
        .gateway(GatewayOptions::new().forward_credentials(true))
        .await;
    let answer = trusting
        .send("POST", &path, &[("authorization", "Basic dTpw")], "{}")
        .await;
    let seen = answer.json();
    assert_eq!(seen["metadata"]["authorization"], "Basic dTpw", "{seen}");
    let left = seen["deadline_ms"].as_u64().expect("a deadline");
    assert!(left > 3000 && left <= 30_000, "{seen}");
    trusting.stop().await;
    gateway.stop().await;
}

#[tokio::test]
async fn health_and_a_service_started_later() {
    let world = World::new();
    let gateway = world.gateway(GatewayOptions::new()).await;
    let answer = gateway.get("/health").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"status": "ok"}));
    gateway
        .post("/api/greeter/hello", "{}")
        .await
        .error(404, 404);
    let _service = world
        .service(SERVICE, |s| s.handle(Greeter::default()).unwrap())
        .await;
    let answer = gateway
        .post("/api/greeter/hello", r#"{"name":"Late"}"#)
        .await;
    assert_eq!(answer.json(), json!({"greeting": "Hello Late"}));
    let body: Value = gateway.get("/openapi.json").await.json();
    assert!(body["paths"]["/api/com.example.srv.greeter/Greeter.Hello"].is_object());
    gateway.stop().await;
}
