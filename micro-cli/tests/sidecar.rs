//! `micro sidecar` in front of a real Python app (the standard library's
//! `http.server`), with greeter-server, `micro call`, `micro publish` and
//! `micro subscribe` as separate processes discovering over mDNS in a
//! private network namespace.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{LIMIT, Place, Proc, line_containing, unique};

const NAME: &str = "py.greeter";
const APP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../micro-sidecar/tests/app/greeter_app.py"
);

fn python() -> String {
    std::env::var("MICRO_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// The app in `place` on `port` (0: any); returns it and its port.
fn start_app(place: &Place, port: u16) -> (Proc, u16) {
    let mut cmd = place.command(python());
    cmd.arg(APP).arg(port.to_string());
    let app = Proc::spawn("greeter_app.py", cmd);
    let line = app.wait_line("listening on ", LIMIT);
    let port = line
        .trim_start_matches("listening on ")
        .trim()
        .parse()
        .unwrap();
    (app, port)
}

/// An endpoints file declaring the app's endpoints, with a schema for Hello.
fn endpoints_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}.yaml", unique("sidecar-endpoints")));
    let text = "\
- name: Greeter.Hello
  docs: Says hello from Python.
  request: {type: object, properties: {name: {type: string}}}
- name: Greeter.Fail
- name: Greeter.Relay
- name: Greeter.Publish
";
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits until `micro services` shows `NAME` with `nodes` nodes (0: absent).
fn wait_nodes(place: &Place, nodes: u64) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let services = place.run(&["services", "-o", "json"]).json();
        let known = services
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == NAME)
            .map_or(0, |s| s["nodes"].as_u64().unwrap());
        if known == nodes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{known} nodes of {NAME}, not {nodes}: {services:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn call(place: &Place, endpoint: &str, request: &Value) -> support::Outcome {
    place.run(&["call", NAME, endpoint, &request.to_string(), "-o", "json"])
}

#[test]
fn a_python_app_behind_micro_sidecar() {
    let place = Place::mdns();
    let _greeter = place.greeter("1.0.0", &[]);
    let (mut app, port) = start_app(&place, 0);
    let endpoints = endpoints_file();
    let url = format!("http://127.0.0.1:{port}");
    let sidecar = place.spawn(
        "micro sidecar",
        &[
            "sidecar",
            "--name",
            NAME,
            "--app",
            &url,
            "--endpoints",
            endpoints.to_str().unwrap(),
            "--health",
            "/health",
            "--health-interval",
            "300ms",
            "--http",
            "127.0.0.1:0",
            "--subscribe",
            "py.in=/events",
        ],
    );
    let line = line_containing(&sidecar, "listening on http://");
    let base = line.rsplit(' ').next().unwrap().to_owned();
    wait_nodes(&place, 1);

    // `micro call` reaches the app, described by the endpoints file.
    let hello = call(&place, "Greeter.Hello", &json!({"name": "CLI"})).json();
    assert_eq!(hello["greeting"], "Hello CLI from Python", "{hello}");
    let described = place.run(&["describe", NAME, "-o", "json"]).json();
    let text = described.to_string();
    assert!(text.contains("Says hello from Python."), "{described:#}");
    let line = call(&place, "Greeter.Fail", &json!({}))
        .fails_with(409)
        .to_owned();
    assert!(line.contains("name taken"), "{line}");

    // The app calls greeter-server through the sidecar's /rpc.
    let relayed = call(&place, "Greeter.Relay", &json!({"name": "Py", "via": base})).json();
    assert_eq!(relayed["relayed"], json!({"greeting": "Hello Py"}));

    // Events both ways over the HTTP broker.
    place.run(&["publish", "py.in", r#"{"n":2}"#]).success();
    assert_eq!(app.wait_line("event ", LIMIT), r#"event py.in {"n": 2}"#);
    let subscriber = place.spawn("micro subscribe py.out", &["subscribe", "py.out"]);
    subscriber.wait_stderr("subscribed to py.out (Ctrl-C to stop)", LIMIT);
    let request = json!({"topic": "py.out", "event": {"from": "python"}, "via": base});
    let published = call(&place, "Greeter.Publish", &request).json();
    assert_eq!(published["published"], true, "{published}");
    let line = support::line_where(&subscriber, "the event", |_| true);
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"from": "python"})
    );

    // The app dies: deregistered; back on its port: registered again.
    app.signal("KILL");
    app.wait_exit(LIMIT);
    wait_nodes(&place, 0);
    let (_app, _) = start_app(&place, port);
    wait_nodes(&place, 1);
    let hello = call(&place, "Greeter.Hello", &json!({"name": "Again"})).json();
    assert_eq!(hello["greeting"], "Hello Again from Python");
    drop(sidecar);
    let _ = std::fs::remove_file(endpoints);
}

#[test]
fn sidecar_user_errors_are_one_line() {
    let place = Place::mdns();
    let endpoints = endpoints_file();
    let file = endpoints.to_str().unwrap();
    let base = ["sidecar", "--name", NAME, "--app", "http://127.0.0.1:9"];
    let with = |more: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(more);
        place.run(&args)
    };
    let line = with(&["--endpoints", file, "--http", "0.0.0.0:0"])
        .fails_with(400)
        .to_owned();
    assert!(line.contains("--insecure"), "{line}");
    let line = with(&["--endpoints", "/no/such/file.yaml"])
        .fails(1)
        .to_owned();
    assert!(line.contains("/no/such/file.yaml"), "{line}");
    let line = with(&["--endpoints", file, "--subscribe", "nopath"])
        .fails_with(400)
        .to_owned();
    assert!(line.contains("TOPIC[:QUEUE]=/path"), "{line}");
    let line = with(&["--openapi", "http://127.0.0.1:9/openapi.json"])
        .fails_with(503)
        .to_owned();
    assert!(line.contains("openapi.json"), "{line}");
    let bad = std::env::temp_dir().join(format!("{}.json", unique("sidecar-bad")));
    std::fs::write(&bad, r#"[{"name": "Hello"}]"#).unwrap();
    let line = with(&["--endpoints", bad.to_str().unwrap()])
        .fails_with(400)
        .to_owned();
    assert!(line.contains("<Handler>.<Method>"), "{line}");
    // Neither --endpoints nor --openapi: the app's /openapi.json, here unreachable.
    let line = place.run(&base).fails_with(503).to_owned();
    assert!(line.contains("--endpoints FILE"), "{line}");
    let out = place.run(&[&base[..], &["--endpoints", file, "--openapi", "http://x"]].concat());
    assert_eq!(out.code, Some(2), "both: clap's usage error: {out}");
    let _ = std::fs::remove_file(endpoints);
    let _ = std::fs::remove_file(bad);
}
