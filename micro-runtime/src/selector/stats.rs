//! Live figures of one node: calls in flight, peak-EWMA latency, failures
//! and ejection. Shared by every snapshot that lists the node, updated with
//! relaxed atomics (figures for balancing, not accounting).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Half-life-like decay of the latency estimate.
const DECAY: Duration = Duration::from_secs(10);

/// Latency assumed for a node never measured while it already has calls
/// in flight: a new node gets its first call at once, not a stampede.
const DEFAULT_RTT: Duration = Duration::from_millis(1);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the process epoch.
pub(crate) fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Whole seconds since the process epoch.
pub(crate) fn now_secs() -> u64 {
    epoch().elapsed().as_secs()
}

/// Weight of an estimate `elapsed_ns` old.
fn decay(elapsed_ns: u64) -> f64 {
    (-(elapsed_ns as f64) / DECAY.as_nanos() as f64).exp()
}

/// How one call to a node ended, as far as balancing is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The node answered (any application error included).
    Answered,
    /// The node failed: connection failure, 5xx, or no answer in time.
    Failed,
}

/// Live figures of one node.
#[derive(Debug)]
pub struct NodeStats {
    in_flight: AtomicU32,
    ewma_ns: AtomicU64,
    updated_ns: AtomicU64,
    consecutive_failures: AtomicU32,
    ejected_until_ns: AtomicU64,
    ejections: AtomicU32,
    probing: AtomicBool,
}

impl Default for NodeStats {
    fn default() -> Self {
        Self {
            in_flight: AtomicU32::new(0),
            ewma_ns: AtomicU64::new(0),
            updated_ns: AtomicU64::new(now_ns()),
            consecutive_failures: AtomicU32::new(0),
            ejected_until_ns: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            probing: AtomicBool::new(false),
        }
    }
}

impl NodeStats {
    /// Calls to this node in flight from this client.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The latency estimate: jumps up to any slower observation at once,
    /// moves towards faster ones, and fades while the node is not used (so
    /// one slow spell does not starve a node forever). Zero when unmeasured.
    pub fn latency(&self) -> Duration {
        let est = self.ewma_ns.load(Ordering::Relaxed) as f64;
        let idle = now_ns().saturating_sub(self.updated_ns.load(Ordering::Relaxed));
        Duration::from_nanos((est * decay(idle)) as u64)
    }

    /// Failures in a row since the last answer.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    /// True while the node is out of rotation: from its ejection until a
    /// health probe re-admits it.
    pub fn is_ejected(&self) -> bool {
        self.awaiting_probe()
    }

    /// True when the node was ejected and its ejection has not been lifted
    /// by a successful probe yet (it may have run out, awaiting the probe).
    pub(crate) fn awaiting_probe(&self) -> bool {
        self.ejected_until_ns.load(Ordering::Relaxed) != 0
    }

    /// The load score least-loaded selection minimises: expected latency
    /// times the queue a new call would join.
    pub fn load(&self) -> f64 {
        let queue = self.in_flight() as f64 + 1.0;
        if self.ewma_ns.load(Ordering::Relaxed) == 0 {
            // Never measured: first call now, then wait for its answer.
            return if queue > 1.0 {
                DEFAULT_RTT.as_nanos() as f64 * queue
            } else {
                0.0
            };
        }
        self.latency().as_nanos().max(1) as f64 * queue
    }

    pub(crate) fn start(self: &Arc<Self>) -> InFlightCall {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightCall {
            stats: self.clone(),
            started: Instant::now(),
            finished: false,
        }
    }

    fn observe(&self, rtt: Duration) {
        let now = now_ns();
        let rtt = rtt.as_nanos() as u64;
        let elapsed = now.saturating_sub(self.updated_ns.swap(now, Ordering::Relaxed));
        let w = decay(elapsed);
        let prev = (self.ewma_ns.load(Ordering::Relaxed) as f64 * w) as u64;
        let next = if rtt > prev {
            rtt
        } else {
            (prev as f64 * w + rtt as f64 * (1.0 - w)) as u64
        };
        self.ewma_ns.store(next.max(1), Ordering::Relaxed);
    }

    /// A failed call counts as slow whatever its round trip: at least twice
    /// the current estimate (and 1 ms), so a node that fails *fast* (an
    /// instant 503, a refused connection) does not look like the fastest
    /// node and draw more calls; the penalty fades like any observation.
    fn observe_failure(&self, rtt: Duration) {
        let penalty = self.latency().saturating_mul(2).max(DEFAULT_RTT);
        self.observe(rtt.max(penalty));
    }

    /// Counts a failure; returns the failures in a row.
    fn fail(&self) -> u32 {
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn answered(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// Ejects the node for a backoff that grows with each ejection:
    /// `base * 2^n`, at most `max`. Returns the duration.
    pub(crate) fn eject(&self, base: Duration, max: Duration) -> Duration {
        let n = self.ejections.fetch_add(1, Ordering::Relaxed).min(16);
        let duration = base.saturating_mul(1 << n).min(max);
        self.ejected_until_ns
            .store(now_ns() + duration.as_nanos() as u64, Ordering::Relaxed);
        duration
    }

    /// Time left in the current ejection (zero when none or over).
    pub(crate) fn ejection_left(&self) -> Duration {
        let until = self.ejected_until_ns.load(Ordering::Relaxed);
        Duration::from_nanos(until.saturating_sub(now_ns()))
    }

    /// Lifts the ejection after a successful probe; the node starts afresh
    /// (its latency from before the fault no longer says anything).
    pub(crate) fn readmit(&self) {
        self.ewma_ns.store(0, Ordering::Relaxed);
        self.ejected_until_ns.store(0, Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let n = self.ejections.load(Ordering::Relaxed);
        self.ejections.store(n / 2, Ordering::Relaxed);
    }

    /// Claims the right to probe the node (one probe at a time).
    pub(crate) fn try_start_probe(&self) -> bool {
        !self.probing.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn end_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }
}

/// One call in flight to a node; reports its outcome when finished.
pub(crate) struct InFlightCall {
    stats: Arc<NodeStats>,
    started: Instant,
    finished: bool,
}

impl InFlightCall {
    /// Records the outcome; returns the failures in a row after it.
    pub(crate) fn finish(mut self, outcome: Outcome) -> u32 {
        self.finished = true;
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        let rtt = self.started.elapsed();
        match outcome {
            Outcome::Answered => {
                self.stats.observe(rtt);
                self.stats.answered();
                0
            }
            Outcome::Failed => {
                self.stats.observe_failure(rtt);
                self.stats.fail()
            }
        }
    }
}

impl Drop for InFlightCall {
    fn drop(&mut self) {
        if !self.finished {
            // Cancelled by the caller: neither an answer nor a failure.
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_jumps_up_and_decays_down() {
        let stats = NodeStats::default();
        assert_eq!(stats.load(), 0.0, "an unmeasured idle node is tried first");
        stats.observe(Duration::from_millis(50));
        let peak = stats.latency();
        assert!(peak <= Duration::from_millis(50) && peak > Duration::from_millis(49));
        stats.observe(Duration::from_micros(1));
        assert!(stats.latency() <= peak);
        stats.readmit();
        assert_eq!(stats.load(), 0.0, "a re-admitted node starts afresh");
    }

    #[test]
    fn a_fast_failure_does_not_look_fast() {
        let healthy = Arc::new(NodeStats::default());
        healthy.start().finish(Outcome::Answered);
        let failing = Arc::new(NodeStats::default());
        failing.start().finish(Outcome::Failed);
        assert!(
            failing.latency() >= DEFAULT_RTT / 2,
            "{:?}",
            failing.latency()
        );
        assert!(failing.load() > healthy.load());
        // Each further failure doubles the estimate at least (decay aside).
        let before = failing.latency();
        failing.start().finish(Outcome::Failed);
        assert!(failing.latency() > before + before / 2);
    }

    #[test]
    fn in_flight_and_failures_are_counted() {
        let stats = Arc::new(NodeStats::default());
        let a = stats.start();
        let b = stats.start();
        assert_eq!(stats.in_flight(), 2);
        assert_eq!(a.finish(Outcome::Failed), 1);
        drop(b);
        assert_eq!(stats.in_flight(), 0);
        assert_eq!(stats.consecutive_failures(), 1);
        stats.start().finish(Outcome::Answered);
        assert_eq!(stats.consecutive_failures(), 0);
    }

    #[test]
    fn ejection_backoff_grows_and_readmission_shrinks_it() {
        let stats = NodeStats::default();
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(30);
        assert_eq!(stats.eject(base, max), base);
        assert!(stats.is_ejected());
        assert_eq!(stats.eject(base, max), base * 2);
        assert_eq!(stats.eject(base, max), base * 4);
        stats.readmit();
        assert!(!stats.is_ejected());
        assert_eq!(stats.eject(base, max), base * 2);
    }
}
