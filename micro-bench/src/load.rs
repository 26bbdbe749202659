//! The load loop: N tasks each looping calls for a bounded time, latencies
//! in an HDR histogram, failures counted (never a panic), tasks that hang
//! past a grace period aborted and counted as failed.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

/// Longest latency the histograms hold (longer ones are clamped to it).
const MAX_LATENCY: Duration = Duration::from_secs(60);

/// Distinct error texts kept per cell.
const MAX_ERROR_KINDS: usize = 8;

/// How long a measurement runs.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// Calls made first and thrown away.
    pub warmup: Duration,
    /// The measured time.
    pub duration: Duration,
    /// How long calls in flight at the end may still take before their
    /// tasks are aborted and counted as failed.
    pub grace: Duration,
}

/// One unary call of a workload, made by many tasks at once.
pub trait Unary: Send + Sync + 'static {
    /// Makes one call on behalf of task `task` (which picks its connection).
    ///
    /// # Errors
    ///
    /// The call's failure, as text.
    fn call(&self, task: usize) -> impl Future<Output = Result<(), String>> + Send;
}

/// A streaming call of `count` messages (back, forth, or both ways).
pub trait Streamer: Send + Sync + 'static {
    /// Makes one streaming call of `count` messages and ticks `clock` per
    /// message (or once for all, when they are confirmed together).
    ///
    /// # Errors
    ///
    /// The call's failure, or fewer messages than asked for.
    fn stream(
        &self,
        count: u32,
        clock: &mut MessageClock,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// Calls or messages counted by one task, merged into an [`Outcome`].
#[derive(Debug)]
pub struct Tally {
    ok: u64,
    failed: u64,
    errors: BTreeMap<String, u64>,
    latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// Nothing counted yet.
    pub fn new() -> Self {
        let latency = Histogram::new_with_bounds(1, MAX_LATENCY.as_nanos() as u64, 3)
            .expect("static histogram bounds are valid");
        Self {
            ok: 0,
            failed: 0,
            errors: BTreeMap::new(),
            latency,
        }
    }

    /// Counts a success that took `latency`.
    pub fn record(&mut self, latency: Duration) {
        self.ok += 1;
        self.latency.saturating_record(latency.as_nanos() as u64);
    }

    /// Counts a failure.
    pub fn fail(&mut self, error: impl Into<String>) {
        self.failed += 1;
        let error = error.into();
        if let Some(n) = self.errors.get_mut(&error) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_KINDS {
            self.errors.insert(error, 1);
        } else {
            *self.errors.entry("(other errors)".into()).or_default() += 1;
        }
    }

    /// What was counted, as the outcome of a phase that took `elapsed`.
    pub fn into_outcome(self, elapsed: Duration) -> Outcome {
        Outcome::from_tally(self, elapsed)
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failed += other.failed;
        for (error, n) in other.errors {
            *self.errors.entry(error).or_default() += n;
        }
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
    }
}

/// Ticks once per streamed message: counts it and records the gap since
/// the previous one.
#[derive(Debug, Default)]
pub struct MessageClock {
    last: Option<Instant>,
    tally: Tally,
}

impl MessageClock {
    /// Counts one message.
    pub fn tick(&mut self) {
        let now = Instant::now();
        match self.last {
            Some(last) => self.tally.record(now - last),
            None => self.tally.ok += 1,
        }
        self.last = Some(now);
    }

    /// Counts `count` messages that arrived as one (a client stream's
    /// single response): one gap, since the previous tick, is recorded.
    pub fn ticks(&mut self, count: u32) {
        self.tick();
        self.tally.ok += u64::from(count.saturating_sub(1));
    }
}

/// What a measured phase produced.
#[derive(Debug)]
pub struct Outcome {
    /// Successful calls (or messages).
    pub ok: u64,
    /// Failed calls (tasks aborted after the grace period count one each).
    pub failed: u64,
    /// The errors seen, by text, with their counts.
    pub errors: BTreeMap<String, u64>,
    /// From the first call to the last task's end.
    pub elapsed: Duration,
    /// Latencies of successful calls (or gaps between messages), in ns.
    pub latency: Histogram<u64>,
}

impl Outcome {
    /// Successes per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0..=1), in microseconds; 0 without data.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.value_at_quantile(q) as f64 / 1e3
    }

    fn from_tally(tally: Tally, elapsed: Duration) -> Self {
        Self {
            ok: tally.ok,
            failed: tally.failed,
            errors: tally.errors,
            elapsed,
            latency: tally.latency,
        }
    }
}

/// Runs `concurrency` tasks looping `unary` calls (each at least one): a
/// warm-up, then the measured duration.
pub async fn run_unary<U: Unary>(unary: Arc<U>, concurrency: usize, phase: Phase) -> Outcome {
    if !phase.warmup.is_zero() {
        unary_for(&unary, concurrency, phase.warmup, phase.grace).await;
    }
    unary_for(&unary, concurrency, phase.duration, phase.grace).await
}

async fn unary_for<U: Unary>(
    unary: &Arc<U>,
    concurrency: usize,
    duration: Duration,
    grace: Duration,
) -> Outcome {
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = JoinSet::new();
    for task in 0..concurrency.max(1) {
        let unary = unary.clone();
        tasks.spawn(async move {
            // Every task makes at least one call, however late it starts.
            let mut tally = Tally::new();
            let mut now = Instant::now();
            loop {
                let began = now;
                let result = unary.call(task).await;
                now = Instant::now();
                match result {
                    Ok(()) => tally.record(now - began),
                    Err(err) => tally.fail(err),
                }
                if now >= end {
                    return tally;
                }
            }
        });
    }
    join(tasks, start, end + grace).await
}

/// Streams `chunk` messages per call, call after call, from one task: a
/// warm-up, then the measured duration. The call under way when time is up
/// runs to its end (bounded by the grace period).
pub async fn run_stream<S: Streamer>(streamer: Arc<S>, chunk: u32, phase: Phase) -> Outcome {
    if !phase.warmup.is_zero() {
        stream_for(&streamer, chunk, phase.warmup, phase.grace).await;
    }
    stream_for(&streamer, chunk, phase.duration, phase.grace).await
}

async fn stream_for<S: Streamer>(
    streamer: &Arc<S>,
    chunk: u32,
    duration: Duration,
    grace: Duration,
) -> Outcome {
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = JoinSet::new();
    let streamer = streamer.clone();
    tasks.spawn(async move {
        let mut clock = MessageClock::default();
        loop {
            if let Err(err) = streamer.stream(chunk, &mut clock).await {
                clock.tally.fail(err);
            }
            if Instant::now() >= end {
                return clock.tally;
            }
        }
    });
    join(tasks, start, end + grace).await
}

/// Merges the tasks' tallies; tasks still running at `deadline` are aborted
/// and counted as failed calls.
async fn join(mut tasks: JoinSet<Tally>, start: Instant, deadline: Instant) -> Outcome {
    let mut total = Tally::new();
    loop {
        match tokio::time::timeout_at(deadline.into(), tasks.join_next()).await {
            Ok(None) => break,
            Ok(Some(Ok(tally))) => total.merge(tally),
            Ok(Some(Err(err))) => total.fail(format!("load task failed: {err}")),
            Err(_) => {
                for _ in 0..tasks.len() {
                    total.fail("call still unfinished after the grace period");
                }
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    Outcome::from_tally(total, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Alternating(std::sync::atomic::AtomicU64);

    impl Unary for Alternating {
        async fn call(&self, _task: usize) -> Result<(), String> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::task::yield_now().await;
            if n.is_multiple_of(2) {
                Ok(())
            } else {
                Err("odd".into())
            }
        }
    }

    struct Hang;

    impl Unary for Hang {
        async fn call(&self, _task: usize) -> Result<(), String> {
            std::future::pending().await
        }
    }

    fn phase(duration_ms: u64, grace_ms: u64) -> Phase {
        Phase {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(duration_ms),
            grace: Duration::from_millis(grace_ms),
        }
    }

    #[tokio::test]
    async fn failures_are_counted_not_fatal() {
        let out = run_unary(
            Arc::new(Alternating(Default::default())),
            4,
            phase(20, 1000),
        )
        .await;
        assert!(out.ok > 0 && out.failed > 0);
        assert_eq!(out.errors.get("odd"), Some(&out.failed));
        assert_eq!(out.latency.len(), out.ok);
    }

    #[tokio::test]
    async fn hung_calls_are_aborted_and_counted() {
        let out = run_unary(Arc::new(Hang), 3, phase(1, 10)).await;
        assert_eq!(out.ok, 0);
        assert_eq!(out.failed, 3);
        assert_eq!(out.quantile_us(0.99), 0.0);
    }

    #[test]
    fn message_clock_records_gaps() {
        let mut clock = MessageClock::default();
        for _ in 0..5 {
            clock.tick();
        }
        assert_eq!(clock.tally.ok, 5);
        assert_eq!(clock.tally.latency.len(), 4);
        clock.ticks(10);
        assert_eq!(clock.tally.ok, 15);
        assert_eq!(clock.tally.latency.len(), 5);
    }
}
