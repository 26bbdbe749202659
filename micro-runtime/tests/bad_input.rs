//! Bad input gets a clear error with a code, and the server keeps serving.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{EchoClient, JsonOnly, KINDS, Msg, World, within_10s};
use micro_runtime::codec::ContentType;
use micro_runtime::endpoint::CallKind;
use micro_runtime::{CallOptions, Context};

#[tokio::test]
async fn unknown_service_is_404_naming_it() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let err = EchoClient::new("nope", world.client())
            .say(Msg::text("x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), 404, "{kind:?}: {err}");
        assert!(err.detail().contains("nope"), "{err}");
        world.stop().await;
    }
}

#[tokio::test]
async fn node_serving_another_service_answers_404() {
    for kind in KINDS {
        let mut world = World::new(kind);
        let (service, _) = world.echo("echo").await;
        let address = service.address().await.unwrap();
        // A stale registry entry pointing at a node that now runs something else.
        let err = EchoClient::new("other", world.client())
            .say_with(Msg::text("x"), CallOptions::new().address(address))
            .await
            .unwrap_err();
        assert_eq!(err.code(), 404, "{err}");
        assert!(err.detail().contains("service other not found"), "{err}");
        assert!(err.detail().contains("echo"), "{err}");
        world.stop().await;
    }
}

#[tokio::test]
async fn unknown_endpoint_is_404_naming_service_and_endpoint() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let client = world.client();
        let err = client
            .call_raw(
                "echo",
                "Echo.Nope",
                ContentType::Protobuf,
                Default::default(),
                &CallOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), 404, "{err}");
        assert!(
            err.detail().contains("Echo.Nope") && err.detail().contains("echo"),
            "{err}"
        );
        assert_eq!(err.id(), "echo");
        // Still serving.
        assert_eq!(
            EchoClient::new("echo", client)
                .say(Msg::text("ok"))
                .await
                .unwrap()
                .text,
            "ok"
        );
        world.stop().await;
    }
}

#[tokio::test]
async fn body_that_does_not_decode_is_400_saying_why() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let client = world.client();
        let err = client
            .call_raw(
                "echo",
                "Echo.Say",
                ContentType::Protobuf,
                vec![0x0a, 0xff, 0xff].into(),
                &CallOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
        assert!(err.detail().contains("does not decode as Msg"), "{err}");
        let err = client
            .call_raw(
                "echo",
                "Echo.Say",
                ContentType::Json,
                "{not json".into(),
                &CallOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
        assert!(err.detail().contains("application/json"), "{err}");
        // A JSON-only endpoint called with protobuf: 415.
        let err = client
            .call_raw(
                "echo",
                "Echo.Shout",
                ContentType::Protobuf,
                Default::default(),
                &CallOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), 415, "{err}");
        let echo = EchoClient::new("echo", client);
        assert_eq!(
            echo.shout(JsonOnly { word: "a".into() })
                .await
                .unwrap()
                .word,
            "A"
        );
        world.stop().await;
    }
}

#[tokio::test]
async fn wrong_call_kind_is_400() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let client = world.client();
        let err = client
            .call_raw(
                "echo",
                "Echo.Count",
                ContentType::Protobuf,
                Default::default(),
                &CallOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
        assert!(err.detail().contains("Echo.Count is server"), "{err}");
        let (_tx, mut rx) = client
            .stream_raw(
                "echo",
                "Echo.Say",
                CallKind::Bidi,
                ContentType::Protobuf,
                &CallOptions::new(),
            )
            .await
            .unwrap();
        let err = rx.recv().await.unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
        world.stop().await;
    }
}

#[tokio::test]
async fn panicking_handler_fails_only_its_caller() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let echo = EchoClient::new("echo", world.client());
        let (boom, fine) = tokio::join!(echo.explode(Msg::text("x")), echo.say(Msg::text("fine")));
        let err = boom.unwrap_err();
        assert_eq!(err.code(), 500, "{err}");
        assert!(
            err.detail().contains("Echo.Explode panicked: boom"),
            "{err}"
        );
        assert_eq!(fine.unwrap().text, "fine");
        assert_eq!(echo.say(Msg::text("after")).await.unwrap().text, "after");
        world.stop().await;
    }
}

#[tokio::test]
async fn passed_deadline_is_408_and_cancels_the_handler() {
    for kind in KINDS {
        let mut world = World::new(kind);
        let (_, signals) = world.echo("echo").await;
        let echo = EchoClient::new("echo", world.client());
        let cancelled = signals.cancelled.notified();
        let err = echo
            .hang_with(
                Msg::text("x"),
                CallOptions::new().timeout(Duration::from_millis(100)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), 408, "{kind:?}: {err}");
        within_10s("handler cancellation", cancelled).await;
        assert!(signals.cancellations.load(Ordering::SeqCst) >= 1);
        assert_eq!(echo.say(Msg::text("after")).await.unwrap().text, "after");
        world.stop().await;
    }
}

#[tokio::test]
async fn dropping_a_call_cancels_the_handler() {
    for kind in KINDS {
        let mut world = World::new(kind);
        let (_, signals) = world.echo("echo").await;
        let echo = EchoClient::new("echo", world.client());
        let cancelled = signals.cancelled.notified();
        let started = signals.started.notified();
        let call = tokio::spawn(async move { echo.hang(Msg::text("x")).await });
        // Wait until the handler runs, then drop the call.
        within_10s("handler start", started).await;
        call.abort();
        within_10s("handler cancellation", cancelled).await;
        world.stop().await;
    }
}

#[tokio::test]
async fn handler_errors_keep_code_detail_and_id() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("echo").await;
        let echo = EchoClient::new("echo", world.client());
        let err = echo
            .fail(Msg {
                text: "version 3 exists".into(),
                n: 409,
            })
            .await
            .unwrap_err();
        assert!(err.is_conflict());
        assert_eq!(err.detail(), "version 3 exists");
        assert_eq!(err.id(), "echo");
        world.stop().await;
    }
}

#[tokio::test]
async fn expired_context_is_never_sent() {
    let mut world = World::new(common::Kind::Memory);
    world.echo("echo").await;
    let echo = EchoClient::new("echo", world.client());
    let ctx = Context::new().with_timeout(Duration::ZERO);
    let err = ctx.scope(echo.say(Msg::text("late"))).await.unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    world.stop().await;
}
