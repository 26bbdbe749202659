//! `micro gateway` as a real process: two `greeter-server` nodes and the
//! gateway in a private network namespace, discovering each other over
//! mDNS, called by curl from inside the namespace; and its refusal to
//! listen on an open address without a token.

mod support;

use std::process::Command;
use std::time::Instant;

use serde_json::json;
use support::gateway::{curl, gateway, gateway_command, greeter, stop, stop_with};
use support::{LIMIT, MICRO, Netns, Proc, no_panic};

/// A token for the tests.
const TOKEN: &str = "gw-process-t0ken";

#[test]
fn calls_through_the_gateway_reach_both_nodes_over_mdns() {
    let ns = Netns::new();
    let nodes = [greeter(&ns, "1.0.0"), greeter(&ns, "1.0.0")];
    let (gateway, base) = gateway(&ns, &["--address", "127.0.0.1:0"], &[]);

    let calls = 6;
    for i in 0..calls {
        let name = format!("John {i}");
        let body = json!({ "name": name }).to_string();
        let reply = curl(
            &ns,
            "POST",
            &format!("{base}/api/greeter/hello"),
            &[],
            Some(&body),
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(
            reply.headers.contains("content-type: application/json"),
            "{reply:?}"
        );
        assert_eq!(reply.json(), json!({ "greeting": format!("Hello {name}") }));
    }
    // The exact form and /rpc too.
    let reply = curl(
        &ns,
        "POST",
        &format!("{base}/rpc"),
        &[],
        Some(
            r#"{"service":"com.example.srv.greeter","endpoint":"Greeter.Hello","request":{"name":"Rpc"}}"#,
        ),
    );
    assert_eq!(
        reply.json(),
        json!({ "greeting": "Hello Rpc" }),
        "{reply:?}"
    );

    // 404 naming what was looked for.
    let reply = curl(
        &ns,
        "POST",
        &format!("{base}/api/nope/hello"),
        &[],
        Some("{}"),
    );
    assert_eq!(reply.status, 404, "{reply:?}");
    let error = reply.json();
    assert_eq!(error["code"], 404, "{error}");
    assert!(
        error["detail"].as_str().unwrap().contains("nope"),
        "{error}"
    );
    let reply = curl(&ns, "GET", &format!("{base}/nowhere"), &[], None);
    assert_eq!(reply.status, 404, "{reply:?}");

    // /health, and a web page of another site refused.
    let reply = curl(&ns, "GET", &format!("{base}/health"), &[], None);
    assert_eq!(reply.json(), json!({ "status": "ok" }));
    let reply = curl(
        &ns,
        "POST",
        &format!("{base}/api/greeter/hello"),
        &["Origin: https://evil.example"],
        Some("{}"),
    );
    assert_eq!(reply.status, 403, "{reply:?}");

    let stderr = gateway.stderr();
    stop(gateway);
    no_panic(&stderr);
    // Both nodes served some of the calls (round robin), and together all.
    let mut served = Vec::new();
    for node in nodes {
        let lines = stop(node);
        let count: u64 = lines
            .iter()
            .find_map(|l| {
                l.strip_prefix("served ")?
                    .strip_suffix(" calls")?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no `served N calls` line in {lines:?}"));
        served.push(count);
    }
    assert!(served.iter().all(|&n| n > 0), "{served:?}");
    assert_eq!(served.iter().sum::<u64>(), calls + 1, "{served:?}");
}

#[test]
fn with_a_token_requests_without_it_get_401() {
    let ns = Netns::new();
    let node = greeter(&ns, "1.0.0");
    // The token from the environment, listening beyond loopback (still
    // inside the namespace) as it allows.
    let (gateway, base) = {
        let mut cmd = gateway_command(ns.command(MICRO), &["--address", "0.0.0.0:0", "--metrics"]);
        cmd.env("MICRO_GATEWAY_TOKEN", TOKEN);
        let proc = Proc::spawn("micro gateway --auth-token", cmd);
        let line = proc.wait_line("gateway listening on http://", LIMIT);
        let port = line.rsplit_once(':').unwrap().1.to_owned();
        (proc, format!("http://127.0.0.1:{port}"))
    };
    let hello = format!("{base}/api/greeter/hello");
    let reply = curl(&ns, "POST", &hello, &[], Some(r#"{"name":"A"}"#));
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(
        reply.headers.contains("www-authenticate: bearer"),
        "{reply:?}"
    );
    assert_eq!(reply.json()["code"], 401);
    let reply = curl(
        &ns,
        "POST",
        &hello,
        &["Authorization: Bearer wrong"],
        Some("{}"),
    );
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(!reply.body.contains(TOKEN));
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let reply = curl(&ns, "POST", &hello, &[&bearer], Some(r#"{"name":"A"}"#));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json(), json!({ "greeting": "Hello A" }));
    // /health needs no token.
    let reply = curl(&ns, "GET", &format!("{base}/health"), &[], None);
    assert_eq!(reply.status, 200, "{reply:?}");
    // gzip for a client that asks.
    let reply = curl(
        &ns,
        "GET",
        &format!("{base}/openapi.json"),
        &[&bearer, "Accept-Encoding: gzip"],
        None,
    );
    assert!(
        reply.headers.contains("content-encoding: gzip"),
        "{reply:?}"
    );
    // --metrics: Prometheus text behind the token, counting the requests
    // above and the call they made.
    let metrics = format!("{base}/metrics");
    let reply = curl(&ns, "GET", &metrics, &[], None);
    assert_eq!(reply.status, 401, "{reply:?}");
    let reply = curl(&ns, "GET", &metrics, &[&bearer], None);
    assert_eq!(reply.status, 200, "{reply:?}");
    let value = |series: &str, labels: &[&str]| -> Option<u64> {
        reply.body.lines().find_map(|line| {
            let rest = line.strip_prefix(series)?.strip_prefix('{')?;
            let (set, value) = rest.rsplit_once("} ")?;
            labels
                .iter()
                .all(|label| set.contains(label))
                .then(|| value.parse().ok())?
        })
    };
    let http = "micro_gateway_http_requests_total";
    assert_eq!(
        value(http, &[r#"method="POST""#, r#"code="401""#]),
        Some(2),
        "{}",
        reply.body
    );
    assert_eq!(
        value(http, &[r#"method="POST""#, r#"code="200""#]),
        Some(1),
        "{}",
        reply.body
    );
    let calls = "micro_client_calls_total";
    let hello = [r#"endpoint="Greeter.Hello""#, r#"code="200""#];
    assert_eq!(value(calls, &hello), Some(1), "{}", reply.body);

    let stderr = gateway.stderr();
    // Ctrl-C stops it as gracefully as SIGTERM.
    stop_with(gateway, "INT");
    assert!(!stderr.contains(TOKEN), "the token on stderr:\n{stderr}");
    no_panic(&stderr);
    stop(node);
}

#[test]
fn an_open_address_without_a_token_is_refused_before_binding() {
    let started = Instant::now();
    // No namespace needed: it must fail before binding or discovering.
    for args in [
        &["--address", "0.0.0.0:0"][..],
        &["--address", "[::]:0", "--namespace", "com.example.srv"][..],
    ] {
        let output = gateway_command(Command::new(MICRO), args)
            .env("MICRO_REGISTRY", "memory")
            .output()
            .expect("running micro");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stdout.contains("listening"), "{stdout}");
        no_panic(&stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(
            lines[0].starts_with("micro: bad request (400): refusing to listen"),
            "{stderr}"
        );
        assert!(lines[0].contains("--auth-token"), "{stderr}");
        assert!(lines[0].contains("--insecure"), "{stderr}");
    }
    // A token the command line shows is never repeated on errors.
    let output = gateway_command(
        Command::new(MICRO),
        &["--address", "127.0.0.1:0", "--cors-origin", "nope"],
    )
    .env("MICRO_GATEWAY_TOKEN", TOKEN)
    .env("MICRO_REGISTRY", "memory")
    .output()
    .expect("running micro");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CORS origin \"nope\""), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
    assert!(started.elapsed() < LIMIT);
}

#[test]
fn the_rate_limit_answers_429_with_retry_after() {
    // /health counts too, so no service is needed: loopback, memory registry.
    let ns = Netns::new();
    let mut cmd = gateway_command(ns.command(MICRO), &["--address", "127.0.0.1:0"]);
    cmd.env("MICRO_REGISTRY", "memory")
        .env("MICRO_GATEWAY_RATE_LIMIT", "2/m");
    let gateway = Proc::spawn("micro gateway", cmd);
    let line = gateway.wait_line("gateway listening on http://", LIMIT);
    let base = line.trim_start_matches("gateway listening on ").to_owned();
    let health = format!("{base}/health");
    for _ in 0..2 {
        let reply = curl(&ns, "GET", &health, &[], None);
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let reply = curl(&ns, "GET", &health, &[], None);
    assert_eq!(reply.status, 429, "{reply:?}");
    let error = reply.json();
    assert_eq!(error["code"], 429, "{error}");
    assert_eq!(error["status"], "Too Many Requests", "{error}");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("2/m per client address"),
        "{error}"
    );
    let retry_after: u64 = reply
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .expect("a Retry-After header")
        .trim()
        .parse()
        .expect("whole seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let stderr = gateway.stderr();
    stop(gateway);
    no_panic(&stderr);

    // A rate that does not parse is refused before anything starts.
    let output = gateway_command(
        Command::new(MICRO),
        &["--address", "127.0.0.1:0", "--rate-limit", "5/fortnight"],
    )
    .env("MICRO_REGISTRY", "memory")
    .output()
    .expect("running micro");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("COUNT/UNIT"), "{stderr}");
    no_panic(&stderr);
}
