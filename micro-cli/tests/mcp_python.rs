//! `micro mcp serve` driven by the official MCP Python SDK (`mcp` from PyPI,
//! in the venv `.ci/run` makes; `MICRO_TEST_PYTHON` names its python),
//! against real greeter-server processes in a private network namespace,
//! over stdio and over Streamable HTTP: initialize, list the tools and check
//! their schemas against `micro-mcp/tests/expected`, call Hello, call it
//! with a wrong type (an error result), call the streaming tools, then start
//! another service and receive `tools/list_changed`. Over HTTP a request
//! without the bearer token is refused, and SIGTERM lets a call in flight
//! finish.

mod support;

use std::time::Duration;

use support::{LIMIT, MICRO, Place, Proc, python};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../micro-mcp/tests/python/mcp_client.py"
);
/// The expected schemas of the greeter's tools (with `GREETER_MIRROR=1`).
const EXPECTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../micro-mcp/tests/expected");
/// How long the Python client may take for its whole run.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// Starts a greeter-server named `name` and waits until it serves.
fn greeter(place: &Place, name: &str) -> support::Greeter {
    place.greeter("1.0.0", &[("GREETER_NAME", name)])
}

/// The greeter whose tools `EXPECTED` describes: `Greeter` and `Mirror`.
fn greeter_with_mirror(place: &Place) -> support::Greeter {
    place.greeter("1.0.0", &[("GREETER_MIRROR", "1")])
}

/// `micro mcp serve --address 127.0.0.1:0` with the token `token` (and
/// `env`), and its URL once it listens.
fn serve_http(place: &Place, token: &str, env: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = place.command(MICRO);
    cmd.args(["mcp", "serve", "--address", "127.0.0.1:0"])
        .env("MICRO_MCP_TOKEN", token);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let server = Proc::spawn("micro mcp serve", cmd);
    let line = server.wait_line("mcp listening on ", LIMIT);
    let url = line.rsplit(' ').next().unwrap().to_owned();
    (server, url)
}

/// Waits for the Python client's exit and asserts it succeeded.
fn succeeds(mut client: Proc) {
    let status = client.wait_exit(LIMIT);
    assert!(
        status.success(),
        "the Python client failed: {status}; stderr:\n{}",
        client.stderr()
    );
}

/// Runs the Python client (already started in `place`) to its end, starting
/// the second service when it asks.
fn drive(place: &Place, client: Proc) {
    client.wait_line("WAITING_FOR_SECOND", CLIENT_LIMIT);
    let _other = greeter(place, "com.example.srv.other");
    client.wait_line("OK", CLIENT_LIMIT);
    succeeds(client);
}

#[test]
fn python_sdk_over_stdio() {
    let Some(python) = python() else { return };
    let place = Place::mdns();
    let _greeter = greeter_with_mirror(&place);
    let mut cmd = place.command(&python);
    cmd.args([
        SCRIPT,
        "stdio",
        "--list-changed",
        "--expected",
        EXPECTED,
        "--",
        MICRO,
        "mcp",
        "serve",
    ]);
    drive(&place, Proc::spawn("python (stdio)", cmd));
}

#[test]
fn python_sdk_over_streamable_http() {
    let Some(python) = python() else { return };
    let place = Place::mdns();
    let _greeter = greeter_with_mirror(&place);
    let (_server, url) = serve_http(&place, "t0ken", &[]);
    let mut cmd = place.command(&python);
    cmd.args([
        SCRIPT,
        "http",
        &url,
        "t0ken",
        "--list-changed",
        "--expected",
        EXPECTED,
    ]);
    drive(&place, Proc::spawn("python (http)", cmd));
}

#[test]
fn sigterm_lets_a_call_in_flight_finish() {
    let Some(python) = python() else { return };
    let place = Place::mdns();
    // Every call takes 1.5 s: the signal comes while Hello runs.
    let _greeter = place.greeter("1.0.0", &[("GREETER_DELAY_MS", "1500")]);
    let (mut server, url) = serve_http(&place, "t0ken", &[("RUST_LOG", "micro_mcp=debug")]);
    let mut cmd = place.command(&python);
    cmd.args([SCRIPT, "slow", &url, "t0ken"]);
    let client = Proc::spawn("python (slow call)", cmd);
    server.wait_stderr("mcp: tool call", CLIENT_LIMIT);
    server.signal("TERM");
    let answer = client.wait_line("ANSWER ", CLIENT_LIMIT);
    assert_eq!(answer, r#"ANSWER {"greeting":"Hello John"}"#);
    let status = server.wait_exit(LIMIT);
    let stderr = server.stderr();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("stopped with"), "{stderr}");
}

#[test]
fn a_public_address_needs_a_token() {
    let out = std::process::Command::new(MICRO)
        .args(["mcp", "serve", "--address", "0.0.0.0:0"])
        .env_remove("MICRO_MCP_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad request (400): refusing to listen on 0.0.0.0:0")
            && stderr.contains("--auth-token"),
        "{stderr}"
    );
}

#[test]
fn python_sdk_through_the_gateway() {
    let Some(python) = python() else { return };
    let place = Place::mdns();
    let _greeter = greeter(&place, "com.example.srv.greeter");
    let mut cmd = place.command(MICRO);
    cmd.args(["gateway", "--address", "127.0.0.1:0", "--mcp"])
        .env("MICRO_GATEWAY_TOKEN", "gw-t0ken");
    let gateway = Proc::spawn("micro gateway --mcp", cmd);
    let line = gateway.wait_line("gateway listening on ", LIMIT);
    let url = format!("{}/mcp", line.rsplit(' ').next().unwrap());
    let mut cmd = place.command(&python);
    cmd.args([SCRIPT, "http", &url, "gw-t0ken"]);
    let client = Proc::spawn("python (gateway)", cmd);
    client.wait_line("OK", CLIENT_LIMIT);
    succeeds(client);
}
