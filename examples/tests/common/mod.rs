//! Harness for tests with real processes: the namespace and process
//! handling of [`processes`], and the example binaries.
#![allow(dead_code, missing_docs, unreachable_pub)]

mod processes;

use std::time::{Duration, Instant};

pub use processes::*;

pub const SERVER: &str = env!("CARGO_BIN_EXE_greeter-server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_greeter-client");
pub const LOAD: &str = env!("CARGO_BIN_EXE_greeter-load");

/// Starts a greeter-server in `ns` and waits until it serves.
pub fn server(ns: &Netns, name: &str, env: &[(&str, &str)]) -> Proc {
    let mut cmd = ns.command(SERVER);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc::spawn(name, cmd);
    proc.wait_line("listening on ", Duration::from_secs(20));
    proc
}

/// Starts a greeter-server on 127.0.0.1 with the memory registry (no
/// discovery: callers use its address), `env` on top; returns it and its
/// address once it serves.
pub fn direct_server(env: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = std::process::Command::new(SERVER);
    cmd.env("MICRO_REGISTRY", "memory")
        .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
        .env("RUST_LOG", "micro_runtime=warn")
        .envs(env.iter().copied());
    let server = Proc::spawn("greeter-server", cmd);
    let line = server.wait_line("listening on ", Duration::from_secs(20));
    let address = line.trim_start_matches("listening on ").to_owned();
    (server, address)
}

/// The python of the venv `.ci/run` makes with the packages of
/// `.ci/requirements.txt` (`MICRO_TEST_PYTHON`), or `None` (and a printed
/// line) when the test is skipped; required with
/// `MICRO_TEST_REQUIRE_BACKENDS=1`.
pub fn python() -> Option<String> {
    match std::env::var("MICRO_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => {
            assert!(
                std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "MICRO_TEST_PYTHON is not set, and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!(
                "skipped: MICRO_TEST_PYTHON is not set (the venv's python with \
                 .ci/requirements.txt, see .ci/run)"
            );
            None
        }
    }
}

/// The NATS server binary (`MICRO_TEST_NATS_SERVER`, default
/// `/usr/sbin/nats-server`); `None` (after printing `skipped: …`) when it
/// is missing, unless `MICRO_TEST_REQUIRE_BACKENDS=1`, which fails the test.
pub fn nats_server_binary() -> Option<String> {
    let binary =
        std::env::var("MICRO_TEST_NATS_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    if std::path::Path::new(&binary).exists() {
        return Some(binary);
    }
    let why = format!("no nats-server at {binary} (MICRO_TEST_NATS_SERVER)");
    assert!(
        std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
        "MICRO_TEST_REQUIRE_BACKENDS=1 but {why}"
    );
    println!("skipped: {why}");
    None
}

/// A NATS server of its own inside `ns` on 127.0.0.1:4222 (the namespace's
/// loopback), started from `binary` and ready to serve.
pub fn nats_server(ns: &Netns, binary: &str) -> Proc {
    let mut cmd = ns.command(binary);
    cmd.args(["-a", "127.0.0.1", "-p", "4222"]);
    let proc = Proc::spawn("nats-server", cmd);
    proc.wait_stderr("Server is ready", Duration::from_secs(20));
    proc
}

/// Stops a server with SIGTERM and returns how many calls it served.
pub fn stop_server(mut proc: Proc) -> u64 {
    proc.signal("TERM");
    let status = proc.wait_exit(Duration::from_secs(30));
    assert!(
        status.success(),
        "{} exited with {status}; stderr:\n{}",
        proc.name,
        proc.stderr()
    );
    let line = proc.wait_line("served ", Duration::from_secs(5));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One JSON line of greeter-load.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LoadLine {
    #[serde(default)]
    pub t_ms: u64,
    #[serde(default)]
    pub ok: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub nodes: u64,
    #[serde(default)]
    pub ejected: u64,
    #[serde(default)]
    pub p50_us: u64,
    #[serde(default)]
    pub p99_us: u64,
    #[serde(default)]
    pub p999_us: u64,
    #[serde(default)]
    pub summary: bool,
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, u64>,
}

/// Parses a greeter-load line.
pub fn load_line(line: &str) -> LoadLine {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad load line {line:?}: {e}"))
}

/// Starts greeter-load in `ns` with `args` (and a 200 ms report interval).
pub fn load(ns: &Netns, env: &[(String, String)], args: &[&str]) -> Proc {
    let mut cmd = ns.command(LOAD);
    cmd.args(args).args(["--interval", "200ms"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::spawn("greeter-load", cmd)
}

/// Reads load lines until one satisfies `until`; returns it. Panics when the
/// load ends first or `limit` passes.
pub fn wait_load(
    load: &Proc,
    limit: Duration,
    mut until: impl FnMut(&LoadLine) -> bool,
) -> LoadLine {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(line) = load.next_line(Duration::from_secs(5)) {
            let line = load_line(&line);
            assert!(!line.summary, "the load ended early: {line:?}");
            if until(&line) {
                return line;
            }
        }
    }
    panic!(
        "load never reached the expected state; stderr:\n{}",
        load.stderr()
    );
}

/// Waits for greeter-load to finish and returns its summary line.
pub fn load_summary(mut load: Proc) -> LoadLine {
    assert!(
        load.wait_exit(Duration::from_secs(120)).success(),
        "{}",
        load.stderr()
    );
    let line = load
        .rest()
        .into_iter()
        .find(|l| l.contains("\"summary\""))
        .expect("a summary line");
    load_line(&line)
}
