#![doc = include_str!("../../../docs/sync.md")]

mod belief;
#[cfg(feature = "etcd")]
pub mod etcd;
mod guard;
pub mod memory;
mod observer;

pub use guard::Guard;
pub use observer::Observer;

use std::time::Duration;

use crate::{Error, Result};

/// Distributed mutual exclusion: one holder of a name at a time.
#[async_trait::async_trait]
pub trait Locks: Send + Sync {
    /// Waits (at most `timeout`) until this caller holds the lock `name`.
    ///
    /// # Errors
    ///
    /// 400 for an empty name; 408 when it is still held by another after
    /// `timeout`; 503 when the backend cannot be reached.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped call leaves the queue (its lease is revoked).
    async fn acquire(&self, name: &str, timeout: Duration) -> Result<Guard>;
}

/// Leader election: candidates queue for a name; the first one leads until
/// it resigns or loses its lease, then the next one does.
#[async_trait::async_trait]
pub trait Elections: Send + Sync {
    /// Waits until this candidate leads the election `name`, announcing
    /// `value` (e.g. its address) to observers. The [`Guard`] is the term:
    /// its token grows with every term; release it to resign.
    ///
    /// # Errors
    ///
    /// 400 for an empty name; 503 when the backend cannot be reached.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped campaign leaves the queue. Bound it with
    /// `tokio::time::timeout` to campaign for a while only.
    async fn campaign(&self, name: &str, value: &str) -> Result<Guard>;

    /// Who leads `name` now, if anyone.
    ///
    /// # Errors
    ///
    /// 400 for an empty name; 503 when the backend cannot be reached.
    async fn leader(&self, name: &str) -> Result<Option<LeaderInfo>>;

    /// Who leads `name`, now and at every change.
    ///
    /// # Errors
    ///
    /// 400 for an empty name; 503 when the backend cannot be reached.
    async fn observe(&self, name: &str) -> Result<Observer>;
}

/// The leader of an election, as observers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderInfo {
    /// What the leader announced with [`Elections::campaign`].
    pub value: String,
    /// Its term's fencing token.
    pub token: u64,
}

/// The error id of this module's errors.
const ID: &str = "micro.sync";

/// 400 for names a lock or election cannot have.
fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::bad_request(format!("the {what} name is empty")).with_id(ID));
    }
    Ok(())
}
