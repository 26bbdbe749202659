//! [`Config`]: the current configuration, its changes and its rejections.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;

use super::builder::ConfigBuilder;
use super::reload::Reloader;
use crate::{Error, Result};

/// A typed configuration that follows its sources. Clones share it; the
/// following stops when the last clone is dropped.
pub struct Config<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) struct Shared<T> {
    pub(crate) receiver: watch::Receiver<Arc<T>>,
    pub(crate) reloader: Arc<Reloader<T>>,
    pub(crate) tasks: Vec<AbortHandle>,
    pub(crate) _file_watcher: Option<notify::RecommendedWatcher>,
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Config<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Config<T> {
    /// A builder with no sources.
    pub fn builder() -> ConfigBuilder<T> {
        ConfigBuilder::new()
    }

    pub(crate) fn new(shared: Shared<T>) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The current configuration.
    pub fn get(&self) -> Arc<T> {
        self.shared.receiver.borrow().clone()
    }

    /// A receiver of every new configuration (`changed().await`, then
    /// `borrow()`); it sees the current one as already seen.
    pub fn watch(&self) -> watch::Receiver<Arc<T>> {
        let mut receiver = self.shared.receiver.clone();
        receiver.mark_unchanged();
        receiver
    }

    /// A receiver of the errors of rejected changes (the last good
    /// configuration stayed), e.g. for a health check or a metric.
    pub fn rejections(&self) -> broadcast::Receiver<Error> {
        self.shared.reloader.rejected.subscribe()
    }

    /// Re-reads every source now (say, after the environment changed);
    /// returns whether the configuration changed.
    ///
    /// # Errors
    ///
    /// Why the new configuration was rejected; the last good one stays.
    pub async fn reload(&self) -> Result<bool> {
        self.shared.reloader.reload().await
    }
}
