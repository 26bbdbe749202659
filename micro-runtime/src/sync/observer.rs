//! Following who leads an election.

use std::pin::Pin;

use futures_core::Stream;

use super::LeaderInfo;
use crate::{Error, Result};

type Changes = Pin<Box<dyn Stream<Item = Result<Option<LeaderInfo>>> + Send>>;

/// Who leads an election: first the leader at the time of
/// [`Elections::observe`](super::Elections::observe), then each change
/// (`None`: no one leads).
pub struct Observer {
    changes: Changes,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer").finish_non_exhaustive()
    }
}

impl Observer {
    pub(crate) fn new(
        changes: impl Stream<Item = Result<Option<LeaderInfo>>> + Send + 'static,
    ) -> Self {
        Self {
            changes: Box::pin(changes),
        }
    }

    /// The next leader (the current one, first).
    ///
    /// # Errors
    ///
    /// 503 when the backend's watch broke or ended; observe again then.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn next(&mut self) -> Result<Option<LeaderInfo>> {
        match futures_util::StreamExt::next(&mut self.changes).await {
            Some(change) => change,
            None => Err(Error::unavailable("the leader observation ended").with_id(super::ID)),
        }
    }
}

impl Stream for Observer {
    type Item = Result<Option<LeaderInfo>>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.changes.as_mut().poll_next(cx)
    }
}
