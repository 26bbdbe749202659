//! The web dashboard over HTTP (its browser behaviour is tested in real
//! Chromium by micro-cli's `dashboard_browser`): pages, its API's errors,
//! the sign-in cookie, and the guards it shares with the gateway; a real
//! gateway on 127.0.0.1 and real services (in-process, memory registry).

mod common;

use bytes::Bytes;
use common::World;
use examples::SERVICE;
use micro_gateway::GatewayOptions;

const TOKEN: &str = "dash-t0ken";
const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

fn text(answer: &common::Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

#[tokio::test]
async fn pages_and_the_services_api() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new()).await;

    let list = gateway.send("GET", "/", &[HTML], Bytes::new()).await;
    assert_eq!(list.status, 200, "{}", text(&list));
    assert!(list.content_type.starts_with("text/html"), "{list:?}");
    assert!(text(&list).contains(&format!("href=\"/services/{SERVICE}\"")));

    let page = gateway.get(&format!("/services/{SERVICE}")).await;
    assert_eq!(page.status, 200);
    let html = text(&page);
    assert!(html.contains("Greeter.HelloStream") && html.contains("Says hello to one person."));
    // The schemas travel as JSON that cannot close its script element.
    assert!(html.contains("id=\"service-data\">{\"service\":"), "{html}");

    let missing = gateway.get("/services/com.example.srv.nope").await;
    assert_eq!(missing.status, 404);
    assert!(text(&missing).contains("com.example.srv.nope"));

    let rows = gateway.get("/dashboard/api/services").await.json();
    let greeter = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == SERVICE)
        .unwrap_or_else(|| panic!("{rows}"));
    assert_eq!(greeter["nodes"], 1);
    assert_eq!(greeter["healthy"], 1);
    assert_eq!(
        greeter["endpoints"],
        4 + 1,
        "the greeter and Mirror: {greeter}"
    );

    let css = gateway.get("/dashboard/static/dashboard.css").await;
    assert_eq!(css.status, 200);
    assert!(css.content_type.starts_with("text/css"));
    let detail = gateway
        .get("/dashboard/static/nope.js")
        .await
        .error(404, 404);
    assert!(detail.contains("dashboard.js"), "{detail}");
    gateway.stop().await;
}

#[tokio::test]
async fn bad_events_requests_answer_with_a_code() {
    let world = World::new();
    let gateway = world.gateway(GatewayOptions::new()).await;
    let publish = "/dashboard/api/publish";
    let detail = gateway.post(publish, "{not json").await.error(400, 400);
    assert!(detail.contains("topic"), "{detail}");
    let detail = gateway
        .post(publish, r#"{"topic":" ","message":{}}"#)
        .await
        .error(400, 400);
    assert!(detail.contains("topic is empty"), "{detail}");
    let detail = gateway
        .post(
            publish,
            r#"{"topic":"t","message":{},"metadata":{"micro-id":"x"}}"#,
        )
        .await
        .error(400, 400);
    assert!(detail.contains("micro-"), "{detail}");
    // This world's client has no broker.
    let detail = gateway
        .post(publish, r#"{"topic":"t","message":{"a":1}}"#)
        .await
        .error(503, 503);
    assert!(detail.contains("no broker"), "{detail}");
    let detail = gateway
        .get("/dashboard/api/subscribe")
        .await
        .error(400, 400);
    assert!(detail.contains("topic is empty"), "{detail}");
    // Another site's page cannot publish through a gateway on this machine.
    let cross = gateway
        .send(
            "POST",
            publish,
            &[
                ("content-type", "application/json"),
                ("origin", "https://evil.example"),
            ],
            r#"{"topic":"t","message":{}}"#,
        )
        .await;
    cross.error(403, 403);
    gateway.stop().await;
}

#[tokio::test]
async fn a_browser_signs_in_with_a_cookie() {
    let world = World::new();
    let _services = world.services().await;
    let gateway = world.gateway(GatewayOptions::new().auth_token(TOKEN)).await;

    // A page load without the token goes to the sign-in page; a script's
    // request gets 401; the sign-in page and its files are open.
    let load = gateway
        .send("GET", "/services/x?a=1", &[HTML], Bytes::new())
        .await;
    assert_eq!(load.status, 303);
    assert_eq!(
        load.headers["location"],
        "/login?next=%2Fservices%2Fx%3Fa%3D1"
    );
    gateway.get("/dashboard/api/services").await.error(401, 401);
    assert_eq!(gateway.get("/login").await.status, 200);
    assert_eq!(
        gateway.get("/dashboard/static/dashboard.js").await.status,
        200
    );

    let form = ("content-type", "application/x-www-form-urlencoded");
    let wrong = gateway
        .send("POST", "/login", &[form], "token=nope&next=%2F")
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.get("set-cookie").is_none());
    assert!(text(&wrong).contains("not the gateway"));

    let right = gateway
        .send(
            "POST",
            "/login",
            &[form],
            format!("token={TOKEN}&next=%2F%2Fevil.example"),
        )
        .await;
    assert_eq!(right.status, 303);
    // Only a path of this site.
    assert_eq!(right.headers["location"], "/");
    let cookie = right.headers["set-cookie"].to_str().unwrap().to_owned();
    for part in [
        &format!("micro_token={TOKEN}"),
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    let pair = cookie.split(';').next().unwrap();

    let called = gateway
        .send(
            "POST",
            "/api/greeter/hello",
            &[("content-type", "application/json"), ("cookie", pair)],
            r#"{"name":"Cookie"}"#,
        )
        .await;
    assert_eq!(called.status, 200, "{}", text(&called));
    assert_eq!(called.json()["greeting"], "Hello Cookie");
    let forged = gateway
        .send(
            "GET",
            "/dashboard/api/services",
            &[("cookie", "micro_token=guess")],
            Bytes::new(),
        )
        .await;
    forged.error(401, 401);

    let out = gateway
        .send("POST", "/logout", &[("cookie", pair)], Bytes::new())
        .await;
    assert_eq!(out.status, 303);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_dashboard_can_be_turned_off() {
    let world = World::new();
    let gateway = world.gateway(GatewayOptions::new().dashboard(false)).await;
    gateway.get("/").await.error(404, 404);
    gateway.get("/dashboard/api/services").await.error(404, 404);
    gateway.stop().await;
}
