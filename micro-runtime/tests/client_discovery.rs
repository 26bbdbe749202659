//! What tools ask of a client: the services that run, their nodes, the
//! kind of an endpoint, waiting for nodes, registry changes as a stream,
//! and calls by name with JSON bodies (unary and streaming, as a tool
//! reading JSON lines does).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Kind, World, within_10s};
use futures_util::StreamExt;
use micro_runtime::CallOptions;
use micro_runtime::codec::ContentType;
use micro_runtime::endpoint::CallKind;
use micro_runtime::registry::Action;

#[tokio::test]
async fn services_lists_every_version_with_nodes_and_endpoints() {
    let mut world = World::new(Kind::Memory);
    let v1 = world.builder("lister").version("1.0.0").build().unwrap();
    world.add_echo(v1).await;
    let v2 = world.builder("lister").version("2.0.0").build().unwrap();
    world.add_echo(v2).await;
    world.echo("other").await;
    let client = world.client();

    let services = client.services().await.unwrap();
    let listed: Vec<_> = services
        .iter()
        .map(|s| (s.name.as_str(), s.version.as_str(), s.nodes.len()))
        .collect();
    assert_eq!(
        listed,
        [
            ("lister", "1.0.0", 1),
            ("lister", "2.0.0", 1),
            ("other", "1", 1)
        ]
    );
    let endpoints: Vec<_> = services[0]
        .endpoints
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert!(endpoints.contains(&"Echo.Say"), "{endpoints:?}");
    assert!(
        !endpoints.iter().any(|e| e.starts_with("Debug.")),
        "{endpoints:?}"
    );

    let nodes = client.nodes("lister").await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.iter().all(|n| !n.stats().is_ejected()));
    assert!(client.nodes("nobody").await.unwrap_err().is_not_found());
    world.stop().await;
}

#[tokio::test]
async fn call_kind_reads_what_nodes_advertise() {
    let mut world = World::new(Kind::Memory);
    world.echo("kinds").await;
    let client = world.client();
    for (endpoint, kind) in [
        ("Echo.Say", CallKind::Unary),
        ("Echo.Count", CallKind::ServerStreaming),
        ("Echo.Sum", CallKind::ClientStreaming),
        ("Echo.Echo", CallKind::Bidi),
    ] {
        assert_eq!(client.call_kind("kinds", endpoint).await.unwrap(), kind);
    }
    let err = client.call_kind("kinds", "Echo.Nope").await.unwrap_err();
    assert!(
        err.is_not_found() && err.detail().contains("Echo.Nope"),
        "{err}"
    );
    world.stop().await;
}

#[tokio::test]
async fn wait_for_returns_once_a_late_service_is_known() {
    let mut world = World::new(Kind::Memory);
    let client = world.client();
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.wait_for("late", 1, Duration::from_secs(10)).await }
    });
    world.echo("late").await;
    let known = within_10s("wait_for", waiting).await.unwrap().unwrap();
    assert_eq!(known, 1);

    let err = client
        .wait_for("late", 3, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.detail().contains("1 of 3"), "{err}");
    world.stop().await;
}

#[tokio::test]
async fn watch_is_a_stream_of_registry_changes() {
    let mut world = World::new(Kind::Memory);
    let client = world.client();
    let mut changes = client.watch(Some("watched")).await.unwrap();
    let (service, _) = world.echo("watched").await;
    let event = within_10s("a create event", StreamExt::next(&mut changes))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.action, Action::Create);
    assert_eq!(event.service.name, "watched");
    service.stop().await.unwrap();
    let event = within_10s("a delete event", async {
        loop {
            let event = StreamExt::next(&mut changes).await.unwrap().unwrap();
            if event.action == Action::Delete {
                return event;
            }
        }
    })
    .await;
    assert_eq!(event.service.name, "watched");
}

/// A tool that knows only names: the kind from the registry, JSON bodies,
/// requests as JSON lines, responses as they arrive.
#[tokio::test]
async fn a_tool_calls_and_streams_by_name_with_json() {
    let mut world = World::new(Kind::Tcp);
    world.echo("tool").await;
    let client = world.client();
    let options = CallOptions::new();

    let body = Bytes::from_static(br#"{"text":"hi","n":7}"#);
    let rsp = client
        .call_raw("tool", "Echo.Say", ContentType::Json, body, &options)
        .await
        .unwrap();
    let rsp: serde_json::Value = serde_json::from_slice(&rsp).unwrap();
    assert_eq!(rsp["text"], "hi");

    let lines = "{\"text\":\"a\",\"n\":1}\n{\"text\":\"b\",\"n\":2}\n{\"text\":\"c\",\"n\":3}\n";
    let kind = client.call_kind("tool", "Echo.Echo").await.unwrap();
    let (tx, mut rx) = client
        .stream_raw("tool", "Echo.Echo", kind, ContentType::Json, &options)
        .await
        .unwrap();
    for line in lines.lines() {
        tx.send(Bytes::copy_from_slice(line.as_bytes()))
            .await
            .unwrap();
    }
    tx.finish(Ok(()));
    let mut texts = Vec::new();
    while let Some(message) = within_10s("a response", rx.recv()).await.unwrap() {
        let value: serde_json::Value = serde_json::from_slice(&message).unwrap();
        texts.push(value["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(texts, ["a", "b", "c"]);

    // A line that is not JSON fails that call with 400; the service serves on.
    let (tx, mut rx) = client
        .stream_raw("tool", "Echo.Echo", kind, ContentType::Json, &options)
        .await
        .unwrap();
    tx.send(Bytes::from_static(b"{not json")).await.unwrap();
    let err = within_10s("the error", rx.recv()).await.unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    let again = client
        .call_raw(
            "tool",
            "Echo.Say",
            ContentType::Json,
            Bytes::from_static(br#"{"text":"x","n":1}"#),
            &options,
        )
        .await;
    assert!(again.is_ok(), "{again:?}");
    world.stop().await;
}
