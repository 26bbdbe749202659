use tokio::sync::mpsc;

use super::Event;
use crate::{Error, Result};

/// A stream of registry changes. Dropping it stops the watch.
#[derive(Debug)]
pub struct Watcher {
    rx: mpsc::Receiver<Result<Event>>,
}

impl Watcher {
    /// A watcher and the sender a backend feeds it through.
    pub fn channel(capacity: usize) -> (mpsc::Sender<Result<Event>>, Self) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, Self { rx })
    }

    /// The next change.
    ///
    /// # Errors
    ///
    /// The backend's error when the watch broke, 503 when it ended.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn next(&mut self) -> Result<Event> {
        match self.rx.recv().await {
            Some(event) => event,
            None => Err(Error::unavailable("registry watch ended").with_id("micro.registry")),
        }
    }
}

impl futures_core::Stream for Watcher {
    type Item = Result<Event>;

    /// The next change; the stream ends when the watch does.
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Event>>> {
        self.rx.poll_recv(cx)
    }
}
