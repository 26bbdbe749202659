//! Keeping a registration alive: registering again before its TTL runs out.

use std::sync::Arc;
use std::time::Duration;

use super::{Registry, Service};

/// Re-registers `record` every `interval` so the registration never expires
/// while the process lives; a failure is logged and retried on the next
/// tick. Runs until its task is aborted.
pub(crate) async fn keep_alive(
    registry: Arc<dyn Registry>,
    record: Service,
    ttl: Duration,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(err) = registry.register(&record, ttl).await {
            tracing::warn!(service = %record.name, error = %err, "re-registering failed");
        }
    }
}
