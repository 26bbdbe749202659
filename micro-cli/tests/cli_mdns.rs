//! `micro` against two greeter-server processes (versions 1.0.0 and
//! 1.1.0) discovered over mDNS in a private network namespace: listing,
//! describing, calling (argument, stdin, metadata, address, version,
//! timeout, the dynamic form), health and watch. Every command is a real
//! `micro` process.

mod support;

use serde_json::json;
use support::{
    Greeter, Place, SERVICE, check_description, find, greeting, interrupt, line_containing,
    line_where, squeeze,
};

fn two_versions(place: &Place) -> (Greeter, Greeter) {
    (place.greeter("1.0.0", &[]), place.greeter("1.1.0", &[]))
}

#[test]
fn services_describe_and_get_service_show_both_versions() {
    let place = Place::mdns();
    let (a, b) = two_versions(&place);

    let table = squeeze(place.run(&["services"]).ok());
    assert!(table.contains("NAME VERSIONS NODES ENDPOINTS"), "{table}");
    assert!(
        table.contains(&format!("{SERVICE} 1.0.0, 1.1.0 2 4")),
        "{table}"
    );
    assert_eq!(
        squeeze(place.run(&["list"]).ok()),
        table,
        "`list` is `services`"
    );

    let services = place.run(&["services", "-o", "json"]).json();
    let greeter = find(&services, "name", SERVICE);
    assert_eq!(greeter["versions"], json!(["1.0.0", "1.1.0"]));
    assert_eq!(greeter["nodes"], 2);
    assert_eq!(greeter["endpoints"], 4);

    let text = place.run(&["describe", "greeter"]).ok().to_owned();
    let flat = squeeze(&text);
    for wanted in [
        "service com.example.srv.greeter version 1.0.0",
        "service com.example.srv.greeter version 1.1.0",
        "Greeter.Hello unary, idempotent",
        "Says hello to one person.",
        "Greeter.HelloStream server",
        "Greeter.Collect client",
        "Greeter.Chat bidi",
        "request greeter.v1.Request",
        "name string The name to greet.",
        "response greeter.v1.Response",
        "greeting string The text, e.g. \"Hello John\".",
        &a.address,
        &b.address,
    ] {
        assert!(flat.contains(wanted), "{wanted:?} in:\n{text}");
    }

    let described = place.run(&["describe", "greeter", "-o", "json"]).json();
    check_description(&described, &[&a, &b]);
    assert_eq!(
        place.run(&["get", "service", SERVICE, "-o", "json"]).json(),
        described,
        "`get service` is `describe`"
    );
    assert_eq!(place.run(&["get", "service", "greeter"]).ok(), text);
    // The dynamic form without an endpoint describes the service.
    assert_eq!(place.run(&["greeter"]).ok(), text);
}

#[test]
fn call_takes_its_request_from_an_argument_or_stdin_with_metadata() {
    let place = Place::mdns();
    let _nodes = two_versions(&place);

    let out = place.run(&["call", SERVICE, "Greeter.Hello", r#"{"name":"John"}"#]);
    assert_eq!(out.json(), greeting("John"));
    let out = place.run_with_stdin(&["call", "greeter", "hello", "-"], "{\"name\":\"Stdin\"}\n");
    assert_eq!(out.json(), greeting("Stdin"));
    let out = place.run(&[
        "call",
        "greeter",
        "hello",
        r#"{"name":"Meta"}"#,
        "-m",
        "trace=abc",
        "--metadata",
        "team=core",
        "--retries",
        "1",
    ]);
    assert_eq!(out.json(), greeting("Meta"));
    // No request: `{}`.
    let out = place.run(&["call", "greeter", "hello", "--version", "1.0.0"]);
    assert_eq!(out.json(), greeting(""));
}

#[test]
fn call_goes_to_the_version_or_address_asked_for_within_its_deadline() {
    let place = Place::mdns();
    let fast = place.greeter("1.0.0", &[]);
    let slow = place.greeter("1.1.0", &[("GREETER_DELAY_MS", "2000")]);

    // 1.1.0 takes 2 s a call: a deadline of 1.5 s passes only on 1.0.0, a
    // deadline of 200 ms fails only on 1.1.0.
    for name in ["v1", "v2", "v3"] {
        let request = format!(r#"{{"name":"{name}"}}"#);
        let out = place.run(&[
            "call",
            "greeter",
            "hello",
            &request,
            "--version",
            "1.0.0",
            "--timeout",
            "1500ms",
        ]);
        assert_eq!(out.json(), greeting(name));
    }
    let out = place.run(&[
        "call",
        "greeter",
        "hello",
        "--version",
        "1.1.0",
        "--timeout",
        "200ms",
    ]);
    out.fails_with(408);
    let out = place.run(&[
        "call",
        "greeter",
        "hello",
        r#"{"name":"Slow"}"#,
        "--version",
        "1.1.0",
    ]);
    assert_eq!(
        out.json(),
        greeting("Slow"),
        "without a deadline it answers"
    );

    // `--address` skips discovery and calls that node.
    for node in [&fast, &fast] {
        let out = place.run(&[
            "call",
            SERVICE,
            "hello",
            r#"{"name":"Direct"}"#,
            "--address",
            &node.address,
            "--timeout",
            "1500ms",
        ]);
        assert_eq!(out.json(), greeting("Direct"));
    }
    let out = place.run(&[
        "call",
        SERVICE,
        "Greeter.Hello",
        "--address",
        &slow.address,
        "--timeout",
        "200ms",
    ]);
    let line = out.fails_with(408);
    assert!(line.starts_with("micro: "), "{line}");
}

#[test]
fn the_dynamic_form_builds_the_request_from_flags_and_explains_itself() {
    let place = Place::mdns();
    let _nodes = two_versions(&place);

    let out = place.run(&["greeter", "hello", "--name", "John"]);
    assert_eq!(out.json(), greeting("John"));
    // Options every command takes go before or after the words.
    for args in [
        &[
            "-o",
            "json",
            "greeter",
            "hello",
            "--name=Eq",
            "--version",
            "1.1.0",
        ][..],
        &[
            "greeter",
            "hello",
            "--name=Eq",
            "--version",
            "1.1.0",
            "-o",
            "json",
        ],
        &[
            "greeter",
            "hello",
            "--name",
            "Eq",
            "--output=json",
            "--registry",
            "mdns",
        ],
    ] {
        assert_eq!(place.run(args).json(), greeting("Eq"));
    }
    let out = place.run(&["greeter", "hello-stream", "--name", "z"]);
    assert_eq!(
        out.json_lines(),
        [greeting("z #1"), greeting("z #2"), greeting("z #3")]
    );

    let help = place.run(&["greeter", "hello", "--help"]).ok().to_owned();
    let flat = squeeze(&help);
    for wanted in [
        "Greeter.Hello (unary) on com.example.srv.greeter",
        "Says hello to one person.",
        "Usage: micro greeter hello [--FIELD VALUE]...",
        "Fields: greeter.v1.Request",
        "--name string The name to greet.",
        "--timeout",
        "--version",
    ] {
        assert!(flat.contains(wanted), "{wanted:?} in:\n{help}");
    }
}

#[test]
fn health_checks_every_node_and_fails_for_one_that_cannot_be_reached() {
    let place = Place::mdns();
    let (a, b) = two_versions(&place);

    let out = place.run(&["health"]);
    let table = squeeze(out.ok());
    for node in [&a, &b] {
        let row = table
            .lines()
            .find(|l| l.contains(&node.address))
            .unwrap_or_else(|| panic!("a row for {} in:\n{table}", node.address));
        assert!(
            row.starts_with(&format!("ok {SERVICE} {} ", node.version)),
            "{row}"
        );
    }
    let checks = place.run(&["health", "greeter", "-o", "json"]).json();
    assert_eq!(checks.as_array().unwrap().len(), 2, "{checks:#}");
    for node in [&a, &b] {
        let check = find(&checks, "address", &node.address);
        assert_eq!(check["healthy"], true);
        assert_eq!(check["status"], "ok");
        assert_eq!(check["version"], node.version.as_str());
    }

    // Registered, but at an address where nothing listens.
    let _unreachable = place.greeter("1.1.0", &[("MICRO_SERVER_ADVERTISE", "127.0.0.1:1")]);
    let out = place.run(&["health", "greeter"]);
    let line = out.fails_with(503);
    assert!(line.contains("1 of 3 nodes are not healthy"), "{line}");
    let table = squeeze(&out.stdout);
    let bad = table
        .lines()
        .find(|l| l.contains(" 127.0.0.1:1 "))
        .unwrap_or_else(|| panic!("a row for 127.0.0.1:1 in:\n{table}"));
    assert!(!bad.starts_with("ok "), "{bad}");
    assert!(bad.contains(SERVICE), "{bad}");
    for node in [&a, &b] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("ok ") && l.contains(&node.address)),
            "{table}"
        );
    }
    // With `-o json`: the checks, then the error, each one JSON line.
    let out = place.run(&["health", "-o", "json"]);
    out.fails_with(503);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 2, "{out}");
    let bad = find(&lines[0], "address", "127.0.0.1:1");
    assert_eq!(bad["healthy"], false, "{bad:#}");
    assert_eq!(lines[1]["error"]["code"], 503);
}

#[test]
fn watch_prints_nodes_coming_up_and_going_down() {
    let place = Place::mdns();
    let mut watch = place.spawn("micro watch", &["watch"]);
    watch.wait_stderr("watching every service", support::LIMIT);
    let mut json = place.spawn("micro watch -o json", &["watch", SERVICE, "-o", "json"]);
    json.wait_stderr(&format!("watching {SERVICE}"), support::LIMIT);

    let node = place.greeter("1.0.0", &[]);
    let id = {
        let added = line_containing(&watch, "service added");
        assert_eq!(
            squeeze(&added).split_once(' ').unwrap().1,
            format!("service added {SERVICE} 1.0.0"),
            "{added}"
        );
        let clock = added.split_whitespace().next().unwrap();
        assert!(
            clock.len() == 8 && clock.chars().filter(|c| *c == ':').count() == 2,
            "HH:MM:SS first: {added}"
        );
        let up = squeeze(&line_containing(&watch, "node up"));
        let rest = up
            .split_once(&format!(" node up {SERVICE} 1.0.0 "))
            .unwrap_or_else(|| panic!("{up}"))
            .1;
        let (id, address) = rest.split_once(' ').unwrap();
        assert_eq!(address, node.address, "{up}");
        id.to_owned()
    };
    let up = line_where(&json, "\"node up\"", |l| l.contains("\"node up\""));
    let up: serde_json::Value = serde_json::from_str(&up).unwrap();
    assert_eq!(up["service"], SERVICE);
    assert_eq!(up["version"], "1.0.0");
    assert_eq!(up["node"], id.as_str());
    assert_eq!(up["address"], node.address.as_str());
    assert!(up["atMs"].as_u64().is_some_and(|ms| ms > 0), "{up}");

    let address = node.address.clone();
    node.stop();
    let down = squeeze(&line_containing(&watch, "node down"));
    assert!(
        down.ends_with(&format!("node down {SERVICE} 1.0.0 {id} {address}")),
        "{down}"
    );
    let removed = squeeze(&line_containing(&watch, "service removed"));
    assert!(
        removed.ends_with(&format!("service removed {SERVICE} 1.0.0")),
        "{removed}"
    );
    let down = line_where(&json, "\"node down\"", |l| l.contains("\"node down\""));
    let down: serde_json::Value = serde_json::from_str(&down).unwrap();
    assert_eq!(down["node"], id.as_str());
    assert_eq!(down["address"], address.as_str());

    interrupt(&mut watch);
    interrupt(&mut json);
}
