//! Tokens through the toolkit: a greeter-server verifying HS256 tokens
//! (`MICRO_AUTH_SECRET`), called by `micro call --token` (and
//! `MICRO_AUTH_TOKEN`) and through `micro gateway`, which passes the
//! caller's `Authorization: Bearer` (or, when the gateway has a token of
//! its own, `X-Micro-Authorization`) into the call's metadata.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::gateway::{curl, gateway};
use support::{Greeter, Place, no_panic};

const SECRET: &str = "hs256-secret-for-the-cli-auth-tests-0123";

fn token(scope: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "cli", "scope": scope, "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

const RULES: &str = "Greeter.Hello=greeter.read";

/// A namespace with a greeter verifying tokens under [`RULES`].
fn guarded_greeter() -> (Place, Greeter) {
    let place = Place::mdns();
    let greeter = place.greeter(
        "1.0.0",
        &[("MICRO_AUTH_SECRET", SECRET), ("MICRO_AUTH_RULES", RULES)],
    );
    (place, greeter)
}

#[test]
fn micro_call_presents_its_token() {
    let (place, _greeter) = guarded_greeter();
    let hello = ["call", "greeter", "Greeter.Hello", r#"{"name":"Ada"}"#];

    let out = place.run(&hello);
    assert_ne!(out.code, Some(0), "{out}");
    no_panic(&out.stderr);
    assert!(
        out.stderr.contains("unauthorized (401): missing token"),
        "{out}"
    );

    let read = token("greeter.read");
    let mut args = vec!["--token", read.as_str()];
    args.extend(hello);
    assert!(place.run(&args).ok().contains("Hello Ada"));

    let other = token("billing.read");
    let mut args = vec!["--token", other.as_str()];
    args.extend(hello);
    let out = place.run(&args);
    assert!(
        out.stderr
            .contains("forbidden (403): Greeter.Hello needs scope greeter.read"),
        "{out}"
    );
    assert!(!out.stderr.contains(&other), "{out}");

    let mut cmd = place.micro(&hello);
    cmd.env("MICRO_AUTH_TOKEN", &read);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Hello Ada"));
}

#[test]
fn the_gateway_passes_the_callers_token_on() {
    let (place, _greeter) = guarded_greeter();
    let Place::Mdns(ns) = &place else {
        unreachable!()
    };
    let body = Some(r#"{"name":"Ada"}"#);
    let read = token("greeter.read");
    let bearer = format!("Authorization: Bearer {read}");

    // A gateway without a token of its own: `Authorization` is the services'.
    let (_open, base) = gateway(ns, &["--address", "127.0.0.1:0"], &[]);
    let url = format!("{base}/api/greeter/Greeter.Hello");
    let reply = curl(ns, "POST", &url, &[], body);
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .contains("missing token"),
        "{reply:?}"
    );
    let reply = curl(ns, "POST", &url, &[&bearer], body);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json(), json!({"greeting": "Hello Ada"}));
    let rpc = r#"{"service":"com.example.srv.greeter","endpoint":"Greeter.Hello","request":{"name":"Rpc"}}"#;
    let reply = curl(ns, "POST", &format!("{base}/rpc"), &[&bearer], Some(rpc));
    assert_eq!(reply.json(), json!({"greeting": "Hello Rpc"}), "{reply:?}");

    // A gateway with its own token: the services' comes in X-Micro-Authorization.
    let (_guarded, base) = gateway(
        ns,
        &["--address", "127.0.0.1:0", "--auth-token", "gw-t0ken"],
        &[],
    );
    let url = format!("{base}/api/greeter/Greeter.Hello");
    let services = format!("X-Micro-Authorization: Bearer {read}");
    let reply = curl(ns, "POST", &url, &["Authorization: Bearer gw-t0ken"], body);
    assert_eq!(reply.status, 401, "{reply:?}");
    let reply = curl(
        ns,
        "POST",
        &url,
        &["Authorization: Bearer gw-t0ken", &services],
        body,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json(), json!({"greeting": "Hello Ada"}));
}

#[test]
fn the_gateway_describes_with_its_token_but_never_lends_it() {
    let (place, _greeter) = guarded_greeter();
    let Place::Mdns(ns) = &place else {
        unreachable!()
    };
    let body = Some(r#"{"name":"Ada"}"#);
    let hello = "/api/greeter/Greeter.Hello";
    let described = "/api/com.example.srv.greeter/Greeter.Hello";
    let paths = |base: &str| {
        let reply = curl(ns, "GET", &format!("{base}/openapi.json"), &[], None);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()
    };

    // Without a token of the gateway's, the service's Debug.Describe
    // refuses it: the document names the service as undescribed.
    let (_plain, base) = gateway(ns, &["--address", "127.0.0.1:0"], &[]);
    let doc = paths(&base);
    assert!(doc["paths"].get(described).is_none(), "{doc}");
    assert_eq!(
        doc["info"]["x-micro-undescribed"],
        json!(["com.example.srv.greeter"]),
        "{doc}"
    );

    // With MICRO_AUTH_TOKEN the gateway describes the service...
    let read = token("greeter.read");
    let (_with_token, base) = gateway(
        ns,
        &["--address", "127.0.0.1:0"],
        &[("MICRO_AUTH_TOKEN", &read)],
    );
    let doc = paths(&base);
    assert!(doc["paths"].get(described).is_some(), "{doc}");
    assert!(doc["info"].get("x-micro-undescribed").is_none(), "{doc}");
    // ...but a caller without a token of its own does not call as the
    // gateway: the service still answers 401.
    let reply = curl(ns, "POST", &format!("{base}{hello}"), &[], body);
    assert_eq!(reply.status, 401, "{reply:?}");
    let bearer = format!("Authorization: Bearer {read}");
    let reply = curl(ns, "POST", &format!("{base}{hello}"), &[&bearer], body);
    assert_eq!(reply.json(), json!({"greeting": "Hello Ada"}), "{reply:?}");
}
