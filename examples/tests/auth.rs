//! Authentication and authorization against real greeter-server processes
//! started with `MICRO_AUTH_*` variables: tokens minted here with
//! jsonwebtoken (HS256 with a secret file; ES256 with the key pair of
//! `tests/fixtures`, a test-only key, checked through a JWKS file).

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Proc, direct_server};
use examples::pb;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client, Error};
use serde_json::{Value, json};

const SECRET: &str = "hs256-secret-for-the-auth-tests-0123456789";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const T: Duration = Duration::from_secs(20);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn es256(claims: Value, kid: &str) -> String {
    let pem = std::fs::read(format!("{FIXTURES}/es256-private.pem")).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_pem(&pem).unwrap()).unwrap()
}

/// A file of the test's own holding `text`.
fn file(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("micro-auth-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn client() -> Client {
    Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::new(TcpOptions::default())))
        .build()
        .unwrap()
}

fn options(address: &str, token: Option<&str>) -> CallOptions {
    let options = CallOptions::new().address(address).timeout(T).retries(0);
    match token {
        Some(token) => options.metadata("authorization", format!("Bearer {token}")),
        None => options,
    }
}

async fn hello(address: &str, token: Option<&str>) -> Result<String, Error> {
    pb::GreeterClient::new(examples::SERVICE, client())
        .hello_with(pb::Request { name: "Ada".into() }, options(address, token))
        .await
        .map(|r| r.greeting)
}

async fn hello_stream(address: &str, token: Option<&str>) -> Result<usize, Error> {
    let mut rx = pb::GreeterClient::new(examples::SERVICE, client())
        .hello_stream_with(pb::Request { name: "Ada".into() }, options(address, token))
        .await?;
    let mut n = 0;
    while rx.recv().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn refused(result: Result<impl std::fmt::Debug, Error>, code: u16, detail: &str) {
    let err = result.expect_err("refused");
    assert_eq!(err.code(), code, "{err}");
    assert!(err.detail().contains(detail), "{detail:?} in {err}");
}

/// Stops `server` and returns its log.
fn log_of(mut server: Proc) -> String {
    server.signal("TERM");
    server.wait_exit(T);
    server.stderr()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_tokens_are_checked_and_scopes_enforced_without_leaking_secrets() {
    let secret = file("secret", &format!("{SECRET}\n"));
    let (server, address) = direct_server(&[
        ("MICRO_AUTH_SECRET_FILE", &secret),
        (
            "MICRO_AUTH_RULES",
            "Greeter.Hello=greeter.read; Greeter.HelloStream=greeter.admin",
        ),
        ("RUST_LOG", "debug"),
    ]);
    let claims = |scope: &str, exp: u64| json!({"sub": "ada", "scope": scope, "exp": exp});
    let good = hs256(claims("greeter.read", now() + 600), SECRET);
    let expired = hs256(claims("greeter.read", now() - 3600), SECRET);
    let forged = hs256(
        claims("greeter.read greeter.admin", now() + 600),
        "another-secret-of-at-least-32-bytes!!",
    );

    refused(hello(&address, None).await, 401, "missing token");
    refused(hello(&address, Some(&expired)).await, 401, "token expired");
    refused(
        hello(&address, Some(&forged)).await,
        401,
        "token signature does not verify",
    );
    refused(
        hello(&address, Some("not-a-jwt")).await,
        401,
        "malformed token",
    );
    // Still serving: the right token gets through.
    assert_eq!(hello(&address, Some(&good)).await.unwrap(), "Hello Ada");
    // The scope rule: Hello allowed, HelloStream denied, allowed with the scope.
    refused(
        hello_stream(&address, Some(&good)).await,
        403,
        "needs scope greeter.admin",
    );
    let admin = hs256(claims("greeter.admin", now() + 600), SECRET);
    assert_eq!(hello_stream(&address, Some(&admin)).await.unwrap(), 3);

    let log = log_of(server);
    assert!(log.contains("auth: request refused"), "debug log:\n{log}");
    for secret in [SECRET, &good, &expired, &forged, &admin] {
        assert!(
            !log.contains(secret),
            "a secret or token in the log:\n{log}"
        );
    }
    let _ = std::fs::remove_file(secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_tokens_are_checked_against_a_jwks_with_issuer_and_audience() {
    let (server, address) = direct_server(&[
        ("MICRO_AUTH_JWKS", &format!("{FIXTURES}/jwks.json")),
        ("MICRO_AUTH_ISSUER", "https://issuer.test"),
        ("MICRO_AUTH_AUDIENCE", "greeter"),
    ]);
    let claims =
        json!({"sub": "svc", "iss": "https://issuer.test", "aud": "greeter", "exp": now() + 600});
    let good = es256(claims.clone(), "test-es256");
    assert_eq!(hello(&address, Some(&good)).await.unwrap(), "Hello Ada");

    refused(
        hello(&address, Some(&es256(claims.clone(), "other"))).await,
        401,
        "not in the JWKS",
    );
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("billing");
    refused(
        hello(&address, Some(&es256(other_audience, "test-es256"))).await,
        401,
        "audience does not include greeter",
    );
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://mallory.test");
    refused(
        hello(&address, Some(&es256(other_issuer, "test-es256"))).await,
        401,
        "issuer is not https://issuer.test",
    );
    // An HS256 token cannot pass for one signed with the JWKS's keys.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("test-es256".into());
    let confused = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    refused(hello(&address, Some(&confused)).await, 401, "not accepted");
    drop(server);
}

#[test]
fn a_bad_auth_configuration_refuses_to_start() {
    for (env, why) in [
        (vec![("MICRO_AUTH_SECRET", "short")], "needs at least 32"),
        (
            vec![
                ("MICRO_AUTH_SECRET", SECRET),
                ("MICRO_AUTH_RULES", "Greeter.Hello"),
            ],
            "is not pattern=scopes",
        ),
        (
            vec![("MICRO_AUTH_JWKS", "/nonexistent/jwks.json")],
            "cannot read",
        ),
    ] {
        let mut cmd = std::process::Command::new(common::SERVER);
        cmd.env("MICRO_REGISTRY", "memory")
            .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
            .envs(env);
        let mut server = Proc::spawn("greeter-server", cmd);
        let status = server.wait_exit(T);
        assert!(!status.success());
        let stderr = server.stderr();
        assert!(stderr.contains(why), "{why:?} in {stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
}
