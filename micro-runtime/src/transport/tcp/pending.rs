//! The budget of bytes a listener holds in partly received frames, across
//! all its connections (`MICRO_TRANSPORT_MAX_PENDING_BYTES`).
//!
//! A reader's buffer grows with the bytes of a frame as they arrive, so one
//! connection holds at most what it sent; many connections that each send
//! most of a large frame and stop would still add up to their number times
//! the frame limit. Each connection takes its share from the listener's
//! budget before it reads more into a partial frame; one that would go
//! over is closed, with a throttled warning.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::log::Throttled;

/// What all connections of one listener may hold in partial frames.
pub(crate) struct PendingBudget {
    held: AtomicUsize,
    max: usize,
    refusals: Throttled,
}

impl PendingBudget {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            held: AtomicUsize::new(0),
            max,
            refusals: Throttled::new("tcp partial frames", Duration::from_secs(10)),
        })
    }

    /// Takes `more` bytes, unless the listener would then hold more than its budget.
    fn take(&self, more: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(more).filter(|total| *total <= self.max)
            })
            .is_ok()
    }

    fn give(&self, less: usize) {
        self.held.fetch_sub(less, Ordering::AcqRel);
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// One connection's share of its listener's budget, given back on drop.
pub(crate) struct PendingShare {
    budget: Arc<PendingBudget>,
    held: usize,
}

impl PendingShare {
    pub(crate) fn new(budget: Arc<PendingBudget>) -> Self {
        Self { budget, held: 0 }
    }

    /// Makes the share `bytes`; false (the share unchanged, the refusal
    /// logged, throttled) when the listener cannot grant that much.
    pub(crate) fn hold(&mut self, bytes: usize, peer: &str) -> bool {
        if bytes > self.held {
            if !self.budget.take(bytes - self.held) {
                let budget = &self.budget;
                budget.refusals.warn(|suppressed| {
                    tracing::warn!(peer = %peer, pending = bytes, suppressed,
                        "closing connection: partly received frames would hold more than the \
                         listener's {} bytes (MICRO_TRANSPORT_MAX_PENDING_BYTES)", budget.max);
                });
                return false;
            }
        } else {
            self.budget.give(self.held - bytes);
        }
        self.held = bytes;
        true
    }
}

impl Drop for PendingShare {
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_budget_and_are_given_back() {
        let budget = PendingBudget::new(100);
        let mut a = PendingShare::new(budget.clone());
        let mut b = PendingShare::new(budget.clone());
        assert!(a.hold(60, "a"));
        assert!(!b.hold(50, "b"), "60 + 50 is over 100");
        assert!(b.hold(40, "b"));
        assert_eq!(budget.held(), 100);
        assert!(a.hold(10, "a"), "shrinking always works");
        assert!(b.hold(90, "b"));
        assert!(!a.hold(11, "a"));
        assert_eq!(budget.held(), 100);
        drop(b);
        assert_eq!(budget.held(), 10);
        assert!(a.hold(0, "a"));
        assert_eq!(budget.held(), 0);
    }
}
