//! `micro` against greeter-server processes registered in a real etcd
//! (`MICRO_TEST_ETCD`, e.g. `127.0.0.1:2379`; skipped with a printed line
//! when unset, unless `MICRO_TEST_REQUIRE_BACKENDS=1`).
//!
//! A network namespace could not reach the host's etcd, so these processes
//! run on the host's loopback. The etcd may be shared with other tests and
//! with nodes an earlier run left behind: every test starts nodes of
//! versions of its own and looks only at those.
#![cfg(feature = "etcd")]

mod support;

use serde_json::{Value, json};
use support::{
    Greeter, LIMIT, Place, SERVICE, check_description, find, greeting, interrupt, line_where,
    squeeze, unique,
};

/// The JSON line of a watch for `event` of `version`.
fn change(watch: &support::Proc, event: &str, version: &str) -> Value {
    let line = line_where(watch, &format!("{event} of {version}"), |line| {
        serde_json::from_str::<Value>(line)
            .is_ok_and(|v| v["event"] == event && v["version"] == version)
    });
    serde_json::from_str(&line).unwrap()
}

#[test]
fn over_etcd_every_command_finds_and_calls_the_nodes() {
    let Some(place) = Place::etcd() else { return };
    let tag = unique("e2e");
    let (v1, v2, v3) = (
        format!("1.0.0-{tag}"),
        format!("1.1.0-{tag}"),
        format!("0.9.0-{tag}"),
    );
    let a = place.greeter(&v1, &[]);
    let b = place.greeter(&v2, &[]);

    // services, describe, get service.
    let table = squeeze(place.run(&["services"]).ok());
    assert!(table.contains(SERVICE), "{table}");
    let services = place.run(&["services", "-o", "json"]).json();
    let greeter = find(&services, "name", SERVICE);
    for version in [&v1, &v2] {
        assert!(
            greeter["versions"]
                .as_array()
                .unwrap()
                .contains(&json!(version)),
            "{version} in {greeter:#}"
        );
    }
    assert!(greeter["nodes"].as_u64().unwrap() >= 2, "{greeter:#}");
    assert_eq!(greeter["endpoints"], 4);
    let described = place.run(&["describe", "greeter", "-o", "json"]).json();
    check_description(&described, &[&a, &b]);
    let got = place.run(&["get", "service", SERVICE, "-o", "json"]).json();
    check_description(&got, &[&a, &b]);
    let text = squeeze(place.run(&["describe", "greeter"]).ok());
    for wanted in [
        format!("service {SERVICE} version {v1}"),
        format!("service {SERVICE} version {v2}"),
        "name string The name to greet.".to_owned(),
        a.address.clone(),
        b.address.clone(),
    ] {
        assert!(text.contains(&wanted), "{wanted:?} in:\n{text}");
    }

    // call: argument, stdin, metadata, version, address.
    let out = place.run(&[
        "call",
        "greeter",
        "hello",
        r#"{"name":"A"}"#,
        "--version",
        &v1,
    ]);
    assert_eq!(out.json(), greeting("A"));
    let out = place.run_with_stdin(
        &[
            "call",
            SERVICE,
            "Greeter.Hello",
            "-",
            "--version",
            &v2,
            "-m",
            "k=v",
        ],
        "{\"name\":\"B\"}",
    );
    assert_eq!(out.json(), greeting("B"));
    let out = place.run(&[
        "call",
        SERVICE,
        "hello",
        r#"{"name":"C"}"#,
        "--address",
        &b.address,
    ]);
    assert_eq!(out.json(), greeting("C"));

    // The dynamic form, options before and after its words.
    let out = place.run(&["greeter", "hello", "--name", "John", "--version", &v2]);
    assert_eq!(out.json(), greeting("John"));
    let out = place.run(&[
        "greeter",
        "hello",
        "--name",
        "J",
        "--version",
        &v1,
        "-o",
        "json",
    ]);
    assert_eq!(out.json(), greeting("J"));
    let help = squeeze(
        place
            .run(&["greeter", "hello", "--help", "--version", &v1])
            .ok(),
    );
    assert!(help.contains("--name string The name to greet."), "{help}");

    // Streams.
    let out = place.run(&[
        "stream",
        "greeter",
        "hello-stream",
        r#"{"name":"z"}"#,
        "--version",
        &v1,
    ]);
    out.ok();
    assert_eq!(
        out.json_lines(),
        [greeting("z #1"), greeting("z #2"), greeting("z #3")]
    );
    let out = place.run_with_stdin(
        &["stream", "greeter", "collect", "--version", &v2],
        "{\"name\":\"a\"}\n{\"name\":\"b\"}\n",
    );
    out.ok();
    assert_eq!(out.json_lines(), [greeting("a, b")]);
    let out = place.run_with_stdin(
        &["stream", "greeter", "chat", "--version", &v1],
        "{\"name\":\"x\"}\n{\"name\":\"y\"}\n",
    );
    out.ok();
    assert_eq!(out.json_lines(), [greeting("x"), greeting("y")]);

    // A deadline shorter than the node takes.
    let slow = place.greeter(&v3, &[("GREETER_DELAY_MS", "2000")]);
    let out = place.run(&[
        "call",
        "greeter",
        "hello",
        "--version",
        &v3,
        "--timeout",
        "200ms",
    ]);
    out.fails_with(408);
    slow.stop();

    // Health: this test's nodes are ok (nodes that earlier runs left
    // behind may not be, so the exit code is not looked at here).
    let out = place.run(&["health", "greeter", "-o", "json"]);
    let checks: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    for node in [&a, &b] {
        let check = find(&checks, "address", &node.address);
        assert_eq!(check["healthy"], true, "{check:#}");
        assert_eq!(check["version"], node.version.as_str());
    }
    // A node killed without deregistering stays in etcd until its lease
    // runs out: health fails and names it.
    let dead = b.address.clone();
    b.kill();
    let out = place.run(&["health", "greeter"]);
    let line = out.fails_with(503);
    assert!(line.contains("nodes are not healthy"), "{line}");
    let table = squeeze(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.contains(&dead))
        .unwrap_or_else(|| panic!("a row for {dead} in:\n{table}"));
    assert!(!row.starts_with("ok "), "{row}");
    assert!(row.contains(&v2), "{row}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&format!("ok {SERVICE} {v1} ")) && l.contains(&a.address)),
        "{table}"
    );
    a.stop();
}

#[test]
fn over_etcd_watch_shows_a_node_up_and_down() {
    let Some(place) = Place::etcd() else { return };
    let version = format!("2.0.0-{}", unique("e2e"));
    let mut json = place.spawn("micro watch -o json", &["watch", SERVICE, "-o", "json"]);
    json.wait_stderr(&format!("watching {SERVICE}"), LIMIT);
    let mut table = place.spawn("micro watch", &["watch"]);
    table.wait_stderr("watching every service", LIMIT);

    let node: Greeter = place.greeter(&version, &[]);
    let up = change(&json, "node up", &version);
    assert_eq!(up["service"], SERVICE);
    assert_eq!(up["address"], node.address.as_str());
    let id = up["node"].as_str().unwrap().to_owned();
    let line = squeeze(&line_where(&table, "node up", |l| {
        l.contains("node up") && l.contains(&version)
    }));
    assert!(
        line.ends_with(&format!(
            "node up {SERVICE} {version} {id} {}",
            node.address
        )),
        "{line}"
    );

    let address = node.address.clone();
    node.stop();
    let down = change(&json, "node down", &version);
    assert_eq!(down["node"], id.as_str());
    assert_eq!(down["address"], address.as_str());
    change(&json, "service removed", &version);
    let line = squeeze(&line_where(&table, "service removed", |l| {
        l.contains("service removed") && l.contains(&version)
    }));
    assert!(
        line.ends_with(&format!("service removed {SERVICE} {version}")),
        "{line}"
    );
    interrupt(&mut json);
    interrupt(&mut table);
}

#[test]
fn over_etcd_a_subscriber_gets_messages_and_ctrl_c_deregisters_it() {
    let Some(place) = Place::etcd() else { return };
    let topic = unique("topic");
    let mut subscriber = place.spawn("micro subscribe", &["subscribe", &topic]);
    subscriber.wait_stderr(&format!("subscribed to {topic}"), LIMIT);
    let registered = format!("micro.broker.{topic}");
    let names = |place: &Place| -> Vec<String> {
        place
            .run(&["services", "-o", "json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names(&place).contains(&registered));

    place.run(&["publish", &topic, r#"{"a":1}"#]).success();
    let line = line_where(&subscriber, "the message", |_| true);
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"a": 1})
    );

    // Ctrl-C deregisters the subscription: it leaves the registry well
    // before its 60 s lease would run out.
    interrupt(&mut subscriber);
    let deadline = std::time::Instant::now() + LIMIT;
    while names(&place).contains(&registered) {
        assert!(
            std::time::Instant::now() < deadline,
            "{registered} still registered {LIMIT:?} after Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
