//! Warnings a peer can trigger at will, throttled so that a flood of bad
//! input does not become a flood of log lines.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets one warning through per interval and counts the ones it held back,
/// so the next line that passes can say how many there were.
pub(crate) struct Throttled {
    what: &'static str,
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    /// A throttle for the warnings of `what` (named in debug output).
    pub(crate) fn new(what: &'static str, interval: Duration) -> Self {
        Self {
            what,
            interval,
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// Calls `log` with the number of warnings held back since the last
    /// one, if an interval has passed since then; else counts this one.
    pub(crate) fn warn(&self, log: impl FnOnce(u64)) {
        self.warn_at(Instant::now(), log);
    }

    fn warn_at(&self, now: Instant, log: impl FnOnce(u64)) {
        let suppressed = {
            let mut state = self.state.lock().unwrap();
            if state.last.is_some_and(|last| now < last + self.interval) {
                state.suppressed += 1;
                tracing::debug!(what = self.what, "warning held back (throttled)");
                return;
            }
            state.last = Some(now);
            std::mem::take(&mut state.suppressed)
        };
        log(suppressed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_and_the_count_of_the_rest() {
        let throttle = Throttled::new("test", Duration::from_secs(10));
        let start = Instant::now();
        let mut passed = Vec::new();
        for i in 0..1000 {
            throttle.warn_at(start + Duration::from_millis(i), |held| passed.push(held));
        }
        assert_eq!(passed, [0]);
        let later = start + Duration::from_secs(10);
        throttle.warn_at(later, |held| passed.push(held));
        throttle.warn_at(later, |held| passed.push(held));
        assert_eq!(passed, [0, 999]);
    }
}
