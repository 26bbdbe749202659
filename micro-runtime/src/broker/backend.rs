//! What the server-backed brokers (NATS, RabbitMQ, Kafka) share: retry and
//! reconnect delays, the 503 they answer when the server cannot be reached,
//! and the consumer loops behind their subscriptions.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Unsubscribe;
use crate::{Error, Result};

/// Deliveries of a message before a failing handler gives up on it and the
/// message is dead-lettered (the memory broker's limit, too).
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// Header naming why a message was moved to a dead-letter topic (set where
/// the backend forwards dead letters itself: NATS, Kafka).
#[cfg(any(feature = "nats", feature = "kafka"))]
pub(crate) const HEADER_DEAD_LETTER_REASON: &str = "micro-dead-letter-reason";

/// How long a consumer loop may take to wind down when unsubscribed.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// The wait before redelivering a message whose handler failed for the
/// `attempt`-th time: 100 ms doubling up to 5 s.
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(1 << attempt.saturating_sub(1).min(6))
        .min(Duration::from_secs(5))
}

/// The wait before the `failures`-th reconnect attempt of a consumer loop:
/// 100 ms doubling up to 5 s, with jitter (50–100 %).
pub(crate) fn reconnect_delay(failures: u32) -> Duration {
    let base = Duration::from_millis(100)
        .saturating_mul(1 << failures.min(6))
        .min(Duration::from_secs(5));
    base.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// 503: `backend` at `address` cannot be reached or refused, and why.
pub(crate) fn unavailable(backend: &str, address: &str, why: impl Display) -> Error {
    Error::unavailable(format!("{backend} at {address}: {why}")).with_id("micro.broker")
}

/// The end of a consumer loop: resolves once its subscription is ended.
#[derive(Clone)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves when the loop must end.
    ///
    /// Cancel safe.
    pub(crate) async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// True once the loop must end.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `delay`; false when the loop must end meanwhile.
    pub(crate) async fn sleep(&mut self, delay: Duration) -> bool {
        tokio::select! {
            () = self.stopped() => false,
            () = tokio::time::sleep(delay) => !self.is_stopped(),
        }
    }
}

struct Running {
    stop: watch::Sender<bool>,
    /// The loop's task; none for a subscription read in its consumer's
    /// task (a stream), which only needs telling.
    task: Option<JoinHandle<()>>,
}

impl Running {
    async fn end(self) {
        self.stop.send_replace(true);
        let Some(mut task) = self.task else {
            return;
        };
        if tokio::time::timeout(STOP_WAIT, &mut task).await.is_err() {
            tracing::warn!("a broker consumer loop did not stop in time; aborted");
            task.abort();
        }
    }
}

/// The consumer loops of one broker, so `disconnect` can end them all.
#[derive(Default)]
pub(crate) struct Loops {
    next: AtomicU64,
    running: Mutex<HashMap<u64, Running>>,
}

impl Loops {
    /// Spawns the loop `run` makes, returning the handle that ends it (it
    /// is told through its [`Stop`], then awaited, then aborted if slow).
    pub(crate) fn spawn<F, Fut>(self: &Arc<Self>, run: F) -> Arc<dyn Unsubscribe>
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, watch) = watch::channel(false);
        let task = tokio::spawn(run(Stop(watch)));
        self.add(Running {
            stop,
            task: Some(task),
        })
    }

    /// Registers a subscription read without a task of its own: its
    /// [`Stop`] resolves when the returned handle (or `stop_all`) ends it.
    pub(crate) fn register(self: &Arc<Self>) -> (Stop, Arc<dyn Unsubscribe>) {
        let (stop, watch) = watch::channel(false);
        let handle = self.add(Running { stop, task: None });
        (Stop(watch), handle)
    }

    fn add(self: &Arc<Self>, running: Running) -> Arc<dyn Unsubscribe> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.running.lock().unwrap().insert(id, running);
        Arc::new(EndLoop {
            loops: self.clone(),
            id,
        })
    }

    /// Ends every loop.
    pub(crate) async fn stop_all(&self) {
        let all: Vec<Running> = self
            .running
            .lock()
            .unwrap()
            .drain()
            .map(|(_, r)| r)
            .collect();
        for running in all {
            running.end().await;
        }
    }
}

struct EndLoop {
    loops: Arc<Loops>,
    id: u64,
}

#[async_trait::async_trait]
impl Unsubscribe for EndLoop {
    async fn unsubscribe(&self) -> Result<()> {
        let running = self.loops.running.lock().unwrap().remove(&self.id);
        if let Some(running) = running {
            running.end().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(2), Duration::from_millis(200));
        assert_eq!(retry_delay(30), Duration::from_secs(5));
        assert!(reconnect_delay(0) <= Duration::from_millis(100));
        assert!(reconnect_delay(40) <= Duration::from_secs(5));
        assert!(reconnect_delay(40) >= Duration::from_millis(2500));
    }

    #[tokio::test]
    async fn unsubscribe_ends_the_loop() {
        let loops = Arc::new(Loops::default());
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let handle = loops.spawn(|mut stop| async move {
            stop.stopped().await;
            drop(tx);
        });
        handle.unsubscribe().await.unwrap();
        assert!(rx.recv().await.is_none(), "the loop ended");
        assert!(loops.running.lock().unwrap().is_empty());
    }
}
