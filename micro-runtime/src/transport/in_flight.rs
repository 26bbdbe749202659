use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts calls in flight and lets shutdown wait until none is left.
#[derive(Clone, Default)]
pub(crate) struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    count: AtomicUsize,
    /// Tasks in `wait_idle`: the last guard wakes them only when there
    /// are some (waking takes a lock; every call's guard would pay it).
    waiting: AtomicUsize,
    idle: Notify,
}

/// Held while one call is in flight.
pub(crate) struct InFlightGuard {
    inner: Arc<Inner>,
}

impl InFlight {
    pub(crate) fn enter(&self) -> InFlightGuard {
        self.inner.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard {
            inner: self.inner.clone(),
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.inner.count.load(Ordering::Acquire)
    }

    /// Resolves once no call is in flight.
    pub(crate) async fn wait_idle(&self) {
        self.inner.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.inner);
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a guard dropped after
            // the read sees `waiting` and wakes this.
            notified.as_mut().enable();
            if self.inner.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts one task in `wait_idle` while it waits.
struct Waiting<'a>(&'a Inner);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.inner.count.fetch_sub(1, Ordering::SeqCst) == 1
            && self.inner.waiting.load(Ordering::SeqCst) > 0
        {
            self.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn waits_for_the_last_guard() {
        let in_flight = InFlight::default();
        let a = in_flight.enter();
        let b = in_flight.enter();
        assert_eq!(in_flight.count(), 2);
        let mut idle = Box::pin(in_flight.wait_idle());
        assert!((&mut idle).now_or_never().is_none());
        drop(a);
        assert!((&mut idle).now_or_never().is_none());
        drop(b);
        idle.await;
    }
}
