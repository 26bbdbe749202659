//! `micro gateway` as a process in a network namespace, and curl as its
//! client there: what the gateway process tests share.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::{LIMIT, MICRO, Netns, Proc, greeter_server};

/// `micro gateway ARGS` as the user runs it: no logs, nothing from the
/// test's environment.
pub fn gateway_command(mut cmd: Command, args: &[&str]) -> Command {
    cmd.arg("gateway")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("MICRO_GATEWAY_ADDRESS")
        .env_remove("MICRO_GATEWAY_TOKEN")
        .env_remove("MICRO_GATEWAY_RATE_LIMIT")
        .env_remove("MICRO_OUTPUT")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null());
    cmd
}

/// A started greeter-server of `version`, registered and serving.
pub fn greeter(ns: &Netns, version: &str) -> Proc {
    let mut cmd = ns.command(greeter_server().to_str().unwrap());
    cmd.env("GREETER_VERSION", version).stdin(Stdio::null());
    let proc = Proc::spawn(&format!("greeter-server {version}"), cmd);
    proc.wait_line("listening on ", LIMIT);
    proc
}

/// A started `micro gateway` in `ns` and its base URL (from the line it
/// prints once bound).
pub fn gateway(ns: &Netns, args: &[&str], env: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = gateway_command(ns.command(MICRO), args);
    // Round robin: the calls below reach both nodes.
    cmd.env("MICRO_SELECTOR", "roundrobin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc::spawn("micro gateway", cmd);
    let line = proc.wait_line("gateway listening on http://", LIMIT);
    let base = line.trim_start_matches("gateway listening on ").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    assert!(!base.ends_with(":0"), "the bound port is printed: {line}");
    (proc, base)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// `curl` inside `ns`: `method url` with `headers` and `body`.
pub fn curl(ns: &Netns, method: &str, url: &str, headers: &[&str], body: Option<&str>) -> Reply {
    curl_with(ns, &[], method, url, headers, body)
}

/// [`curl`] with more of curl's options first (e.g. `-N`).
pub fn curl_with(
    ns: &Netns,
    options: &[&str],
    method: &str,
    url: &str,
    headers: &[&str],
    body: Option<&str>,
) -> Reply {
    let mut cmd = ns.command("curl");
    cmd.args(options)
        .args(["--silent", "--show-error", "--max-time", "20", "--include"])
        .args(["--request", method, "--write-out", "\n%{http_code}"]);
    for header in headers {
        cmd.args(["--header", header]);
    }
    if let Some(body) = body {
        cmd.args(["--header", "Content-Type: application/json", "--data", body]);
    }
    let output = cmd
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "curl {method} {url}: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (rest, code) = text.rsplit_once('\n').expect("the status line curl writes");
    let (headers, body) = rest
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {rest:?}"));
    Reply {
        status: code.trim().parse().expect("an HTTP status"),
        headers: headers.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// SIGTERM; asserts a graceful exit (0) and returns the last lines.
pub fn stop(proc: Proc) -> Vec<String> {
    stop_with(proc, "TERM")
}

/// `signal`; asserts a graceful exit (0) and returns the last lines.
pub fn stop_with(mut proc: Proc, signal: &str) -> Vec<String> {
    proc.signal(signal);
    let status = proc.wait_exit(LIMIT);
    assert!(
        status.success(),
        "{} exited with {status}:\n{}",
        proc.name,
        proc.stderr()
    );
    proc.rest()
}
