//! A held lock or a term of leadership: its fencing token, whether the
//! holder may still act, the "lost" signal, and release.

use std::sync::Arc;
use std::time::Instant;

use super::belief::Belief;
use crate::{Error, Result};

/// How a backend lets go of what a [`Guard`] holds.
#[async_trait::async_trait]
pub(crate) trait Release: Send + Sync + 'static {
    /// Lets go (deletes the key, revokes the lease, wakes the next waiter).
    async fn release(&self) -> Result<()>;
}

/// A held lock, or a term as leader: from [`Locks::acquire`] or
/// [`Elections::campaign`].
///
/// The holder must call [`check`](Guard::check) right before each action
/// that needs exclusivity, and pass [`token`](Guard::token) along to
/// whatever it writes, so a resource that remembers the highest token it
/// saw refuses a holder that lost without knowing (see the module docs).
///
/// Dropping a guard releases it in the background (inside a Tokio
/// runtime); [`release`](Guard::release) does it and reports the outcome.
///
/// [`Locks::acquire`]: super::Locks::acquire
/// [`Elections::campaign`]: super::Elections::campaign
pub struct Guard {
    name: String,
    token: u64,
    belief: Arc<Belief>,
    release: Option<Arc<dyn Release>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("name", &self.name)
            .field("token", &self.token)
            .field("held", &self.is_held())
            .finish_non_exhaustive()
    }
}

impl Guard {
    pub(crate) fn new(
        name: &str,
        token: u64,
        belief: Arc<Belief>,
        release: Arc<dyn Release>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            token,
            belief,
            release: Some(release),
        }
    }

    /// The lock's or election's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing token: larger on every acquisition of this name (on
    /// etcd, the holder key's create revision).
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Whether the holder may still act: not lost, released, nor past its
    /// local deadline.
    pub fn is_held(&self) -> bool {
        self.belief.check().is_ok()
    }

    /// The token while the holder may act; call it right before acting.
    ///
    /// # Errors
    ///
    /// 409 (`micro.sync`) saying why it was lost: the local deadline passed
    /// (the lease could not be renewed in time), etcd said the lease is
    /// gone, or it was released.
    pub fn check(&self) -> Result<u64> {
        self.belief
            .check()
            .map(|()| self.token)
            .map_err(|why| self.lost_error(&why))
    }

    /// Until when the holder believes it holds, unless renewed first
    /// (`None`: no expiry, as in the in-process backend).
    pub fn deadline(&self) -> Option<Instant> {
        self.belief.deadline().map(tokio::time::Instant::into_std)
    }

    /// Resolves when the lock or leadership is lost: the local deadline
    /// passed without a renewal, etcd said the lease is gone, or it was
    /// released. Gives the 409 that [`check`](Guard::check) gives from
    /// then on.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future changes nothing.
    pub async fn lost(&self) -> Error {
        let why = self.belief.ended().await;
        self.lost_error(&why)
    }

    /// Lets go: the next waiter may acquire. The guard stops holding first,
    /// so nothing acts on it while the release travels.
    ///
    /// # Errors
    ///
    /// 503 when etcd could not be told; the lease then runs out by itself
    /// within its TTL.
    pub async fn release(mut self) -> Result<()> {
        self.belief.end("released");
        match self.release.take() {
            Some(release) => release.release().await,
            None => Ok(()),
        }
    }

    /// Steps down as leader: [`release`](Guard::release) under the name
    /// elections use.
    ///
    /// # Errors
    ///
    /// As [`release`](Guard::release).
    pub async fn resign(self) -> Result<()> {
        self.release().await
    }

    fn lost_error(&self, why: &str) -> Error {
        Error::conflict(format!(
            "{:?} (token {}) is no longer held: {why}",
            self.name, self.token
        ))
        .with_id("micro.sync")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            self.belief.end("released");
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(err) = release.release().await {
                        tracing::debug!(%err, "releasing a dropped guard failed; its lease runs out by itself");
                    }
                });
            }
        }
    }
}
