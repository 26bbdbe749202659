//! Which failures are retried, how long to wait, and the budget that keeps
//! retries from multiplying load when a service is already struggling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Origin};
use crate::selector::stats_clock::now_secs;

/// Buckets of one second in the budget's window.
const WINDOW_SECS: usize = 10;

/// Whether `err` may be retried: the request never left (always safe), the
/// node said it is unavailable (503), or — only for idempotent endpoints —
/// the call timed out or its connection broke after sending.
pub(crate) fn is_retryable(err: &Error, idempotent: bool) -> bool {
    match err.origin() {
        Origin::NotSent => true,
        Origin::Transport => idempotent,
        Origin::Remote => err.is_unavailable() || (err.is_timeout() && idempotent),
    }
}

/// Exponential backoff with full jitter: a random wait up to
/// `base * 2^attempt`, capped at `max`.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.min(16))
        .min(max)
        .mul_f64(fastrand::f64())
}

/// Bounds retries to a share of the calls made: over the last ten seconds,
/// retries may add at most `ratio` (default 20 %) to the calls, plus a small
/// floor so a quiet client can still retry. Retries of requests that never
/// left the client (connection refused) cost the servers nothing and are not
/// counted.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: f64,
    window: [Bucket; WINDOW_SECS],
}

/// One second of the window. Counters of a stale second are reset by the
/// first call that sees it; a race there only blurs one second's count.
#[derive(Debug, Default)]
struct Bucket {
    second: AtomicU64,
    calls: AtomicU64,
    retries: AtomicU64,
}

impl Bucket {
    fn current(&self, now: u64) -> &Self {
        if self.second.load(Ordering::Relaxed) != now
            && self.second.swap(now, Ordering::Relaxed) != now
        {
            self.calls.store(0, Ordering::Relaxed);
            self.retries.store(0, Ordering::Relaxed);
        }
        self
    }
}

impl RetryBudget {
    /// A budget allowing `ratio` extra load and at least `min_per_sec` retries a second.
    pub fn new(ratio: f64, min_per_sec: f64) -> Self {
        Self {
            ratio: ratio.max(0.0),
            min_per_sec: min_per_sec.max(0.0),
            // Start every bucket in a second that is never "now".
            window: std::array::from_fn(|_| Bucket {
                second: AtomicU64::new(u64::MAX),
                ..Bucket::default()
            }),
        }
    }

    fn bucket(&self, now: u64) -> &Bucket {
        self.window[(now % WINDOW_SECS as u64) as usize].current(now)
    }

    /// Counts a call (its first attempt).
    pub(crate) fn record_call(&self) {
        self.bucket(now_secs())
            .calls
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget; false when it is spent.
    pub(crate) fn try_retry(&self) -> bool {
        let now = now_secs();
        let floor = self.min_per_sec * WINDOW_SECS as f64;
        let (calls, retries) = self
            .window
            .iter()
            .filter(|b| now.wrapping_sub(b.second.load(Ordering::Relaxed)) < WINDOW_SECS as u64)
            .fold((0u64, 0u64), |(c, r), b| {
                (
                    c + b.calls.load(Ordering::Relaxed),
                    r + b.retries.load(Ordering::Relaxed),
                )
            });
        if (retries as f64) < floor + self.ratio * calls as f64 {
            self.bucket(now).retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(0.2, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_bounds_retries_to_a_share_of_calls() {
        let budget = RetryBudget::new(0.2, 0.0);
        for _ in 0..100 {
            budget.record_call();
        }
        let granted = (0..100).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn quiet_clients_keep_a_floor() {
        let budget = RetryBudget::new(0.2, 1.0);
        assert!(
            budget.try_retry(),
            "the floor allows retries before any call"
        );
        let granted = (0..100).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 9, "ten per window in all");
    }

    #[test]
    fn retryable_errors() {
        let not_sent = Error::unavailable("refused").with_origin(Origin::NotSent);
        assert!(is_retryable(&not_sent, false));
        assert!(is_retryable(&Error::unavailable("busy"), false));
        assert!(!is_retryable(&Error::timeout("slow"), false));
        assert!(is_retryable(&Error::timeout("slow"), true));
        assert!(!is_retryable(&Error::internal("bug"), true));
        let broken = Error::unavailable("lost").with_origin(Origin::Transport);
        assert!(!is_retryable(&broken, false));
        assert!(is_retryable(&broken, true));
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 0..40 {
            let d = backoff(Duration::from_millis(10), Duration::from_secs(1), attempt);
            assert!(d <= Duration::from_secs(1));
        }
    }
}
