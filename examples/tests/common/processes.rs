//! Harness for tests with real processes: a private network namespace
//! holding only loopback (so mDNS never leaks onto a real network and
//! parallel tests cannot see each other), and child processes whose output
//! lines can be awaited.
//!
//! Shared by the process tests of `examples` and `micro-cli` (included
//! there with `#[path]`): it knows no binary of its own.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A network namespace with only `lo`, alive while this value lives.
pub struct Netns {
    holder: Child,
    rootless: bool,
}

impl Netns {
    /// Creates the namespace (as root with `unshare -n`, otherwise in a user
    /// namespace with `unshare -rn`).
    pub fn new() -> Self {
        let root = unsafe_euid_is_root();
        let mut holder = Command::new("unshare");
        holder.arg(if root { "-n" } else { "-rn" });
        let holder = holder
            .args([
                "sh",
                "-c",
                "ip link set lo up && echo ready && exec sleep 3600",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting `unshare` (util-linux) for a network namespace");
        let mut ns = Netns {
            holder,
            rootless: !root,
        };
        let mut line = String::new();
        BufReader::new(ns.holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "cannot create a network namespace (needs root or unprivileged user namespaces)"
        );
        ns
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t").arg(self.holder.id().to_string());
        if self.rootless {
            cmd.args(["-U", "--preserve-credentials"]);
        }
        cmd.arg("-n").arg(program);
        // Quiet, fast discovery: every node lives inside this namespace.
        cmd.env("MICRO_REGISTRY", "mdns")
            .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
            .env_remove("MICRO_MDNS_INTERFACES")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn unsafe_euid_is_root() -> bool {
    // `id -u` keeps the tests free of libc bindings.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A child process whose stdout lines arrive on a channel and whose stderr
/// is kept for diagnostics. Killed when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Proc {
            name: name.to_owned(),
            child,
            lines,
            stderr,
            exited: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, waiting at most `limit`.
    pub fn next_line(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Waits (at most `limit`) until stderr contains `text`.
    pub fn wait_stderr(&self, text: &str, limit: Duration) {
        self.wait_stderr_any(&[text], limit);
    }

    /// Waits (at most `limit`) until stderr contains one of `texts`.
    pub fn wait_stderr_any(&self, texts: &[&str], limit: Duration) {
        let deadline = Instant::now() + limit;
        while !texts.iter().any(|text| self.stderr().contains(text)) {
            assert!(
                Instant::now() < deadline,
                "{} never printed any of {texts:?} on stderr within {limit:?}:\n{}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most `limit`) for a stdout line starting with `prefix`.
    pub fn wait_line(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "{} printed no line starting with {prefix:?} within {limit:?}; stderr:\n{}",
                    self.name,
                    self.stderr()
                ),
            }
        }
    }

    /// Sends a signal (`TERM`, `KILL`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// Waits (at most `limit`) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.exited = Some(status);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}; stderr:\n{}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every remaining stdout line (after the process exited).
    pub fn rest(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            out.push(line);
        }
        out
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
