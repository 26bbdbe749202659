//! The safety rule: a holder believes it holds a lock (or leads) only until
//! a local deadline, computed from the time it *sent* its last renewal that
//! etcd answered, plus the lease's TTL, minus a margin.
//!
//! etcd renews a lease when the renewal *arrives*, after it was sent, so the
//! lease outlives the deadline: while the holder believes, no one else can
//! hold. The deadline is checked against the monotonic clock, so a holder
//! that was frozen (SIGSTOP, a long GC-like pause, a suspended VM) and wakes
//! up past it stops believing before acting, even if it heard nothing from
//! etcd. Once the belief ended it never comes back: a renewal sent after
//! the deadline extends nothing. (Tokio's `Instant` is the monotonic clock;
//! it is only mocked in tests with a paused clock.)

use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::watch;

/// Why a holder stopped believing, or `None` while it believes.
#[derive(Clone, Debug)]
struct State {
    /// `None`: no expiry (the in-process backend).
    deadline: Option<Instant>,
    ended: Option<String>,
}

/// One holder's belief that it holds.
#[derive(Debug)]
pub(crate) struct Belief {
    state: watch::Sender<State>,
}

/// The part of a TTL a holder gives up to clock drift and scheduling: a
/// tenth, at least 100 ms, at most half.
#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
pub(crate) fn margin(ttl: Duration) -> Duration {
    (ttl / 10).max(Duration::from_millis(100)).min(ttl / 2)
}

impl Belief {
    /// A belief that lasts until `deadline` (`None`: until ended).
    pub(crate) fn new(deadline: Option<Instant>) -> Self {
        Self {
            state: watch::Sender::new(State {
                deadline,
                ended: None,
            }),
        }
    }

    /// A renewal sent at `sent` was answered: the lease lives `ttl` from
    /// then. Moves the deadline to `sent + ttl - margin` unless the belief
    /// had already ended (by its deadline or otherwise); false then.
    #[cfg_attr(not(feature = "etcd"), allow(dead_code))]
    pub(crate) fn renewed(&self, sent: Instant, ttl: Duration) -> bool {
        let mut extended = false;
        self.state.send_if_modified(|state| {
            if state.ended.is_some() {
                return false;
            }
            match state.deadline {
                Some(deadline) if sent >= deadline => {
                    state.ended = Some(expired(deadline));
                    true
                }
                Some(deadline) => {
                    let next = sent + ttl.saturating_sub(margin(ttl));
                    extended = true;
                    if next > deadline {
                        state.deadline = Some(next);
                        true
                    } else {
                        false
                    }
                }
                None => {
                    extended = true;
                    false
                }
            }
        });
        extended
    }

    /// Ends the belief (the first reason given is kept).
    pub(crate) fn end(&self, why: impl Into<String>) {
        let why = why.into();
        self.state.send_if_modified(|state| {
            if state.ended.is_some() {
                return false;
            }
            state.ended = Some(why);
            true
        });
    }

    /// `Ok` while the holder may act; otherwise why not. A deadline found
    /// passed ends the belief.
    pub(crate) fn check(&self) -> Result<(), String> {
        let state = self.state.borrow().clone();
        if let Some(why) = state.ended {
            return Err(why);
        }
        match state.deadline {
            Some(deadline) if Instant::now() >= deadline => {
                self.end(expired(deadline));
                Err(self.state.borrow().ended.clone().unwrap_or_default())
            }
            _ => Ok(()),
        }
    }

    /// The current deadline (`None`: none).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.state.borrow().deadline
    }

    /// Waits until the belief ends (its deadline passes, or it is ended);
    /// why.
    pub(crate) async fn ended(&self) -> String {
        let mut rx = self.state.subscribe();
        loop {
            let deadline = {
                let state = rx.borrow_and_update();
                if let Some(why) = &state.ended {
                    return why.clone();
                }
                state.deadline
            };
            if let Err(why) = self.check() {
                return why;
            }
            let sleep = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                changed = rx.changed() => {
                    if changed.is_err() {
                        return "the holder went away".into();
                    }
                }
            }
        }
    }
}

fn expired(deadline: Instant) -> String {
    let late = Instant::now().saturating_duration_since(deadline);
    format!(
        "the lease was not renewed in time (local deadline passed {} ms ago)",
        late.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins() {
        assert_eq!(margin(Duration::from_secs(2)), Duration::from_millis(200));
        assert_eq!(
            margin(Duration::from_millis(500)),
            Duration::from_millis(100)
        );
        assert_eq!(
            margin(Duration::from_millis(100)),
            Duration::from_millis(50)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_moves_the_deadline_from_its_send_time() {
        let ttl = Duration::from_secs(2);
        let start = Instant::now();
        let belief = Belief::new(Some(start + ttl - margin(ttl)));
        tokio::time::advance(Duration::from_secs(1)).await;
        let sent = Instant::now();
        // The answer arrives late; the deadline counts from the send.
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(belief.renewed(sent, ttl));
        assert_eq!(belief.deadline(), Some(sent + Duration::from_millis(1800)));
        assert!(belief.check().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_belief_without_any_news() {
        let belief = Belief::new(Some(Instant::now() + Duration::from_secs(1)));
        let ended = belief.ended();
        tokio::pin!(ended);
        assert!(
            tokio::time::timeout(Duration::from_millis(900), &mut ended)
                .await
                .is_err()
        );
        let why = ended.await;
        assert!(why.contains("not renewed in time"), "{why}");
        assert!(belief.check().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_sent_after_the_deadline_extends_nothing() {
        let belief = Belief::new(Some(Instant::now() + Duration::from_secs(1)));
        // Frozen past the deadline, then a renewal goes out and is answered.
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!belief.renewed(Instant::now(), Duration::from_secs(2)));
        let why = belief.check().unwrap_err();
        assert!(why.contains("not renewed in time"), "{why}");
        // Once ended, always ended.
        assert!(!belief.renewed(Instant::now(), Duration::from_secs(2)));
        assert!(belief.check().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn ending_wakes_the_waiters_and_keeps_the_first_reason() {
        let belief = std::sync::Arc::new(Belief::new(None));
        let waiter = tokio::spawn({
            let belief = belief.clone();
            async move { belief.ended().await }
        });
        tokio::task::yield_now().await;
        belief.end("revoked");
        belief.end("released");
        assert_eq!(waiter.await.unwrap(), "revoked");
        assert_eq!(belief.check().unwrap_err(), "revoked");
    }
}
