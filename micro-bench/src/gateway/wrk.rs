//! Drives an HTTP endpoint with `wrk` (the Debian package): a Lua script
//! (written to a temporary file) sets the POST body and headers and prints
//! the results as one JSON line, which [`run`] parses.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// One `wrk` run: where, what, how hard and how long.
#[derive(Clone, Debug)]
pub struct Load {
    /// The URL posted to.
    pub url: String,
    /// The JSON body of every request.
    pub body: String,
    /// Connections kept open.
    pub connections: usize,
    /// wrk's threads.
    pub threads: usize,
    /// How long; wrk counts in whole seconds.
    pub duration: Duration,
    /// Also compare every response with this body (slower: wrk then parses
    /// each response in Lua); mismatches count in [`Outcome::wrong`].
    pub expect: Option<String>,
}

/// What wrk measured.
#[derive(Clone, Debug, Deserialize)]
pub struct Outcome {
    /// Completed requests.
    pub requests: u64,
    /// Measured time, µs.
    pub duration_us: u64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Socket errors (connect, read, write, timeout).
    pub socket_errors: u64,
    /// Responses other than 2xx or 3xx.
    pub bad_status: u64,
    /// Responses whose body differed from [`Load::expect`].
    pub wrong: u64,
    /// One such body.
    pub wrong_sample: String,
}

impl Outcome {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }

    /// Why the run does not count, if it does not.
    pub fn failure(&self) -> Option<String> {
        if self.requests == 0 {
            return Some("no request completed".to_owned());
        }
        if self.socket_errors + self.bad_status + self.wrong == 0 {
            return None;
        }
        Some(format!(
            "{} socket errors, {} non-2xx answers, {} wrong bodies{}",
            self.socket_errors,
            self.bad_status,
            self.wrong,
            if self.wrong > 0 {
                format!(" (e.g. {:?})", self.wrong_sample)
            } else {
                String::new()
            }
        ))
    }
}

/// Whether `wrk` can be run, and if not why.
pub async fn available() -> Result<(), String> {
    match tokio::process::Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
    {
        // `wrk --version` prints its banner and exits 1.
        Ok(_) => Ok(()),
        Err(err) => Err(format!(
            "cannot run wrk ({err}); install it (Debian package `wrk`)"
        )),
    }
}

/// Runs wrk on `load` and returns what it measured.
///
/// # Errors
///
/// When wrk cannot run, fails, or prints no result line.
pub async fn run(load: &Load) -> anyhow::Result<Outcome> {
    let script = Script::write(&lua(load))?;
    let seconds = load.duration.as_secs().max(1);
    let output = tokio::process::Command::new("wrk")
        .arg(format!("--threads={}", load.threads.max(1)))
        .arg(format!(
            "--connections={}",
            load.connections.max(load.threads)
        ))
        .arg(format!("--duration={seconds}s"))
        .arg("--timeout=10s")
        .arg("--script")
        .arg(script.path())
        .arg(&load.url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("running wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk exited with {}: {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT))
        .with_context(|| format!("no {RESULT:?} line in wrk's output:\n{stdout}"))?;
    serde_json::from_str(line).with_context(|| format!("wrk's result line {line:?}"))
}

/// The prefix of the line the script's `done` prints.
const RESULT: &str = "micro-bench-result ";

/// The Lua script for `load`: method, headers and body; with
/// [`Load::expect`], a `response` hook counting other bodies; a `done`
/// hook printing the results as JSON after [`RESULT`].
fn lua(load: &Load) -> String {
    let mut script = format!(
        r#"wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  wrong = 0
  wrong_sample = ""
end
"#,
        body = lua_string(&load.body)
    );
    if let Some(expect) = &load.expect {
        script.push_str(&format!(
            r#"local expected = {expected}
function response(status, headers, body)
  if body ~= expected then
    wrong = wrong + 1
    wrong_sample = body
  end
end
"#,
            expected = lua_string(expect)
        ));
    }
    script.push_str(&format!(
        r#"function done(summary, latency, requests)
  local wrong, sample = 0, ""
  for _, thread in ipairs(threads) do
    wrong = wrong + (thread:get("wrong") or 0)
    local s = thread:get("wrong_sample")
    if s and s ~= "" then sample = s end
  end
  sample = string.sub(sample, 1, 200):gsub("[%c\\\"]", "?")
  local e = summary.errors
  io.write(string.format(
    '{RESULT}{{"requests":%d,"duration_us":%d,"p50_us":%f,"p99_us":%f,' ..
    '"socket_errors":%d,"bad_status":%d,"wrong":%d,"wrong_sample":"%s"}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, wrong, sample))
end
"#
    ));
    script
}

/// `text` as a Lua string literal (decimal escapes for every byte that
/// is not plain printable ASCII).
fn lua_string(text: &str) -> String {
    let mut out = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\{byte:03}")),
        }
    }
    out.push('"');
    out
}

/// A script file, removed when dropped.
struct Script(PathBuf);

impl Script {
    fn write(text: &str) -> anyhow::Result<Script> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("micro-bench-wrk-{}-{n}.lua", std::process::id()));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(Script(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings_escape() {
        assert_eq!(lua_string(r#"{"a":"b\c"}"#), r#""{\"a\":\"b\\c\"}""#);
        assert_eq!(lua_string("é\n"), r#""\195\169\010""#);
    }

    #[test]
    fn outcomes_tell_failures() {
        let ok = Outcome {
            requests: 1000,
            duration_us: 500_000,
            p50_us: 10.0,
            p99_us: 20.0,
            socket_errors: 0,
            bad_status: 0,
            wrong: 0,
            wrong_sample: String::new(),
        };
        assert_eq!(ok.rate(), 2000.0);
        assert_eq!(ok.failure(), None);
        let bad = Outcome {
            bad_status: 3,
            wrong: 1,
            wrong_sample: "{}".into(),
            ..ok.clone()
        };
        assert_eq!(
            bad.failure().unwrap(),
            "0 socket errors, 3 non-2xx answers, 1 wrong bodies (e.g. \"{}\")"
        );
    }
}
