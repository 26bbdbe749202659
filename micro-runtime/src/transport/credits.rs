//! Flow-control credit a stream's writer spends: bytes the reader granted.
//!
//! A counter rather than a semaphore: taking credit that is there is one
//! compare-and-swap with no future to build, poll and drop (a stream
//! spends credit per message); only a writer that runs out waits, woken
//! when the reader grants more or the stream closes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// Bytes a stream's writer may still send.
pub(crate) struct Credits {
    available: AtomicU64,
    closed: AtomicBool,
    granted: Notify,
}

/// The stream closed while its writer waited for credit.
#[derive(Debug)]
pub(crate) struct Closed;

impl Credits {
    /// `initial` bytes of credit.
    pub(crate) fn new(initial: usize) -> Self {
        Self {
            available: AtomicU64::new(initial as u64),
            closed: AtomicBool::new(false),
            granted: Notify::new(),
        }
    }

    /// Takes `cost` bytes if they are there (never on a closed stream).
    pub(crate) fn try_take(&self, cost: u32) -> bool {
        let cost = u64::from(cost);
        let mut now = self.available.load(Ordering::Acquire);
        loop {
            if now < cost || self.is_closed() {
                return false;
            }
            match self.available.compare_exchange_weak(
                now,
                now - cost,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => now = actual,
            }
        }
    }

    /// Takes `cost` bytes, waiting for the reader to grant them.
    ///
    /// # Errors
    ///
    /// [`Closed`] when the stream closes first.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes takes nothing.
    pub(crate) async fn take(&self, cost: u32) -> Result<(), Closed> {
        loop {
            let granted = self.granted.notified();
            tokio::pin!(granted);
            // Registered before the check, so a grant in between wakes us.
            granted.as_mut().enable();
            if self.try_take(cost) {
                return Ok(());
            }
            if self.is_closed() {
                return Err(Closed);
            }
            granted.await;
        }
    }

    /// Grants `credit` more bytes and wakes the writers waiting for it.
    pub(crate) fn add_permits(&self, credit: usize) {
        self.available.fetch_add(credit as u64, Ordering::AcqRel);
        self.granted.notify_waiters();
    }

    /// Closes the stream: waiting writers fail, and so do later takes.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.granted.notify_waiters();
    }

    /// True once [`Credits::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;
    use std::sync::Arc;

    #[test]
    fn takes_what_is_there() {
        let credits = Credits::new(100);
        assert!(credits.try_take(60));
        assert!(!credits.try_take(60), "only 40 left");
        assert!(credits.try_take(40));
        credits.add_permits(10);
        assert!(credits.try_take(10));
    }

    #[tokio::test]
    async fn a_writer_waits_for_a_grant() {
        let credits = Arc::new(Credits::new(10));
        assert!(credits.take(20).now_or_never().is_none());
        let waiting = tokio::spawn({
            let credits = credits.clone();
            async move { credits.take(20).await.is_ok() }
        });
        tokio::task::yield_now().await;
        credits.add_permits(15);
        assert!(waiting.await.unwrap());
        assert!(!credits.try_take(6), "5 left after 25 granted and 20 taken");
    }

    #[tokio::test]
    async fn closing_fails_waiting_writers() {
        let credits = Arc::new(Credits::new(0));
        let waiting = tokio::spawn({
            let credits = credits.clone();
            async move { credits.take(1).await.is_err() }
        });
        tokio::task::yield_now().await;
        credits.close();
        assert!(waiting.await.unwrap());
        credits.add_permits(10);
        assert!(!credits.try_take(1), "a closed stream takes nothing");
    }
}
