//! The four RPC kinds, codecs and the typed client, on every transport.

mod common;

use common::{EchoClient, JsonOnly, KINDS, Msg, World};
use micro_runtime::CallOptions;
use micro_runtime::codec::ContentType;

#[tokio::test]
async fn unary_server_client_and_bidi_streams() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let echo = EchoClient::new("echo", world.client());

        let rsp = echo.say(Msg::text("hi")).await.unwrap();
        assert_eq!(rsp.text, "hi", "{kind:?}");

        let counted = echo
            .count(Msg {
                text: "c".into(),
                n: 5,
            })
            .await
            .unwrap()
            .collect_all()
            .await
            .unwrap();
        assert_eq!(
            counted.iter().map(|m| m.n).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );

        let sum = echo.sum().await.unwrap();
        for n in 1..=10 {
            sum.send(Msg {
                text: String::new(),
                n,
            })
            .await
            .unwrap();
        }
        assert_eq!(sum.close_and_recv().await.unwrap().n, 55, "{kind:?}");

        let mut bidi = echo.echo().await.unwrap();
        for n in 0..3 {
            bidi.send(Msg {
                text: "b".into(),
                n,
            })
            .await
            .unwrap();
            assert_eq!(bidi.recv().await.unwrap().unwrap().n, n);
        }
        let mut rest = bidi.close_send();
        assert!(rest.recv().await.unwrap().is_none());
        world.stop().await;
    }
}

#[tokio::test]
async fn json_content_type_and_serde_only_types() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let client = world.client();
        let echo = EchoClient::new("echo", client.clone());
        let rsp = echo
            .say_with(
                Msg::text("json"),
                CallOptions::new().content_type(ContentType::Json),
            )
            .await
            .unwrap();
        assert_eq!(rsp.text, "json");

        let loud = echo.shout(JsonOnly { word: "hey".into() }).await.unwrap();
        assert_eq!(loud.word, "HEY");

        let raw = client
            .call_raw(
                "echo",
                "Echo.Say",
                ContentType::Json,
                r#"{"text":"raw","n":7}"#.into(),
                &CallOptions::new(),
            )
            .await
            .unwrap();
        let back: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(back["text"], "raw");
        world.stop().await;
    }
}

#[tokio::test]
async fn every_service_answers_debug_health() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let health = world
            .client()
            .call(
                &"echo".into(),
                &micro_runtime::debug::HEALTH,
                &micro_runtime::debug::HealthRequest {},
                &CallOptions::new(),
            )
            .await
            .unwrap();
        assert_eq!(health.status, "ok");
        world.stop().await;
    }
}

#[tokio::test]
async fn registry_advertises_endpoints_but_not_debug() {
    let mut world = World::new(common::Kind::Memory);
    let (service, _) = world.echo("echo").await;
    let record = service.registration().await.unwrap();
    let names: Vec<&str> = record.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&"Echo.Say"));
    assert!(names.contains(&"Echo.Count"));
    assert!(!names.iter().any(|n| n.starts_with("Debug.")));
    let say = record
        .endpoints
        .iter()
        .find(|e| e.name == "Echo.Say")
        .unwrap();
    assert_eq!(say.metadata["idempotent"], "true");
    assert_eq!(say.metadata["description"], "Returns the request.");
    let count = record
        .endpoints
        .iter()
        .find(|e| e.name == "Echo.Count")
        .unwrap();
    assert_eq!(count.metadata["stream"], "server");
    assert_eq!(record.nodes[0].metadata["transport"], "memory");
    world.stop().await;
}
