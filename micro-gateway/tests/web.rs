//! Web apps through the gateway's reverse proxy at `/web/{service}/...`:
//! a real axum app on 127.0.0.1 registered in the memory registry as a
//! web node, called through a real gateway.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message as AppMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::World;
use examples::Greeter;
use futures_util::{SinkExt, StreamExt};
use micro_gateway::GatewayOptions;
use micro_runtime::Service;
use micro_runtime::registry::{self, Node};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SHOP: &str = "com.example.web.shop";
const BLOG: &str = "com.example.web.blog";

/// Answers what it got: method, path, query, headers and body.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    let seen = json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    ([("content-type", "application/json")], seen.to_string()).into_response()
}

/// Sends every frame back.
async fn echo_socket(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(frame)) = socket.recv().await {
            let back = match frame {
                AppMessage::Text(_) | AppMessage::Binary(_) => frame,
                AppMessage::Close(_) => break,
                _ => continue,
            };
            if socket.send(back).await.is_err() {
                break;
            }
        }
    })
}

/// A web app on 127.0.0.1:0: WebSocket echo at `/ws` and `/app/ws`, a
/// minute's wait at `/slow`, everything else echoed as JSON.
async fn web_app() -> SocketAddr {
    let app = Router::new()
        .route("/ws", get(echo_socket))
        .route("/app/ws", get(echo_socket))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// Registers `name` with one node at `address` with `web` metadata.
async fn register_web(world: &World, name: &str, address: &str) {
    let service = registry::Service {
        name: name.to_owned(),
        version: "1.0.0".to_owned(),
        nodes: vec![Node {
            id: format!("{name}-1"),
            address: address.to_owned(),
            metadata: [("web".to_owned(), "true".to_owned())].into(),
        }],
        ..Default::default()
    };
    world
        .registry
        .register(&service, Duration::from_secs(60))
        .await
        .unwrap();
}

/// The greeter and its twins; the shop (a web app registered with
/// `web=true` at its own address); the blog (a micro service whose node
/// says `web=http://.../app`); a gateway.
async fn setup() -> (World, Vec<Service>, common::Gateway, SocketAddr) {
    let world = World::new();
    let mut services = world.services().await;
    let app = web_app().await;
    register_web(&world, SHOP, &app.to_string()).await;
    let blog = Service::builder()
        .name(BLOG)
        .version("1.0.0")
        .node_metadata("web", format!("http://{app}/app/"))
        .registry(world.registry.clone())
        .transport(world.transport.clone())
        .build()
        .unwrap();
    blog.handle(Greeter::default()).unwrap();
    blog.start().await.unwrap();
    services.push(blog);
    let gateway = world.gateway(GatewayOptions::new()).await;
    (world, services, gateway, app)
}

#[tokio::test]
async fn web_apps_are_listed() {
    let (_world, _services, gateway, _) = setup().await;
    let apps = gateway.get("/web").await;
    assert_eq!(apps.status, 200);
    assert_eq!(apps.content_type, "application/json");
    assert_eq!(
        apps.json(),
        json!([
            {"service": BLOG, "path": format!("/web/{BLOG}/"), "nodes": 1},
            {"service": SHOP, "path": format!("/web/{SHOP}/"), "nodes": 1},
        ])
    );
    gateway.stop().await;
}

#[tokio::test]
async fn requests_reach_the_app_below_the_prefix() {
    let (_world, _services, gateway, app) = setup().await;
    let answer = gateway
        .send(
            "GET",
            "/web/shop/cart/items?x=1&y=two%20words",
            &[
                ("connection", "x-private"),
                ("x-private", "hop only"),
                ("x-forwarded-for", "6.6.6.6"),
                ("x-custom", "kept"),
                ("cookie", "session=abc"),
            ],
            "",
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = answer.json();
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["path"], "/cart/items");
    assert_eq!(seen["query"], "x=1&y=two%20words");
    let headers = &seen["headers"];
    assert_eq!(headers["host"], app.to_string(), "{seen}");
    assert_eq!(headers["x-custom"], "kept");
    assert_eq!(headers["cookie"], "session=abc");
    assert_eq!(headers["x-private"], Value::Null, "{seen}");
    // The client's own X-Forwarded-For is not trusted: replaced.
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-prefix"], "/web/shop");
    let gateway_host = gateway.base.strip_prefix("http://").unwrap();
    assert_eq!(headers["x-forwarded-host"], gateway_host);

    // A body, streamed through as it is.
    let body = "line\n".repeat(4000);
    let answer = gateway
        .send("POST", &format!("/web/{SHOP}/orders"), &[], body.clone())
        .await;
    let seen = answer.json();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/orders");
    assert_eq!(seen["body"], body);

    // The app's root, and its base path when the node names one.
    assert_eq!(gateway.get("/web/shop/").await.json()["path"], "/");
    let blog = gateway.get("/web/blog/posts/1").await.json();
    assert_eq!(blog["path"], "/app/posts/1");

    // Without the slash, a GET is sent to the app's root, query kept.
    let redirect = gateway.get("/web/shop?page=2").await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.headers["location"], "shop/?page=2");
    gateway.stop().await;
}

#[tokio::test]
async fn websockets_pass_through() {
    let (_world, _services, gateway, _) = setup().await;
    for path in ["/web/shop/ws", "/web/blog/ws"] {
        let mut socket = gateway.websocket(path).await;
        for text in ["hello", "again"] {
            socket.send(Message::text(text)).await.unwrap();
            let back = tokio::time::timeout(Duration::from_secs(20), socket.next())
                .await
                .expect("an echo")
                .unwrap()
                .unwrap();
            assert_eq!(back, Message::text(text), "{path}");
        }
        socket.send(Message::binary(vec![0u8, 1, 2])).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("an echo")
            .unwrap()
            .unwrap();
        assert_eq!(back, Message::binary(vec![0u8, 1, 2]));
        socket.close(None).await.unwrap();
    }
    // Calls still work beside the tunnels.
    let answer = gateway.post("/api/greeter/hello", r#"{"name":"x"}"#).await;
    assert_eq!(answer.json()["greeting"], "Hello x");
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_and_dead_web_apps_answer_json_errors() {
    let (world, _services, gateway, _) = setup().await;
    let detail = gateway.get("/web/nothing/").await.error(404, 404);
    assert!(detail.contains("\"nothing\""), "{detail}");
    // A service, but no web app.
    let detail = gateway.get("/web/greeter/").await.error(404, 404);
    assert!(detail.contains("serves no web app"), "{detail}");
    assert!(detail.contains("web=true"), "{detail}");
    assert_eq!(gateway.get("/web/").await.status, 200);
    let detail = gateway.get("/web//x").await.error(404, 404);
    assert!(detail.contains("GET /web"), "{detail}");

    // A node registered at an address where nothing listens.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    register_web(&world, "com.example.web.dead", &closed.to_string()).await;
    let answer = gateway.get("/web/dead/page").await;
    let detail = answer.error(502, 502);
    assert!(detail.contains("cannot be reached"), "{detail}");
    assert!(detail.contains("com.example.web.dead"), "{detail}");
    assert!(detail.contains(&closed.to_string()), "{detail}");

    // The gateway keeps serving, apps and calls.
    assert_eq!(gateway.get("/web/shop/ok").await.json()["path"], "/ok");
    let answer = gateway.post("/api/greeter/hello", r#"{"name":"x"}"#).await;
    assert_eq!(answer.json()["greeting"], "Hello x");
    gateway.stop().await;
}

#[tokio::test]
async fn an_app_that_does_not_answer_in_time_is_504() {
    let (world, _services, gateway, _) = setup().await;
    let short = world
        .gateway(GatewayOptions::new().timeout(Duration::from_millis(200)))
        .await;
    let detail = short.get("/web/shop/slow").await.error(504, 408);
    assert!(detail.contains("no answer within"), "{detail}");
    assert_eq!(short.get("/web/shop/fast").await.json()["path"], "/fast");
    short.stop().await;
    gateway.stop().await;
}
