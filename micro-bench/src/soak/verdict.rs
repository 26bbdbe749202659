//! Whether the soak passed: no failed call, and no memory growth beyond the
//! bound between the end of the warm-up and the end of the run.

use std::time::Duration;

use super::sample::Sample;
use crate::load::Outcome;

/// How much the steady server's RSS grew after the warm-up.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Growth {
    /// RSS at the first sample at or after the warm-up, KiB.
    pub(super) baseline_kib: u64,
    /// RSS at the last sample, KiB.
    pub(super) last_kib: u64,
    /// The largest RSS after the warm-up, KiB.
    pub(super) peak_kib: u64,
}

impl Growth {
    /// Last against baseline, in percent.
    pub(super) fn percent(&self) -> f64 {
        if self.baseline_kib == 0 {
            return 0.0;
        }
        (self.last_kib as f64 / self.baseline_kib as f64 - 1.0) * 100.0
    }

    /// One line for the output.
    pub(super) fn describe(&self) -> String {
        format!(
            "server RSS after warm-up: {:.1} MiB -> {:.1} MiB at the end ({:+.1} %), peak {:.1} MiB",
            self.baseline_kib as f64 / 1024.0,
            self.last_kib as f64 / 1024.0,
            self.percent(),
            self.peak_kib as f64 / 1024.0
        )
    }
}

/// The growth of the samples taken from `warmup` on (none: zero growth).
pub(super) fn growth(samples: &[Sample], warmup: Duration) -> Growth {
    let after: Vec<u64> = samples
        .iter()
        .filter(|s| s.at >= warmup && s.server_rss_kib > 0)
        .map(|s| s.server_rss_kib)
        .collect();
    let baseline = after.first().copied().unwrap_or(0);
    Growth {
        baseline_kib: baseline,
        last_kib: after.last().copied().unwrap_or(baseline),
        peak_kib: after.iter().copied().max().unwrap_or(baseline),
    }
}

/// Ok when nothing failed and the growth is within `max_percent`.
///
/// # Errors
///
/// What failed, in one line.
pub(super) fn judge(totals: &Outcome, growth: &Growth, max_percent: f64) -> anyhow::Result<()> {
    if totals.failed > 0 {
        anyhow::bail!(
            "{} of {} calls failed",
            totals.failed,
            totals.failed + totals.ok
        );
    }
    if totals.ok == 0 {
        anyhow::bail!("no call succeeded");
    }
    if growth.percent() > max_percent {
        anyhow::bail!(
            "the server's RSS grew {:.1} % after the warm-up (bound {max_percent} %)",
            growth.percent()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(secs: u64, rss: u64) -> Sample {
        Sample {
            at: Duration::from_secs(secs),
            server_rss_kib: rss,
            server_fds: 10,
            client_rss_kib: 1000,
            client_fds: 10,
            ok: 1,
            failed: 0,
            rate: 1.0,
            p50_ms: 0.1,
            p99_ms: 1.0,
        }
    }

    #[test]
    fn growth_is_measured_from_the_first_sample_after_the_warmup() {
        let samples = [
            sample(10, 5000),
            sample(20, 8000),
            sample(30, 8200),
            sample(40, 8400),
        ];
        let growth = growth(&samples, Duration::from_secs(20));
        assert_eq!(growth.baseline_kib, 8000);
        assert_eq!(growth.last_kib, 8400);
        assert_eq!(growth.peak_kib, 8400);
        assert!((growth.percent() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn growth_beyond_the_bound_fails_and_failed_calls_fail() {
        let mut tally = crate::load::Tally::new();
        tally.record(Duration::from_millis(1));
        let totals = tally.into_outcome(Duration::from_secs(1));
        let flat = growth(&[sample(20, 8000), sample(30, 8100)], Duration::ZERO);
        assert!(judge(&totals, &flat, 10.0).is_ok());
        let grown = growth(&[sample(20, 8000), sample(30, 9000)], Duration::ZERO);
        assert!(judge(&totals, &grown, 10.0).is_err());

        let mut failing = crate::load::Tally::new();
        failing.record(Duration::from_millis(1));
        failing.fail("boom");
        let failing = failing.into_outcome(Duration::from_secs(1));
        let err = judge(&failing, &flat, 10.0).unwrap_err().to_string();
        assert_eq!(err, "1 of 2 calls failed");
    }

    #[test]
    fn no_sample_after_the_warmup_is_no_growth() {
        let growth = growth(&[sample(5, 5000)], Duration::from_secs(60));
        assert_eq!(growth.percent(), 0.0);
    }
}
