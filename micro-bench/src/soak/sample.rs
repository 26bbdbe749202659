//! One sample every `--sample-every`: the long-lived server's and this
//! client's memory and open fds, and the latency of the calls that ended
//! in the window.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::load::Outcome;
use crate::proc::{memory_of, open_fds};

/// One row of the soak.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Sample {
    /// Since the start.
    pub(super) at: Duration,
    /// The steady server's resident memory, KiB (0 when unreadable).
    pub(super) server_rss_kib: u64,
    /// The steady server's open fds.
    pub(super) server_fds: usize,
    /// This process's resident memory, KiB.
    pub(super) client_rss_kib: u64,
    /// This process's open fds.
    pub(super) client_fds: usize,
    /// Calls that succeeded in the window.
    pub(super) ok: u64,
    /// Calls that failed in the window.
    pub(super) failed: u64,
    /// Successful calls per second in the window.
    pub(super) rate: f64,
    /// Median latency in the window, ms.
    pub(super) p50_ms: f64,
    /// 99th percentile latency in the window, ms.
    pub(super) p99_ms: f64,
}

impl Sample {
    /// The column names of [`Sample::row`] and of the CSV.
    pub(super) const HEADER: &'static str =
        "t_s,server_rss_kib,server_fds,client_rss_kib,client_fds,ok,failed,rate,p50_ms,p99_ms";

    /// The sample as a CSV row.
    pub(super) fn row(&self) -> String {
        format!(
            "{:.0},{},{},{},{},{},{},{:.0},{:.3},{:.3}",
            self.at.as_secs_f64(),
            self.server_rss_kib,
            self.server_fds,
            self.client_rss_kib,
            self.client_fds,
            self.ok,
            self.failed,
            self.rate,
            self.p50_ms,
            self.p99_ms
        )
    }
}

/// Reads the processes' figures.
pub(super) struct Sampler {
    server: u32,
    client: u32,
}

impl Sampler {
    pub(super) fn new(server_pid: u32) -> Self {
        Self {
            server: server_pid,
            client: std::process::id(),
        }
    }

    /// A sample at `at` of the window's calls.
    pub(super) fn take(&self, at: Duration, window: Outcome) -> Sample {
        let rss = |pid| memory_of(pid).map_or(0, |m| m.rss_kib);
        Sample {
            at,
            server_rss_kib: rss(self.server),
            server_fds: open_fds(self.server).unwrap_or(0),
            client_rss_kib: rss(self.client),
            client_fds: open_fds(self.client).unwrap_or(0),
            ok: window.ok,
            failed: window.failed,
            rate: window.rate(),
            p50_ms: window.quantile_us(0.5) / 1e3,
            p99_ms: window.quantile_us(0.99) / 1e3,
        }
    }
}

/// Writes the samples as CSV.
pub(super) fn write_csv(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let mut text = String::from(Sample::HEADER);
    text.push('\n');
    for sample in samples {
        let _ = writeln!(text, "{}", sample.row());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
