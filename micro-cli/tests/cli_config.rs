//! `micro config get|set|delete|list|watch` as a user runs it: the real
//! `micro` binary against a real etcd (`MICRO_TEST_ETCD`; skipped with a
//! printed line when unset, unless `MICRO_TEST_REQUIRE_BACKENDS=1`). Each
//! test keeps to a key prefix of its own.
#![cfg(feature = "etcd")]

mod support;

use serde_json::{Value, json};
use support::{LIMIT, Place, interrupt, line_where, unique};

/// `micro config ARGS` with `--prefix` of this test.
fn config_args<'a>(prefix: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["config", "--prefix", prefix];
    all.extend_from_slice(args);
    all
}

#[test]
fn set_get_list_delete_through_the_binary() {
    let Some(place) = Place::etcd() else { return };
    let prefix = format!("/micro-test/{}/", unique("cli-config"));
    let run = |args: &[&str]| place.run(&config_args(&prefix, args));

    run(&["set", "app/db/host", "db1"]).ok();
    run(&["set", "app/db/port", "5432"]).ok();
    // A value starting with `-`, and one from stdin.
    run(&["set", "app/offset", "-5"]).ok();
    let stdin = place.run_with_stdin(
        &config_args(&prefix, &["set", "app/motd", "-"]),
        "hello\nworld",
    );
    stdin.ok();

    assert_eq!(
        run(&["get", "app/db"]).json(),
        json!({"host": "db1", "port": 5432})
    );
    assert_eq!(
        run(&["get", "app/db/host", "-o", "json"]).json(),
        json!("db1")
    );
    assert_eq!(
        run(&["get", "app"]).json(),
        json!({"db": {"host": "db1", "port": 5432}, "offset": -5, "motd": "hello\nworld"})
    );

    let listed = run(&["list", "app", "-o", "json"]).json();
    assert_eq!(
        listed,
        json!([
            {"key": "app/db/host", "value": "db1"},
            {"key": "app/db/port", "value": 5432},
            {"key": "app/motd", "value": "hello\nworld"},
            {"key": "app/offset", "value": -5},
        ])
    );
    let table = run(&["list"]).ok().to_owned();
    assert!(table.starts_with("KEY"), "{table}");
    assert!(
        table.contains("app/db/host") && table.contains("db1"),
        "{table}"
    );

    let deleted = run(&["delete", "app/db", "-o", "json"]).json();
    assert_eq!(deleted, json!({"key": "app/db", "deleted": 2}));
    run(&["get", "app/db"]).fails_with(404);
    run(&["delete", "app/db"]).fails_with(404);
    assert_eq!(run(&["delete", "app"]).ok().trim(), "deleted 2 keys");
}

#[test]
fn watch_prints_each_change_as_a_line() {
    let Some(place) = Place::etcd() else { return };
    let prefix = format!("/micro-test/{}/", unique("cli-config-watch"));
    let mut json_watch = place.spawn(
        "watch json",
        &config_args(&prefix, &["watch", "app", "-o", "json"]),
    );
    let mut table_watch = place.spawn("watch table", &config_args(&prefix, &["watch"]));
    json_watch.wait_stderr("watching", LIMIT);
    table_watch.wait_stderr("watching", LIMIT);

    place
        .run(&config_args(&prefix, &["set", "other", "x"]))
        .ok();
    place
        .run(&config_args(&prefix, &["set", "app/db/port", "6543"]))
        .ok();
    place.run(&config_args(&prefix, &["delete", "app"])).ok();

    let put = line_where(&json_watch, "the put", |l| l.contains("\"put\""));
    let put: Value = serde_json::from_str(&put).unwrap();
    assert_eq!(put["key"], "app/db/port");
    assert_eq!(put["value"], 6543);
    assert!(put["atMs"].as_u64().is_some(), "{put}");
    let delete = line_where(&json_watch, "the delete", |l| l.contains("\"delete\""));
    let delete: Value = serde_json::from_str(&delete).unwrap();
    assert_eq!(delete["key"], "app/db/port");

    // The unfiltered watch sees `other` too, in the order of the changes.
    assert_eq!(line_where(&table_watch, "other", |_| true), "put other x");
    assert_eq!(
        line_where(&table_watch, "the put", |_| true),
        "put app/db/port 6543"
    );
    assert_eq!(
        line_where(&table_watch, "the delete", |_| true),
        "delete app/db/port"
    );
    interrupt(&mut json_watch);
    interrupt(&mut table_watch);
    place.run(&config_args(&prefix, &["delete", "other"])).ok();
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let Some(place) = Place::etcd() else { return };
    let prefix = format!("/micro-test/{}/", unique("cli-config-bad"));
    let run = |args: &[&str]| place.run(&config_args(&prefix, args));

    let line = run(&["set", "", "x"]).fails_with(400).to_owned();
    assert!(line.contains("empty"), "{line}");
    run(&["get", "/"]).fails_with(400);
    run(&["delete", ""]).fails_with(400);
    run(&["set", "app//x", "1"]).fails_with(400);
    run(&["get", "app/none"]).fails_with(404);
    // Not a flag of `micro config`: a usage error (exit 2).
    let usage = run(&["get", "app", "--bogus"]);
    assert_eq!(usage.code, Some(2), "{usage}");
    support::no_panic(&usage.stderr);
    // An etcd that does not answer: 503, one line.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = place.run(&config_args(
        &prefix,
        &["get", "app", "--address", &closed.to_string()],
    ));
    let line = down.fails_with(503);
    assert!(line.contains(&closed.to_string()), "{line}");
}
