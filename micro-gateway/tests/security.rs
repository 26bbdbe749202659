//! The bearer token, CORS, the cross-site check and gzip, through a real
//! gateway on 127.0.0.1 to real services (in-process, memory registry and
//! transport).

mod common;

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use common::World;
use http_body_util::{BodyExt, Full};
use hyper::HeaderMap;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use micro_gateway::GatewayOptions;
use serde_json::{Value, json};

const TOKEN: &str = "t0ken-for-tests";
const HELLO: &str = "/api/greeter/hello";

/// An answer with its headers.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts an error body with `code` and the status; returns the detail.
    #[track_caller]
    fn error(&self, code: u16) -> String {
        let body = self.json();
        assert_eq!(self.status, code, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        body["detail"].as_str().unwrap().to_owned()
    }
}

/// One request to `base` with `headers` and a JSON `body`.
async fn send(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let exchange = async {
        let response = http.request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer"))
}

#[tokio::test]
async fn the_token_is_wanted_everywhere_but_health() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new().auth_token(TOKEN)).await;
    let base = gateway.base.as_str();
    let hello = r#"{"name":"John"}"#;

    // Missing.
    let reply = send(base, "POST", HELLO, &[], hello).await;
    let detail = reply.error(401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert!(detail.contains("Bearer"), "{detail}");
    for path in ["/openapi.json", "/rpc", "/nowhere"] {
        let reply = send(base, "GET", path, &[], "").await;
        assert_eq!(reply.status, 401, "{path}");
    }
    // Wrong: another token, a prefix of it, another scheme.
    for value in [
        "Bearer wrong",
        "Bearer t0ken-for-test",
        "Bearer t0ken-for-tests2",
        "Basic dDBrZW4=",
    ] {
        let reply = send(base, "POST", HELLO, &[("authorization", value)], hello).await;
        let detail = reply.error(401);
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer"),
            "{value}"
        );
        assert!(!detail.contains(TOKEN), "{detail}");
        assert!(!String::from_utf8_lossy(&reply.body).contains(TOKEN));
    }
    // Right, the scheme in any case.
    for scheme in ["Bearer", "bearer"] {
        let value = format!("{scheme} {TOKEN}");
        let reply = send(base, "POST", HELLO, &[("authorization", &value)], hello).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.json(), json!({"greeting": "Hello John"}));
    }
    // /health stays open.
    let reply = send(base, "GET", "/health", &[], "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "ok"}));
    gateway.stop().await;
}

#[tokio::test]
async fn the_token_does_not_reach_the_services() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world
        .gateway(
            GatewayOptions::new()
                .auth_token(TOKEN)
                .forward_credentials(true),
        )
        .await;
    let bearer = format!("Bearer {TOKEN}");
    let reply = send(
        &gateway.base,
        "POST",
        "/api/echo/Echo.Seen",
        &[("authorization", &bearer), ("x-request-id", "7")],
        "{}",
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let seen = reply.json();
    assert_eq!(seen["metadata"]["x-request-id"], "7", "{seen}");
    assert!(seen["metadata"].get("authorization").is_none(), "{seen}");
    gateway.stop().await;
}

#[tokio::test]
async fn web_pages_of_other_origins_are_refused() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let base = gateway.base.as_str();
    let hello = r#"{"name":"John"}"#;
    // curl and scripts send no Origin.
    let reply = send(base, "POST", HELLO, &[], hello).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("access-control-allow-origin").is_none());
    // A web page elsewhere.
    let evil = [("origin", "https://evil.example")];
    let detail = send(base, "POST", HELLO, &evil, hello).await.error(403);
    assert!(detail.contains("https://evil.example"), "{detail}");
    let reply = send(base, "GET", "/api/greeter/hello?name=x", &evil, "").await;
    assert_eq!(reply.status, 403);
    let reply = send(base, "POST", "/rpc", &evil, "{}").await;
    assert_eq!(reply.status, 403);
    // An <img> or a link on another site's page: no Origin, Fetch Metadata.
    let image = [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "no-cors"),
    ];
    let detail = send(base, "GET", "/api/greeter/hello?name=x", &image, "")
        .await
        .error(403);
    assert!(detail.contains("another site"), "{detail}");
    // The user typing the URL.
    let typed = [("sec-fetch-site", "none"), ("sec-fetch-mode", "navigate")];
    let reply = send(base, "GET", "/api/greeter/hello?name=x", &typed, "").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // The gateway's own page, reached by its loopback address.
    let host = base.trim_start_matches("http://");
    let own = [("origin", base), ("host", host)];
    let reply = send(base, "POST", HELLO, &own, hello).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    gateway.stop().await;
}

#[tokio::test]
async fn cors_for_trusted_origins_only() {
    let app = "https://app.example.com";
    let world = World::new();
    let _services = world.services().await;
    let gateway = world
        .gateway(
            GatewayOptions::new()
                .auth_token(TOKEN)
                .cors_origins([app, "http://localhost:3000"]),
        )
        .await;
    let base = gateway.base.as_str();
    // A preflight, answered before the token is asked for.
    let preflight = [
        ("origin", app),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization, content-type",
        ),
    ];
    let reply = send(base, "OPTIONS", HELLO, &preflight, "").await;
    assert!(reply.status < 300, "{}", reply.status);
    assert_eq!(reply.header("access-control-allow-origin"), Some(app));
    let methods = reply.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = reply
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    // The call itself carries the header the browser needs to read it.
    let bearer = format!("Bearer {TOKEN}");
    let reply = send(
        base,
        "POST",
        HELLO,
        &[("origin", app), ("authorization", &bearer)],
        r#"{"name":"Web"}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("access-control-allow-origin"), Some(app));
    assert_eq!(reply.json(), json!({"greeting": "Hello Web"}));
    // A 401 is readable by the trusted page too.
    let reply = send(base, "POST", HELLO, &[("origin", app)], "{}").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("access-control-allow-origin"), Some(app));
    // Another origin: no CORS headers on its preflight, 403 on its call.
    let other = "https://evil.example";
    let preflight = [("origin", other), ("access-control-request-method", "POST")];
    let reply = send(base, "OPTIONS", HELLO, &preflight, "").await;
    assert!(reply.header("access-control-allow-origin").is_none());
    let reply = send(
        base,
        "POST",
        HELLO,
        &[("origin", other), ("authorization", &bearer)],
        "{}",
    )
    .await;
    reply.error(403);
    assert!(reply.header("access-control-allow-origin").is_none());
    gateway.stop().await;
}

#[tokio::test]
async fn responses_are_gzipped_when_accepted() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;
    let base = gateway.base.as_str();
    let name = "x".repeat(2000);
    let body = json!({ "name": name }).to_string();
    let gzip = [("accept-encoding", "gzip")];
    let reply = send(base, "POST", HELLO, &gzip, &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert!(reply.body.len() < 1000, "{} bytes", reply.body.len());
    let mut text = String::new();
    flate2::read::GzDecoder::new(&reply.body[..])
        .read_to_string(&mut text)
        .unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["greeting"], format!("Hello {name}"));
    // The OpenAPI document too.
    let reply = send(base, "GET", "/openapi.json", &gzip, "").await;
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    // Streams stay plain, so that each message goes out as it comes.
    let name = "y".repeat(200);
    let body = json!({ "name": name }).to_string();
    for accept in ["text/event-stream", "application/x-ndjson"] {
        let headers = [("accept-encoding", "gzip"), ("accept", accept)];
        let reply = send(base, "POST", "/api/greeter/hello-stream", &headers, &body).await;
        assert_eq!(reply.status, 200, "{accept}: {:?}", reply.body);
        assert_eq!(reply.header("content-type"), Some(accept));
        assert!(reply.header("content-encoding").is_none(), "{accept}");
        let text = String::from_utf8_lossy(&reply.body);
        assert!(
            text.contains(&format!("Hello {name} #3")),
            "{accept}: {text}"
        );
    }
    // Not without Accept-Encoding.
    let reply = send(base, "POST", HELLO, &[], &body).await;
    assert!(reply.header("content-encoding").is_none());
    assert_eq!(reply.json()["greeting"], format!("Hello {name}"));
    gateway.stop().await;
}

#[tokio::test]
async fn without_a_token_only_fixed_hosts_are_served() {
    let world = World::new();
    let _services = world.services().await;
    let hello = r#"{"name":"John"}"#;
    // DNS rebinding: a page of evil.example re-pointed at the gateway.
    let rebound = [("host", "evil.example:8080")];
    let plain = world.gateway(GatewayOptions::new()).await;
    let detail = send(&plain.base, "POST", HELLO, &rebound, hello)
        .await
        .error(403);
    assert!(detail.contains("evil.example"), "{detail}");
    for host in ["localhost:8080", "127.0.0.1", "[::1]:1"] {
        let reply = send(&plain.base, "POST", HELLO, &[("host", host)], hello).await;
        assert_eq!(reply.status, 200, "{host}: {:?}", reply.body);
    }
    // A token (which a web page does not have) or --insecure: any name.
    let insecure = world.gateway(GatewayOptions::new().insecure(true)).await;
    let reply = send(&insecure.base, "POST", HELLO, &rebound, hello).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let token = world.gateway(GatewayOptions::new().auth_token(TOKEN)).await;
    let bearer = format!("Bearer {TOKEN}");
    let reply = send(
        &token.base,
        "POST",
        HELLO,
        &[("host", "api.example.com"), ("authorization", &bearer)],
        hello,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    plain.stop().await;
    insecure.stop().await;
    token.stop().await;
}
