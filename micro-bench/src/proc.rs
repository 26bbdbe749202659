//! The server child process: the system's own binary
//! (`micro-bench-server-<family> <system> --port 0`, beside this one),
//! killed when its guard drops (also on panic), and measured through
//! `/proc/<pid>/status`.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::systems::System;

/// The line a server prints on stdout once it serves: `listening on <addr>`.
pub const LISTENING: &str = "listening on ";

/// A running server process; dropping it kills and reaps the process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    address: String,
    /// Held so the child sees EOF on stdin (and exits) if we die unkillably.
    _stdin: Option<ChildStdin>,
}

impl ServerProcess {
    /// Starts `<its server binary> <system> --port 0` and waits (up to
    /// `timeout`) for its `listening on` line.
    ///
    /// # Errors
    ///
    /// When the binary is missing, the process cannot start, exits, or
    /// prints no address in time.
    pub fn start(system: System, timeout: Duration) -> anyhow::Result<Self> {
        let mut command = server_command(system)?;
        if system == System::MicroTls {
            command.envs(crate::systems::tls::server_env()?);
        }
        let system = system.server().name();
        let mut child = command
            .args([system, "--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting the {system} server process"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let first = stdout.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            // Keep draining so the server never blocks on a full pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        // From here on the guard kills the child on every path.
        let mut server = ServerProcess {
            child,
            address: String::new(),
            _stdin: stdin,
        };
        let line = match rx.recv_timeout(timeout) {
            Ok(Ok(line)) => line,
            Ok(Err(err)) => bail!("reading the {system} server's stdout: {err}"),
            Err(_) => {
                if let Ok(Some(status)) = server.child.try_wait() {
                    bail!(
                        "the {system} server exited ({status}) before listening; its stderr is above"
                    );
                }
                bail!("the {system} server printed no address within {timeout:?}");
            }
        };
        let Some(address) = line.trim().strip_prefix(LISTENING) else {
            // Closed stdout or an unexpected line: give it a moment to exit.
            let mut status = None;
            for _ in 0..20 {
                status = server.child.try_wait().ok().flatten();
                if status.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let status = status.map_or_else(|| "still running".to_owned(), |s| s.to_string());
            bail!(
                "the {system} server did not start (it printed {:?}; {status}); its stderr is above",
                line.trim()
            );
        };
        server.address = address.to_owned();
        Ok(server)
    }

    /// The address it listens on.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its memory now, from `/proc/<pid>/status`.
    pub fn memory(&self) -> Option<Memory> {
        memory_of(self.pid())
    }

    /// Its open file descriptors now (`/proc/<pid>/fd`).
    pub fn open_fds(&self) -> Option<usize> {
        open_fds(self.pid())
    }

    /// Asks it to stop (SIGTERM: a micro server drains its calls) and waits
    /// up to `timeout` for it to exit; kills it after that.
    ///
    /// # Errors
    ///
    /// When the signal cannot be sent, or it had to be killed.
    pub fn terminate(mut self, timeout: Duration) -> anyhow::Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {} failed ({sent})", self.pid());
        }
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the server did not exit within {timeout:?} of SIGTERM (killed)")
    }

    /// Resets its peak RSS (`VmHWM`) to the current RSS, so the next peak
    /// read covers only what ran since. False when the kernel refused.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }
}

impl Drop for ServerProcess {
    /// Closes its stdin (it exits on its own, so a profiler wrapping it can
    /// write its report), and kills it if it is still there after a grace.
    fn drop(&mut self) {
        drop(self._stdin.take());
        let deadline = std::time::Instant::now() + EXIT_GRACE;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a server whose stdin closed has to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Where `system`'s server binary is: beside this executable (or one
/// directory up, for test binaries in `target/<profile>/deps`).
fn server_binary(system: System) -> anyhow::Result<Option<PathBuf>> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let name = system.server_binary();
    Ok(exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file()))
}

/// The command that serves `system`: its own binary, or (when that was not
/// built, e.g. after `cargo run -p micro-bench`) this one as `serve`, with
/// a note that the servers' RSS then includes every system's code.
fn server_command(system: System) -> anyhow::Result<Command> {
    if let Some(binary) = server_binary(system)? {
        return Ok(Command::new(binary));
    }
    static NOTED: std::sync::Once = std::sync::Once::new();
    NOTED.call_once(|| {
        eprintln!(
            "note: {} is not built beside this binary (cargo build -p micro-bench --bins): \
             serving from micro-bench itself, so server RSS includes every system's code",
            system.server_binary()
        );
    });
    let mut command = Command::new(std::env::current_exe().context("finding this executable")?);
    command.arg("serve");
    Ok(command)
}

/// The open file descriptors of process `pid` (`/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Resident memory of process `pid` now, from `/proc/<pid>/status`.
pub fn memory_of(pid: u32) -> Option<Memory> {
    Memory::parse(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Resident memory of a process, in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident set.
    pub peak_kib: u64,
    /// `RssAnon`: the private part of `VmRSS` (heap, stacks), without the
    /// pages of the binary and libraries mapped from files.
    pub anon_kib: Option<u64>,
}

impl Memory {
    /// Reads `VmRSS`, `VmHWM` and `RssAnon` from the text of `/proc/<pid>/status`.
    pub fn parse(status: &str) -> Option<Memory> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
            anon_kib: field("RssAnon:"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    5000 kB\nVmRSS:\t    4200 kB\nRssAnon:\t     600 kB\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                rss_kib: 4200,
                peak_kib: 5000,
                anon_kib: Some(600),
            })
        );
        assert_eq!(Memory::parse("Name:\tx\n"), None);
    }
}
