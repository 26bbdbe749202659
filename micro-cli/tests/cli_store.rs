//! `micro store` as a user runs it: the real binary against the file store
//! (a fresh file per test, on the host) and against Redis
//! (`MICRO_TEST_REDIS`; skipped without it unless
//! `MICRO_TEST_REQUIRE_BACKENDS=1`). Each `micro` is a process of its own,
//! so the file store's records are read back after the writer has exited.

mod support;

use std::process::Command;

use serde_json::json;
use support::{Place, no_panic, run, unique};

/// `micro store ARGS` on `backend` at `address`, in `database`, with no
/// `MICRO_STORE*` of the test's own environment.
fn store(place: &Place, backend: &str, address: &str, database: &str, args: &[&str]) -> Command {
    let mut all = vec!["store"];
    all.extend_from_slice(args);
    let mut cmd = place.micro(&all);
    for name in [
        "MICRO_STORE_ADDRESS",
        "MICRO_STORE_DATABASE",
        "MICRO_STORE_TABLE",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("MICRO_STORE", backend)
        .env("MICRO_STORE_ADDRESS", address)
        .env("MICRO_STORE_DATABASE", database);
    cmd
}

fn temp_file() -> String {
    std::env::temp_dir()
        .join("micro-cli-store")
        .join(format!("{}.redb", unique("store")))
        .to_string_lossy()
        .into_owned()
}

/// Write, read (text and JSON), list, page, delete, 404: the same steps on
/// any backend.
fn round_trip(backend: &str, address: &str) {
    let place = Place::loopback();
    let database = unique("db").replace('-', "_");
    let micro = |args: &[&str]| run(store(&place, backend, address, &database, args), None);
    let with_stdin = |args: &[&str], stdin: &str| {
        run(
            store(&place, backend, address, &database, args),
            Some(stdin),
        )
    };

    micro(&["write", "greeting", "hello", "--ttl", "1h", "-m", "lang=en"]).success();
    assert_eq!(micro(&["read", "greeting"]).ok(), "hello\n");
    let read = micro(&["read", "greeting", "-o", "json"]).json();
    assert_eq!(read["key"], "greeting");
    assert_eq!(read["value"], "hello");
    assert_eq!(read["metadata"], json!({"lang": "en"}));
    let left = read["expiry_ms"].as_u64().expect("an expiry");
    assert!(left > 3_000_000 && left <= 3_600_000, "{read}");

    with_stdin(&["write", "gr/2", "-"], "from stdin").success();
    micro(&["write", "gr/1", "one"]).success();
    micro(&["write", "gr/3", "three"]).success();
    micro(&["write", "ключ", "значение"]).success();
    assert_eq!(
        micro(&["list", "--prefix", "gr/"]).ok(),
        "gr/1\ngr/2\ngr/3\n"
    );
    assert_eq!(
        micro(&["list", "-o", "json"]).json(),
        json!(["gr/1", "gr/2", "gr/3", "greeting", "ключ"])
    );
    assert_eq!(
        micro(&["list", "--prefix", "gr", "--offset", "1", "--limit", "2"]).ok(),
        "gr/2\ngr/3\n"
    );
    assert_eq!(
        micro(&["read", "gr/", "--prefix", "--limit", "2"]).ok(),
        "gr/1\tone\ngr/2\tfrom stdin\n"
    );
    let page = micro(&["read", "gr/", "--prefix", "--offset", "2", "-o", "json"]).json();
    assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page[0]["key"], "gr/3");
    assert_eq!(page[0]["expiry_ms"], json!(null));
    assert_eq!(micro(&["read", "ключ"]).ok(), "значение\n");
    // Another table of the same database is empty.
    assert_eq!(micro(&["list", "--table", "other"]).ok(), "");

    let deleted = micro(&["delete", "greeting", "-o", "json"]).json();
    assert_eq!(deleted, json!({"key": "greeting", "deleted": true}));
    let out = micro(&["read", "greeting"]);
    let line = out.fails_with(404);
    assert!(line.contains("greeting"), "{out}");
    let out = micro(&["read", "greeting", "-o", "json"]);
    out.fails_with(404);
    let error: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).expect("the error as JSON");
    assert_eq!(error["error"]["code"], 404);
    micro(&["delete", "greeting"]).success();
}

#[test]
fn the_file_store_keeps_records_between_runs() {
    round_trip("file", &temp_file());
}

#[test]
fn the_redis_store_from_the_command_line() {
    let Some(address) = support_backend("MICRO_TEST_REDIS") else {
        return;
    };
    round_trip("redis", &address);
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let place = Place::loopback();
    let file = temp_file();
    let micro = |args: &[&str]| run(store(&place, "file", &file, "micro", args), None);

    // The command line itself: usage errors, exit code 2.
    for (args, says) in [
        (&["read"][..], "<KEY>"),
        (&["write", "k"], "<VALUE>"),
        (&["write", "k", "v", "--ttl", "soon"], "soon"),
        (&["list", "--limit", "many"], "many"),
        (&["read", "k", "--limit", "2"], "--prefix"),
        (&["frobnicate"], "frobnicate"),
        (&["read", "k", "--bogus"], "--bogus"),
    ] {
        let out = micro(args);
        assert_eq!(out.code, Some(2), "{out}");
        no_panic(&out.stderr);
        assert!(out.stderr.contains(says), "{says:?} in: {out}");
        assert_eq!(out.stdout, "", "{out}");
    }

    // What the store refuses: one line, its code, exit code 1.
    let out = micro(&["read", "missing"]);
    assert!(out.fails_with(404).contains("missing"), "{out}");
    let out = micro(&["--store", "floppy", "list"]);
    assert!(out.fails_with(400).contains("floppy"), "{out}");
    let out = micro(&["list", "--table", "a/b"]);
    assert!(out.fails_with(400).contains("a/b"), "{out}");
    let out = micro(&["write", "", "v"]);
    assert!(out.fails_with(400).contains("empty"), "{out}");
    let big = "x".repeat(micro_runtime::store::MAX_VALUE + 1);
    let out = run(
        store(&place, "file", &file, "micro", &["write", "big", "-"]),
        Some(&big),
    );
    assert!(out.fails_with(400).contains("limit"), "{out}");
    micro(&["write", "big", "small"]).success();
    let out = run(
        store(&place, "file", &file, "micro", &["write", "big", "-"]),
        Some(&big),
    );
    out.fails_with(400);
    assert_eq!(
        micro(&["read", "big"]).ok(),
        "small\n",
        "the old value stays"
    );

    // A file another process holds (as a running service would): 503 saying so.
    let held = temp_file();
    let holder = micro_runtime::store::file::FileStore::open(
        &micro_runtime::store::StoreOptions::with_address(&held),
    )
    .expect("the test process opens the file");
    let out = run(store(&place, "file", &held, "micro", &["list"]), None);
    assert!(out.fails_with(503).contains("another process"), "{out}");
    drop(holder);
    assert_eq!(
        run(store(&place, "file", &held, "micro", &["list"]), None).ok(),
        ""
    );

    // A store whose server is down: 503 naming it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    for backend in ["redis", "etcd"] {
        let out = run(store(&place, backend, &address, "micro", &["list"]), None);
        assert!(out.fails_with(503).contains(&address), "{out}");
    }
}

/// The address in `var`, or `None` (skipped) when unset.
fn support_backend(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ => {
            assert!(
                std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "{var} is not set and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!("skipped: {var} not set");
            None
        }
    }
}
