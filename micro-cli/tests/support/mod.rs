//! Shared by the end-to-end tests: `micro` and `greeter-server` as real
//! processes, either in a private network namespace discovering over mDNS
//! ([`Place::mdns`]) or on the host's loopback with the etcd registry
//! ([`Place::etcd`]).
//!
//! Every wait is bounded and every child is killed when its handle drops.
#![allow(dead_code, missing_docs, unreachable_pub)]

#[path = "../../../examples/tests/common/processes.rs"]
mod processes;

pub mod gateway;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use processes::{Netns, Proc};
use serde_json::Value;

/// The `micro` binary under test.
pub const MICRO: &str = env!("CARGO_BIN_EXE_micro");
/// The greeter's service name.
pub const SERVICE: &str = "com.example.srv.greeter";
/// The longest any one step may take.
pub const LIMIT: Duration = Duration::from_secs(30);

/// `greeter-server`, built once next to `micro` with the etcd registry
/// when this crate has it.
///
/// Not always a no-op under `cargo test --workspace`: cargo resolves the
/// features of `-p examples` alone differently from the whole workspace's,
/// so the first run after a change compiles the runtime once more for it
/// (and leaves this build at `target/debug/greeter-server` until the next
/// build of `examples` links its own again).
pub fn greeter_server() -> &'static Path {
    static SERVER: OnceLock<PathBuf> = OnceLock::new();
    SERVER.get_or_init(|| example("greeter-server"))
}

/// `greeter-client` (the typed client), built as [`greeter_server`] is.
pub fn greeter_client() -> &'static Path {
    static CLIENT: OnceLock<PathBuf> = OnceLock::new();
    CLIENT.get_or_init(|| example("greeter-client"))
}

/// `bot-command-echo` (the `echo` command of `micro bot`), built as
/// [`greeter_server`] is.
pub fn bot_command_echo() -> &'static Path {
    static ECHO: OnceLock<PathBuf> = OnceLock::new();
    ECHO.get_or_init(|| example("bot-command-echo"))
}

/// `trace-demo` (the front and audit services of the trace test), built as
/// [`greeter_server`] is.
pub fn trace_demo() -> &'static Path {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    DEMO.get_or_init(|| example("trace-demo"))
}

/// Builds the binary `bin` of `examples` next to `micro` (with the etcd
/// registry, OTLP export and TLS when this crate has them) and returns its path.
fn example(bin: &str) -> PathBuf {
    let micro = Path::new(MICRO);
    let profile_dir = micro.parent().expect("micro lives in a directory");
    let target = profile_dir.parent().expect("a target directory");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "-p", "examples", "--bin", bin])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    if cfg!(feature = "etcd") {
        cargo.args(["--features", "etcd"]);
    }
    if cfg!(feature = "otel") {
        cargo.args(["--features", "otel"]);
    }
    if cfg!(feature = "tls") {
        cargo.args(["--features", "tls"]);
    }
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    let started = Instant::now();
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build {bin}: {e}"));
    assert!(status.success(), "building {bin} failed: {status}");
    eprintln!("{bin} built in {:?}", started.elapsed());
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The etcd the etcd tests use (`MICRO_TEST_ETCD`), or `None`: the test
/// prints that it is skipped, unless `MICRO_TEST_REQUIRE_BACKENDS=1`.
pub fn etcd_address() -> Option<String> {
    match std::env::var("MICRO_TEST_ETCD") {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ => {
            assert!(
                std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "MICRO_TEST_ETCD is not set and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!("skipped: MICRO_TEST_ETCD not set");
            None
        }
    }
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

/// Something no other test (nor an earlier run) uses: `what-<pid>-<n>-<time>`.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{what}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where the processes of a test run and find each other.
pub enum Place {
    /// A private network namespace, mDNS on its loopback.
    Mdns(Netns),
    /// The host's loopback, the etcd registry at this address.
    Etcd(String),
    /// The host's loopback, mDNS on `lo` at a port of its own (for a test
    /// whose own sockets must reach the processes, as an IRC client does).
    Loopback(u16),
}

impl Place {
    /// A fresh network namespace.
    pub fn mdns() -> Self {
        Place::Mdns(Netns::new())
    }

    /// The host, with the etcd of `MICRO_TEST_ETCD`; `None` when skipped.
    pub fn etcd() -> Option<Self> {
        etcd_address().map(Place::Etcd)
    }

    /// The host's loopback with mDNS on a free UDP port, which no other
    /// test's processes use.
    pub fn loopback() -> Self {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
        Place::Loopback(socket.local_addr().unwrap().port())
    }

    /// A command running `program` here, with the registry set and servers
    /// on an ephemeral loopback port.
    pub fn command(&self, program: impl AsRef<Path>) -> Command {
        let program = program.as_ref().to_str().expect("a UTF-8 path");
        let mut cmd = match self {
            Place::Mdns(ns) => ns.command(program),
            Place::Loopback(port) => {
                let mut cmd = Command::new(program);
                cmd.env("MICRO_REGISTRY", "mdns")
                    .env("MICRO_MDNS_INTERFACES", "lo")
                    .env("MICRO_MDNS_PORT", port.to_string())
                    .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
                    .env(
                        "RUST_LOG",
                        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                    );
                cmd
            }
            Place::Etcd(address) => {
                let mut cmd = Command::new(program);
                cmd.env("MICRO_REGISTRY", "etcd")
                    .env("MICRO_REGISTRY_ADDRESS", address)
                    .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
                    .env(
                        "RUST_LOG",
                        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                    );
                cmd
            }
        };
        // Nothing the test's own environment sets leaks in.
        for name in [
            "MICRO_OUTPUT",
            "MICRO_BROKER",
            "MICRO_BROKER_ADDRESS",
            "MICRO_SELECTOR",
            "MICRO_TRANSPORT",
            "MICRO_CLIENT_RETRIES",
            "MICRO_CLIENT_REQUEST_TIMEOUT",
            "MICRO_TLS_CERT",
            "MICRO_TLS_KEY",
            "MICRO_TLS_CLIENT_CA",
            "MICRO_TLS_CA",
            "MICRO_TLS_CLIENT_CERT",
            "MICRO_TLS_CLIENT_KEY",
            "MICRO_TLS_SERVER_NAME",
            "NO_COLOR",
        ] {
            cmd.env_remove(name);
        }
        if let Place::Mdns(_) | Place::Loopback(_) = self {
            cmd.env_remove("MICRO_REGISTRY_ADDRESS");
        }
        cmd
    }

    /// `micro ARGS` here: no logs (as a user runs it), and a backtrace if
    /// it ever panics, so that the tests would see one.
    pub fn micro(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(MICRO);
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1");
        cmd
    }

    /// Runs `micro ARGS` to its end (stdin empty).
    pub fn run(&self, args: &[&str]) -> Outcome {
        run(self.micro(args), None)
    }

    /// Runs `micro ARGS` with `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Outcome {
        run(self.micro(args), Some(stdin))
    }

    /// Starts `micro ARGS` in the background (stdin empty).
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        let mut cmd = self.micro(args);
        cmd.stdin(Stdio::null());
        Proc::spawn(name, cmd)
    }

    /// Starts `micro ARGS` in the background with a pipe to its stdin.
    pub fn spawn_with_stdin(&self, name: &str, args: &[&str]) -> (Proc, std::io::PipeWriter) {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        let mut cmd = self.micro(args);
        cmd.stdin(reader);
        let proc = Proc::spawn(name, cmd);
        // `cmd` (holding the read end) is gone: the writer's close is EOF.
        (proc, writer)
    }

    /// Starts a greeter-server of `version` (with `env`) and waits until it
    /// is registered and serving.
    pub fn greeter(&self, version: &str, env: &[(&str, &str)]) -> Greeter {
        let mut cmd = self.command(greeter_server());
        cmd.env("GREETER_VERSION", version).stdin(Stdio::null());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let started = Instant::now();
        let proc = Proc::spawn(&format!("greeter-server {version}"), cmd);
        let line = proc.wait_line("listening on ", LIMIT);
        eprintln!(
            "greeter-server {version}: {line} after {:?}",
            started.elapsed()
        );
        // It prints the line just before it starts catching SIGTERM: a
        // SIGTERM in between would kill it instead of stopping it.
        wait_catching(&proc, 15);
        let address = line.trim_start_matches("listening on ").trim().to_owned();
        assert!(
            address.starts_with("127.0.0.1:"),
            "listening on loopback only: {line}"
        );
        Greeter {
            proc,
            version: version.to_owned(),
            address,
        }
    }
}

/// A running greeter-server.
pub struct Greeter {
    pub proc: Proc,
    pub version: String,
    /// `127.0.0.1:PORT`, from its `listening on` line.
    pub address: String,
}

impl Greeter {
    /// SIGTERM: it deregisters and exits 0.
    pub fn stop(mut self) {
        self.proc.signal("TERM");
        let status = self.proc.wait_exit(LIMIT);
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            self.proc.name,
            self.proc.stderr()
        );
    }

    /// SIGKILL: it stays registered until its TTL runs out.
    pub fn kill(mut self) {
        self.proc.signal("KILL");
        self.proc.wait_exit(LIMIT);
    }
}

/// How a finished `micro` went.
#[derive(Debug)]
pub struct Outcome {
    pub args: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Asserts exit code 0 and nothing on stderr; returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self}");
        assert!(self.stderr.trim().is_empty(), "stderr: {self}");
        &self.stdout
    }

    /// Asserts exit code 0 (stderr may hold a notice); returns stdout.
    pub fn success(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self}");
        no_panic(&self.stderr);
        &self.stdout
    }

    /// stdout as one JSON document (after exit code 0).
    pub fn json(&self) -> Value {
        let text = self.ok();
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {self}"))
    }

    /// stdout's lines, each parsed as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}; {self}")))
            .collect()
    }

    /// Asserts the exit code and that stderr is one line `micro: ...`
    /// (no panic, no backtrace); returns that line.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self}");
        no_panic(&self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self}");
        assert!(lines[0].starts_with("micro: "), "{self}");
        lines[0]
    }

    /// Asserts a failure with exit code 1 and `(code)` in its line.
    pub fn fails_with(&self, code: u16) -> &str {
        let line = self.fails(1);
        assert!(line.contains(&format!("({code}):")), "({code}) in: {self}");
        line
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`micro {}` exited with {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

/// Asserts `stderr` shows no panic and no backtrace.
pub fn no_panic(stderr: &str) {
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{bad:?} on stderr:\n{stderr}");
    }
}

/// Runs `cmd` to its end (at most [`LIMIT`]) with `stdin` (or none).
pub fn run(cmd: Command, stdin: Option<&str>) -> Outcome {
    run_inner(cmd, stdin, false)
}

/// Runs `cmd` to its end with a stdout whose reader is already gone (as
/// `micro ... | head` after `head` exited): every write fails.
pub fn run_with_closed_stdout(cmd: Command) -> Outcome {
    run_inner(cmd, None, true)
}

fn run_inner(mut cmd: Command, stdin: Option<&str>, closed_stdout: bool) -> Outcome {
    let words: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // After `nsenter ... MICRO` in a namespace, all of them on the host.
    let args = match words.iter().position(|a| a == MICRO) {
        Some(at) => words[at + 1..].join(" "),
        None => words.join(" "),
    };
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stderr(Stdio::piped());
    if closed_stdout {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        cmd.stdout(writer);
    } else {
        cmd.stdout(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning micro {args}: {e}"));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let text = text.to_owned();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let reader = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    // The closed pipe's writer (in `cmd`) must not outlive the spawn.
    drop(cmd);
    let stdout = match child.stdout.take() {
        Some(pipe) => reader(Box::new(pipe)),
        None => reader(Box::new(std::io::empty())),
    };
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let deadline = started + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`micro {args}` did not finish within {LIMIT:?}; stderr:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Shown with the test's output when it fails (or with --nocapture).
    eprintln!("`micro {args}`: {status} after {:?}", started.elapsed());
    Outcome {
        args,
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Waits (at most [`LIMIT`]) for a stdout line of `proc` for which `wanted`
/// holds; lines before it are skipped. Returns it.
pub fn line_where(proc: &Proc, what: &str, mut wanted: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + LIMIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match proc.next_line(left) {
            Some(line) if wanted(&line) => return line,
            Some(line) => seen.push(line),
            None => panic!(
                "{} printed no line with {what} within {LIMIT:?}; it printed {seen:#?}; stderr:\n{}",
                proc.name,
                proc.stderr()
            ),
        }
    }
}

/// Waits for a stdout line of `proc` containing `text`.
pub fn line_containing(proc: &Proc, text: &str) -> String {
    line_where(proc, text, |line| line.contains(text))
}

/// Waits (at most [`LIMIT`]) until `proc` has a handler for `signal`
/// (its number), as `/proc/PID/status` shows in `SigCgt`.
pub fn wait_catching(proc: &Proc, signal: u32) {
    let deadline = Instant::now() + LIMIT;
    let path = format!("/proc/{}/status", proc.pid());
    loop {
        let caught = std::fs::read_to_string(&path)
            .ok()
            .and_then(|status| {
                let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
                u64::from_str_radix(mask.trim(), 16).ok()
            })
            .is_some_and(|mask| mask & (1 << (signal - 1)) != 0);
        if caught {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never caught signal {signal}; stderr:\n{}",
            proc.name,
            proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ctrl-C to a background `micro`: it exits 130 with `micro: interrupted`.
pub fn interrupt(proc: &mut Proc) {
    wait_catching(proc, 2);
    proc.signal("INT");
    let status = proc.wait_exit(LIMIT);
    assert_eq!(
        status.code(),
        Some(130),
        "{}:\n{}",
        proc.name,
        proc.stderr()
    );
    // Its stderr is read by a thread of its own: wait for the last line.
    proc.wait_stderr("micro: interrupted", LIMIT);
    let stderr = proc.stderr();
    no_panic(&stderr);
    assert!(
        stderr.lines().last() == Some("micro: interrupted"),
        "{}: {stderr}",
        proc.name
    );
}

/// `text` with runs of spaces as one (table columns are padded).
pub fn squeeze(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON object in `items` whose `key` is `value`.
pub fn find<'a>(items: &'a Value, key: &str, value: &str) -> &'a Value {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value:?} in {items:#}"))
}

/// The greeter's endpoints and their kinds, as `describe` shows them.
pub const KINDS: [(&str, &str); 4] = [
    ("Greeter.Chat", "bidi"),
    ("Greeter.Collect", "client"),
    ("Greeter.Hello", "unary"),
    ("Greeter.HelloStream", "server"),
];

/// Checks `micro describe greeter -o json` for `nodes` (one node per
/// version): their addresses, the endpoint kinds and the request fields.
/// Other versions (an etcd shared with other tests) are ignored.
pub fn check_description(described: &Value, nodes: &[&Greeter]) {
    assert_eq!(described["name"], SERVICE, "{described:#}");
    for node in nodes {
        let version = find(&described["versions"], "version", &node.version);
        assert_eq!(version["described"], true, "{version:#}");
        let addresses: Vec<&Value> = version["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| &n["address"])
            .collect();
        assert_eq!(
            addresses,
            [&Value::from(node.address.as_str())],
            "{version:#}"
        );
        let mut kinds: Vec<(String, String)> = version["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        kinds.sort();
        let expected: Vec<(String, String)> = KINDS
            .iter()
            .map(|(n, k)| ((*n).to_owned(), (*k).to_owned()))
            .collect();
        assert_eq!(kinds, expected);
        let hello = find(&version["endpoints"], "name", "Greeter.Hello");
        assert_eq!(hello["idempotent"], true);
        assert_eq!(hello["docs"], "Says hello to one person.");
        assert_eq!(hello["requestType"], "greeter.v1.Request");
        assert_eq!(
            hello["requestFields"],
            serde_json::json!([
                {"name": "name", "type": "string", "description": "The name to greet.", "depth": 0}
            ])
        );
        assert_eq!(hello["responseFields"][0]["name"], "greeting");
        assert_eq!(
            hello["requestSchema"]["properties"]["name"]["type"],
            "string"
        );
    }
}

/// `{"greeting":"Hello NAME"}`.
pub fn greeting(name: &str) -> Value {
    serde_json::json!({ "greeting": format!("Hello {name}") })
}
