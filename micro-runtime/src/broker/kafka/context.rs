//! librdkafka callbacks: logs into `tracing`, and the consumer's
//! rebalances into the offset tracker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use tokio::sync::watch;

use super::offsets::Offsets;

/// Forwards librdkafka's logs and errors to `tracing`.
#[derive(Default)]
pub(super) struct LogContext {
    errors: ErrorLog,
}

/// Client errors (librdkafka repeats "all brokers down" at every reconnect
/// attempt): at warn level at most every 30 s, at debug level otherwise.
#[derive(Default)]
pub(super) struct ErrorLog {
    last_warned: Mutex<Option<Instant>>,
}

impl ErrorLog {
    /// True when a warning is due (none in the last 30 s).
    fn due(&self) -> bool {
        let mut last = self.last_warned.lock().unwrap();
        let due = last.is_none_or(|at| at.elapsed() >= Duration::from_secs(30));
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    fn report(&self, error: &KafkaError, reason: &str) {
        if self.due() {
            tracing::warn!(error = %error, reason, "kafka client error");
        } else {
            tracing::debug!(error = %error, reason, "kafka client error");
        }
    }

    /// librdkafka's log lines; its connection failures ("FAIL", repeated
    /// at every reconnect attempt) count as client errors.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        if facility == "FAIL" && !self.due() {
            tracing::debug!(facility, "librdkafka: {message}");
        } else {
            log(level, facility, message);
        }
    }
}

fn log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(facility, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(facility, "librdkafka: {message}"),
    }
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.errors.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.report(&error, reason);
    }
}

/// A consumer's context: logs, and its partition assignments.
pub(super) struct ConsumerCtx {
    pub(super) offsets: Arc<Offsets>,
    /// Set once the group assigned this consumer its partitions.
    pub(super) assigned: watch::Sender<bool>,
    pub(super) errors: ErrorLog,
}

impl ClientContext for ConsumerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.errors.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.report(&error, reason);
    }
}

impl ConsumerContext for ConsumerCtx {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.offsets.revoke(partitions);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                self.offsets.assign(partitions);
                tracing::debug!(partitions = partitions.count(), "kafka partitions assigned");
                self.assigned.send_replace(true);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(err) => tracing::warn!(error = %err, "kafka rebalance failed"),
        }
    }
}
