//! Reloading: every trigger (a file event, an etcd change) re-reads all the
//! sources after a short quiet period, and a configuration that merges,
//! deserialises and validates replaces the current one; anything else is
//! logged once and the last good configuration stays.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, broadcast, mpsc, watch};

use super::sources::{Snapshot, Sources};
use crate::{Error, Result};

/// A callback run with each new configuration.
pub(crate) type Callback<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// The longest a burst of triggers delays a reload.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Reads the sources and hands new configurations out.
pub(crate) struct Reloader<T> {
    pub(crate) sources: Sources<T>,
    pub(crate) current: watch::Sender<Arc<T>>,
    pub(crate) rejected: broadcast::Sender<Error>,
    pub(crate) callbacks: Vec<Callback<T>>,
    /// The last good merge; held through a reload so reloads never overlap.
    pub(crate) last: Mutex<Snapshot>,
}

impl<T: DeserializeOwned + Send + Sync + 'static> Reloader<T> {
    /// Reads the sources now; returns whether the configuration changed.
    ///
    /// # Errors
    ///
    /// Why the new configuration was rejected (it is also logged and sent
    /// to the rejection subscribers); the last good one stays.
    pub(crate) async fn reload(&self) -> Result<bool> {
        let mut last = self.last.lock().await;
        match self.sources.load().await {
            Ok((value, snapshot)) => {
                if snapshot == *last {
                    return Ok(false);
                }
                *last = snapshot;
                for callback in &self.callbacks {
                    callback(&value);
                }
                self.current.send_replace(Arc::new(value));
                tracing::info!("configuration changed");
                Ok(true)
            }
            Err(err) => {
                tracing::warn!(error = %err.detail(), code = err.code(),
                    "configuration change rejected; keeping the last good configuration");
                let _ = self.rejected.send(err.clone());
                Err(err)
            }
        }
    }
}

/// Reloads after each burst of triggers: once `debounce` passed without a
/// new one (or [`MAX_DELAY`] after the first). Ends when every sender is gone.
pub(crate) async fn run<T: DeserializeOwned + Send + Sync + 'static>(
    reloader: Arc<Reloader<T>>,
    mut triggers: mpsc::UnboundedReceiver<()>,
    debounce: Duration,
) {
    while triggers.recv().await.is_some() {
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        loop {
            let quiet = (tokio::time::Instant::now() + debounce).min(deadline);
            match tokio::time::timeout_at(quiet, triggers.recv()).await {
                Ok(Some(())) => {}
                Ok(None) => return,
                Err(_) => break,
            }
        }
        let _ = reloader.reload().await;
    }
}

/// Follows the etcd tree at `path`: a trigger for each change, and one
/// each time the watch (re)starts, for changes made while it was down.
/// A broken watch is restarted, waiting longer after each failure (up to
/// 30 s); the first failure of a series is logged.
#[cfg(feature = "etcd")]
pub(crate) async fn follow_etcd(
    etcd: super::etcd::EtcdSource,
    path: String,
    triggers: mpsc::UnboundedSender<()>,
) {
    use futures_util::StreamExt;

    let mut backoff = Duration::from_millis(500);
    let mut logged = false;
    loop {
        match etcd.watch(&path).await {
            Ok(mut changes) => {
                if triggers.send(()).is_err() {
                    return;
                }
                backoff = Duration::from_millis(500);
                logged = false;
                while let Some(change) = changes.next().await {
                    match change {
                        Ok(_) => {
                            if triggers.send(()).is_err() {
                                return;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err.detail(), "config watch on etcd broke; restarting it");
                            logged = true;
                            break;
                        }
                    }
                }
            }
            Err(err) => {
                if !logged {
                    tracing::warn!(error = %err.detail(), "cannot watch the config in etcd; retrying");
                    logged = true;
                }
            }
        }
        if triggers.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
