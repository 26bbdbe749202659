//! The auth handler wrapper in process: claims reach inner wrappers and
//! the handler, open endpoints need no token, and the caller's token goes
//! on to calls made while handling only when forwarding is on.
#![cfg(feature = "auth")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{EchoClient, Kind, Msg, World};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use micro_runtime::CallOptions;
use micro_runtime::auth::{self, Auth, Verifier};
use micro_runtime::wrapper::{HandlerNext, HandlerRequest, handler_fn};

const SECRET: &str = "a-secret-for-the-auth-wrapper-test-0123";

type Log = Arc<Mutex<Vec<String>>>;

fn token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "ada", "scope": "echo.relay", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// Records `what` of every request it sees.
fn record(
    log: &Log,
    what: fn(&HandlerRequest) -> String,
) -> impl micro_runtime::wrapper::HandlerWrapper {
    let log = log.clone();
    handler_fn(move |req: HandlerRequest, next: HandlerNext| {
        log.lock().unwrap().push(what(&req));
        next.run(req)
    })
}

#[tokio::test]
async fn claims_open_endpoints_and_forwarding() {
    for forward in [false, true] {
        let (seen_front, seen_back): (Log, Log) = Default::default();
        let mut world = World::new(Kind::Memory);
        let back = world
            .builder("back")
            .wrap_handler(record(&seen_back, |req| {
                req.context()
                    .metadata()
                    .get("authorization")
                    .map_or("no token".into(), |t| t.split(' ').next().unwrap().into())
            }))
            .build()
            .unwrap();
        world.add_echo(back).await;
        let auth = Auth::new(Verifier::hs256(SECRET.as_bytes()).unwrap())
            .rules("Echo.Whoami=open; Echo.Relay=echo.relay".parse().unwrap())
            .forward(forward);
        let front = world
            .builder("front")
            .wrap_handler(auth)
            .wrap_handler(record(&seen_front, |req| {
                auth::claims(req.context())
                    .and_then(|c| c.subject())
                    .unwrap_or("anonymous")
                    .to_owned()
            }))
            .build()
            .unwrap();
        world.add_echo(front).await;
        let front = EchoClient::new("front", world.client());

        // Open: no token needed; a missing one elsewhere is 401.
        front.whoami(Msg::default()).await.unwrap();
        let err = front.say(Msg::text("hi")).await.unwrap_err();
        assert!(
            err.is_unauthorized() && err.detail().contains("missing token"),
            "{err}"
        );

        let with_token =
            CallOptions::new().metadata("authorization", format!("Bearer {}", token()));
        front
            .relay_with(Msg::text("back"), with_token.clone())
            .await
            .unwrap();
        // The claims reached the inner wrapper (nothing for the open call).
        assert_eq!(
            *seen_front.lock().unwrap(),
            ["anonymous", "ada"],
            "forward {forward}"
        );
        assert_eq!(
            *seen_back.lock().unwrap(),
            [if forward { "Bearer" } else { "no token" }],
            "forward {forward}"
        );
        world.stop().await;
    }
}
