//! Wrapper chains (order, short-circuit, tower layers) and context
//! inheritance across calls.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{EchoClient, KINDS, Msg, World};
use micro_runtime::wrapper::{
    ClientNext, ClientRequest, HandlerNext, HandlerRequest, TowerClientLayer, TowerHandlerLayer,
    client_fn, handler_fn,
};
use micro_runtime::{CallOptions, Context, Error};

type Log = Arc<Mutex<Vec<String>>>;

fn tag_handler(log: &Log, tag: &'static str) -> impl micro_runtime::wrapper::HandlerWrapper {
    let log = log.clone();
    handler_fn(move |req: HandlerRequest, next: HandlerNext| {
        let log = log.clone();
        async move {
            log.lock()
                .unwrap()
                .push(format!("{tag}>{}", req.endpoint().name));
            let out = next.run(req).await;
            log.lock().unwrap().push(format!("<{tag}"));
            out
        }
    })
}

#[tokio::test]
async fn handler_and_client_wrappers_run_in_order() {
    for kind in KINDS {
        let log: Log = Arc::default();
        let mut world = World::new(kind);
        let service = world
            .builder("echo")
            .wrap_handler(tag_handler(&log, "outer"))
            .wrap_handler(tag_handler(&log, "inner"))
            .build()
            .unwrap();
        world.add_echo(service).await;
        let client_log = log.clone();
        let client = world.client().with_wrapper(client_fn(
            move |mut req: ClientRequest, next: ClientNext| {
                let log = client_log.clone();
                async move {
                    log.lock()
                        .unwrap()
                        .push(format!("client>{}", req.endpoint()));
                    req.context_mut()
                        .metadata_mut()
                        .insert("x-trace", "from-wrapper");
                    next.run(req).await
                }
            },
        ));
        let rsp = EchoClient::new("echo", client)
            .whoami(Msg::default())
            .await
            .unwrap();
        assert_eq!(
            rsp.text, "from-wrapper",
            "client wrapper metadata reaches the handler"
        );
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                "client>Echo.Whoami",
                "outer>Echo.Whoami",
                "inner>Echo.Whoami",
                "<inner",
                "<outer"
            ],
            "{kind:?}"
        );
        world.stop().await;
    }
}

#[tokio::test]
async fn a_wrapper_can_refuse_without_calling_the_handler() {
    let mut world = World::new(common::Kind::Tcp);
    let service = world
        .builder("echo")
        .wrap_handler(handler_fn(
            |req: HandlerRequest, next: HandlerNext| async move {
                if req.context().metadata().get("authorization").is_none() {
                    return Err(Error::unauthorized("missing authorization"));
                }
                next.run(req).await
            },
        ))
        .build()
        .unwrap();
    world.add_echo(service).await;
    let echo = EchoClient::new("echo", world.client());
    let err = echo.say(Msg::text("x")).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.id(), "echo");
    let ok = echo
        .say_with(
            Msg::text("x"),
            CallOptions::new().metadata("Authorization", "Bearer t"),
        )
        .await
        .unwrap();
    assert_eq!(ok.text, "x");
    world.stop().await;
}

#[tokio::test]
async fn tower_layers_plug_in_as_wrappers() {
    let mut world = World::new(common::Kind::Tcp);
    let service = world
        .builder("echo")
        .wrap_handler(TowerHandlerLayer::new(tower::timeout::TimeoutLayer::new(
            Duration::from_millis(50),
        )))
        .wrap_handler(TowerHandlerLayer::new(
            tower::limit::ConcurrencyLimitLayer::new(4),
        ))
        .build()
        .unwrap();
    world.add_echo(service).await;
    let client = world.client().with_wrapper(TowerClientLayer::new(
        tower::limit::ConcurrencyLimitLayer::new(2),
    ));
    let echo = EchoClient::new("echo", client);
    assert_eq!(
        echo.say(Msg::text("through tower")).await.unwrap().text,
        "through tower"
    );
    let err = echo
        .hang_with(
            Msg::text("x"),
            CallOptions::new().timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "tower's timeout maps to 408: {err}");
    world.stop().await;
}

#[tokio::test]
async fn context_is_inherited_by_calls_made_while_handling() {
    for kind in KINDS {
        let mut world = World::new(kind);
        world.echo("front").await;
        world.echo("back").await;
        let front = EchoClient::new("front", world.client());
        let ctx = Context::new()
            .with_metadata("x-trace", "t-42")
            .with_timeout(Duration::from_secs(2));
        // front.relay calls back.whoami without passing a context.
        let seen = ctx.scope(front.relay(Msg::text("back"))).await.unwrap();
        assert_eq!(seen.text, "t-42", "{kind:?}: metadata crosses two hops");
        assert!(
            (0..=2000).contains(&seen.n),
            "{kind:?}: the deadline crosses two hops, got {} ms",
            seen.n
        );
        world.stop().await;
    }
}

#[tokio::test]
async fn endpoint_default_timeout_and_call_timeout() {
    let mut world = World::new(common::Kind::Tcp);
    world.echo("echo").await;
    let echo = EchoClient::new("echo", world.client());
    // The client's default request timeout applies to unary calls (5 s by
    // default); the handler sees what is left of it.
    let seen = echo.whoami(Msg::default()).await.unwrap();
    assert!((1..=5000).contains(&seen.n), "{}", seen.n);
    let seen = echo
        .whoami_with(
            Msg::default(),
            CallOptions::new().timeout(Duration::from_millis(800)),
        )
        .await
        .unwrap();
    assert!((1..=800).contains(&seen.n), "{}", seen.n);
    world.stop().await;
}
