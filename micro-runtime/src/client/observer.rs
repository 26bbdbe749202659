//! What a client reports beyond what its wrappers see: retries inside a
//! call, nodes taken out of rotation, events published. Metrics install
//! one observer per client ([`Core::observe`]); without one each report
//! is a single atomic load.

use std::sync::Arc;

use super::Core;
use crate::Result;

/// Receives a client's reports; called on the caller's task, so it must be quick.
pub(crate) trait CallObserver: Send + Sync + 'static {
    /// An attempt of a call to `service`/`endpoint` failed and is tried again.
    fn retried(&self, service: &str, endpoint: &str);
    /// A node of `service` was ejected (outlier ejection).
    fn ejected(&self, service: &str);
    /// An event was published to `topic`, with the broker's answer.
    fn published(&self, topic: &str, result: &Result<()>);
}

impl Core {
    /// Installs `observer`; false when the client has one already.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn observe(&self, observer: Arc<dyn CallObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Runs `report` on the observer, if any.
    pub(crate) fn report(&self, report: impl FnOnce(&dyn CallObserver)) {
        if let Some(observer) = self.observer.get() {
            report(&**observer);
        }
    }
}
